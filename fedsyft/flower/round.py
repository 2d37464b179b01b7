"""The server's side of one Flower round goes through fedsyft's one server step (no flwr here).

:func:`aggregate_round` hands the clients' trained states, as they came back in Flower's
replies, to :func:`fedsyft.fl.server_round`, the server step every fedsyft engine uses
(weights from the sample counts, updates ``trained - global``, the aggregator's weighted mean
in float64, ``global + server_lr * update``, the largest integer counters, the finiteness
checks, evaluation and the :class:`~fedsyft.fl.RoundRecord`). The clients were sampled with the
same :func:`~fedsyft.fl.sample_clients` before their messages went out, so the step is given
exactly those clients; with the same seeds the result is bit-identical to fedsyft's own loop.

:func:`train_client` is the client's side: :func:`~fedsyft.fl.local_train` on the client's
shard, seeded with :func:`~fedsyft.fl.client_seed`, exactly as the virtual workers run it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..fl import (
    Aggregator,
    FLConfig,
    RoundRecord,
    WeightedMean,
    client_seed,
    local_train,
    server_round,
)
from .task import FlowerTask


@dataclass
class ClientResult:
    """What one client sends back: its trained state and its statistics."""

    client: int
    state: dict[str, torch.Tensor]
    num_samples: int
    loss: float
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. bytes_up, bytes_down


def aggregate_round(model: nn.Module, results: Sequence[ClientResult], *, rnd: int, config: FLConfig,
                    aggregator: Aggregator | None = None,
                    test: tuple[torch.Tensor, torch.Tensor] | None = None,
                    ) -> tuple[RoundRecord, list[Mapping[str, Any]]]:
    """Run :func:`fedsyft.fl.server_round` on clients that have already trained.

    Parameters
    ----------
    model: the global model the clients started from; updated in place.
    results: the clients that answered this round (any order: they are aggregated in
        increasing client index, as fedsyft's loop does).
    rnd: the round number.
    config: the run's :class:`~fedsyft.fl.FLConfig` (weighting, ``server_lr``).
    aggregator: an :class:`~fedsyft.fl.Aggregator` that receives the updates (default FedAvg's
        :class:`~fedsyft.fl.WeightedMean`). One that keeps updates at the clients
        (``remote_updates``) cannot run on Flower, whose ClientApps send trained states back.
    test: ``(data, targets)`` to evaluate the new global model on.

    Returns
    -------
    The round's :class:`~fedsyft.fl.RoundRecord` and the accepted clients' results.

    Example
    -------
    >>> m = nn.Sequential(nn.Linear(2, 1))
    >>> g = {k: v.clone() for k, v in m.state_dict().items()}
    >>> rs = [ClientResult(1, {k: v + 4 for k, v in g.items()}, 3, 0.5),
    ...       ClientResult(0, {k: v + 1 for k, v in g.items()}, 1, 0.7)]
    >>> rec, _ = aggregate_round(m, rs, rnd=1, config=FLConfig(rounds=1))
    >>> torch.allclose(m.state_dict()["0.bias"], g["0.bias"] + 3.25), rec.clients
    (True, ['client0', 'client1'])
    """
    if not results:
        raise ValueError("No client results to aggregate: every selected client was lost this round.")
    ordered = [{**r.extra, "client": f"client{r.client}", "num_samples": r.num_samples, "loss": r.loss,
                "steps": r.steps, "state": r.state} for r in sorted(results, key=lambda r: r.client)]

    def answered(model: nn.Module, clients: Sequence[int], rnd: int, *, remote: bool):
        """The engine of this step: the clients have trained already; hand back their results."""
        if remote:
            raise ValueError("This aggregator keeps updates at the clients (remote_updates = True), but "
                             "Flower's ClientApps send their trained states to the ServerApp; use an "
                             "aggregator with remote_updates = False on Flower.")
        return [ordered[i] for i in clients]

    # The clients were sampled when the round's messages went out; here the step takes them all.
    return server_round(model, answered, rnd=rnd, num_clients=len(ordered),
                        config=dataclasses.replace(config, num_selected=None),
                        aggregator=aggregator or WeightedMean(), test=test)


def train_client(task: FlowerTask, partition_id: int, rnd: int, state: Mapping[str, torch.Tensor]) -> ClientResult:
    """Client ``partition_id`` trains the global ``state`` on its shard for round ``rnd``."""
    cfg = task.config
    data, targets = task.client_data(partition_id)
    model = task.build_model()
    model.load_state_dict(state)
    kwargs: dict[str, Any] = {"seed": client_seed(cfg.seed, rnd, int(partition_id))}
    if cfg.algorithm == "fedprox":
        kwargs["prox_mu"] = cfg.mu
    stats = local_train(model, data, targets, cfg.client, **kwargs)
    return ClientResult(int(partition_id), {k: v.detach() for k, v in model.state_dict().items()},
                        int(stats["num_samples"]), float(stats["loss"]), int(stats["steps"]))
