"""Federated training: local updates at the workers, aggregation, the round loop, history."""

from .aggregate import (
    WeightedMean,
    apply_update,
    fedavg,
    normalize_weights,
    numpy_to_state,
    state_delta,
    state_to_numpy,
    weighted_mean,
)
from .centralized import train_centralized
from .client import ClientConfig, local_train, make_optimizer
from .evaluate import evaluate
from .history import History, RoundRecord, plot_accuracy
from .loop import ALGORITHMS, FederatedTrainer, FLConfig, client_seed, sample_clients

__all__ = [
    "ClientConfig", "local_train", "make_optimizer", "fedavg", "weighted_mean", "WeightedMean",
    "normalize_weights", "state_delta", "apply_update", "state_to_numpy", "numpy_to_state",
    "evaluate", "History", "RoundRecord", "plot_accuracy", "FLConfig", "FederatedTrainer",
    "sample_clients", "client_seed", "ALGORITHMS", "train_centralized",
]
