"""Federated training: local updates at the workers, aggregation, the server step, the round loop.

=====================  ===============================================================
``local_train``        what runs at a client, on its own data (``ClientConfig``)
``Aggregator``         the aggregator contract; ``WeightedMean`` is FedAvg
``server_round``       one server step (sample, aggregate, apply, evaluate), every engine
``FederatedTrainer``   the virtual-workers engine and its round loop (``FLConfig``)
``History``            what a run records, round by round
=====================  ===============================================================
"""

from ._checks import ConfigTypeError
from .aggregate import (
    WeightedMean,
    apply_update,
    as_aggregator,
    fedavg,
    normalize_weights,
    numpy_to_state,
    state_delta,
    state_to_numpy,
    weighted_mean,
)
from .aggregator import Aggregator, FunctionAggregator
from .centralized import train_centralized
from .checkpoint import CheckpointError
from .client import ClientConfig, local_train, make_optimizer
from .config import ALGORITHMS, FLConfig, client_seed, sample_clients
from .evaluate import evaluate
from .history import History, RoundRecord, plot_accuracy
from .loop import FederatedTrainer
from .server import DivergedError, TrainClients, server_round

__all__ = [
    "ClientConfig", "local_train", "make_optimizer", "fedavg", "weighted_mean", "WeightedMean",
    "normalize_weights", "state_delta", "apply_update", "state_to_numpy", "numpy_to_state",
    "evaluate", "History", "RoundRecord", "plot_accuracy", "FLConfig", "FederatedTrainer",
    "sample_clients", "client_seed", "ALGORITHMS", "train_centralized",
    "Aggregator", "FunctionAggregator", "as_aggregator", "server_round", "TrainClients",
    "DivergedError", "ConfigTypeError", "CheckpointError",
]
