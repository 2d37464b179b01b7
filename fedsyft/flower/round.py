"""The server's side of one Flower round, in fedsyft's own arithmetic (no flwr here).

:func:`aggregate_round` is the one place where the Flower bridge turns the clients' trained
states into the next global state. It does what :class:`~fedsyft.fl.FederatedTrainer` does
after its clients come back: weights from the sample counts (:func:`normalize_weights`),
updates ``trained - global`` (:func:`state_delta`), their weighted mean in float64
(:class:`~fedsyft.fl.WeightedMean`), ``global + server_lr * update`` (:func:`apply_update`),
and the largest value of integer counters (:func:`max_counters`). With the same seeds, the
same clients and the same order, the result is bit-identical to fedsyft's own loop.
When fedsyft's shared server step lands in ``fedsyft.fl``, this function calls it.

:func:`train_client` is the client's side: :func:`~fedsyft.fl.local_train` on the client's
shard, seeded with :func:`~fedsyft.fl.client_seed`, exactly as the virtual workers run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..fl import (
    WeightedMean,
    apply_update,
    client_seed,
    local_train,
    normalize_weights,
    state_delta,
)
from ..fl.aggregate import float_keys, max_counters
from .task import FlowerTask


@dataclass
class ClientResult:
    """What one client sends back: its trained state and its statistics."""

    client: int
    state: dict[str, torch.Tensor]
    num_samples: int
    loss: float
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def aggregate_round(global_state: Mapping[str, torch.Tensor], results: Sequence[ClientResult], *,
                    weighting: str = "samples", server_lr: float = 1.0,
                    aggregator: Callable[..., dict[str, torch.Tensor]] | None = None,
                    round: int = 0) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The next global state from the clients' trained states, and the weights used.

    Parameters
    ----------
    global_state: the state the clients started from.
    results: the clients' results, in the order they are aggregated (fedsyft's loop uses
        increasing client index; so does the Flower bridge).
    weighting: ``"samples"`` (FedAvg: ``n_k / n``) or ``"uniform"``.
    server_lr: the server step on the aggregated update.
    aggregator: called as ``aggregator(updates, weights, round=..., clients=...)``; default
        :class:`~fedsyft.fl.WeightedMean`.

    Example
    -------
    >>> g = {"w": torch.zeros(2), "n": torch.tensor(0)}
    >>> rs = [ClientResult(0, {"w": torch.ones(2), "n": torch.tensor(3)}, 1, 0.0),
    ...       ClientResult(1, {"w": torch.full((2,), 4.0), "n": torch.tensor(5)}, 3, 0.0)]
    >>> new, weights = aggregate_round(g, rs)
    >>> new["w"].tolist(), int(new["n"]), weights
    ([3.25, 3.25], 5, [0.25, 0.75])
    """
    if not results:
        raise ValueError("No client results to aggregate: every selected client was lost this round.")
    weights = normalize_weights([r.num_samples for r in results], weighting)
    floats = {k: global_state[k] for k in float_keys(global_state)}
    updates = [state_delta(r.state, floats) for r in results]
    agg = (aggregator or WeightedMean())(updates, weights, round=round, clients=[f"client{r.client}" for r in results])
    new_state = apply_update(global_state, agg, server_lr=server_lr)
    new_state.update(max_counters([r.state for r in results]))  # integer buffers
    return new_state, weights


def train_client(task: FlowerTask, partition_id: int, server_round: int,
                 state: Mapping[str, torch.Tensor]) -> ClientResult:
    """Client ``partition_id`` trains the global ``state`` on its shard for round ``server_round``."""
    cfg = task.config
    data, targets = task.client_data(partition_id)
    model = task.build_model()
    model.load_state_dict(state)
    kwargs: dict[str, Any] = {"seed": client_seed(cfg.seed, server_round, int(partition_id))}
    if cfg.algorithm == "fedprox":
        kwargs["prox_mu"] = cfg.mu
    stats = local_train(model, data, targets, cfg.client, **kwargs)
    return ClientResult(int(partition_id), {k: v.detach() for k, v in model.state_dict().items()},
                        int(stats["num_samples"]), float(stats["loss"]), int(stats["steps"]))
