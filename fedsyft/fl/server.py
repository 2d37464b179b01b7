"""One server step of federated learning, shared by every engine.

:func:`server_round` does what the server does in one round, whatever runs the clients:

1. sample the round's clients (seeded by ``(seed, round)``, see :func:`sample_clients`);
2. keep a copy of the global state;
3. ask the **engine** to train the selected clients and hand back their results;
4. reject non-finite updates (the round goes on without them and its record names them);
5. normalise the weights of the remaining clients (``n_k / n`` or uniform);
6. aggregate: :meth:`Aggregator.__call__ <fedsyft.fl.aggregator.Aggregator.__call__>` on the
   updates ``client_state - global_state``, or
   :meth:`~fedsyft.fl.aggregator.Aggregator.aggregate_remote` on pointers to updates kept at
   the clients when the aggregator declares ``remote_updates``;
7. apply the update with ``server_lr``; integer buffers take the largest client value;
8. check the new global model is finite (else :class:`DivergedError`, the model unchanged);
9. load it, evaluate it, and return the round's :class:`~fedsyft.fl.RoundRecord`.

The engine
----------
An engine is any callable ``train_clients(model, clients, rnd, *, remote)`` (the
:class:`TrainClients` protocol): given the global model (read it, do not change it), the
selected client indices and the round number, it trains those clients and returns one result
dict per client, in the order of ``clients``:

- ``"client"``: the client's id (a string: worker id, datasite name, ...);
- ``"num_samples"``: its number of training samples (the FedAvg weight);
- ``"loss"``: its mean training loss;
- ``"state"``: its trained ``state_dict`` when ``remote`` is false; with ``remote``, only its
  integer buffers (e.g. ``num_batches_tracked``), or nothing;
- ``"update"`` (with ``remote``): a pointer to its update ``trained - start``, kept at the client;
- ``"finite"`` (with ``remote``): whether that update is finite, checked at the client (the one
  bit about it the server learns besides the aggregate);
- ``"control_delta"`` (optional, SCAFFOLD): the change of the client's control variate;
- ``"bytes_up"``, ``"bytes_down"`` (optional): this client's traffic, used when no ``meter``
  is given.

Extra keys are allowed and kept (``"steps"``, ``"seconds"``, ...). Client ``i`` is expected to
train with seed :func:`client_seed(seed, rnd, i) <client_seed>` so that engines agree.
``remote`` is the aggregator's ``remote_updates``: an engine that cannot keep updates at the
clients must raise when it is true rather than return trained states.

Example
-------
>>> import copy
>>> import torch
>>> from torch import nn
>>> from fedsyft.fl import ClientConfig, FLConfig, WeightedMean, local_train
>>> data = [(torch.randn(20, 4), torch.randint(0, 2, (20,))) for _ in range(3)]
>>> def train_clients(model, clients, rnd, *, remote):
...     out = []
...     for i in clients:
...         local = copy.deepcopy(model)
...         stats = local_train(local, *data[i], cfg.client, seed=client_seed(cfg.seed, rnd, i))
...         out.append({**stats, "client": f"c{i}", "state": local.state_dict()})
...     return out
>>> cfg = FLConfig(rounds=1, num_selected=2, client=ClientConfig(batch_size=5))
>>> model = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))
>>> rec, results = server_round(model, train_clients, rnd=1, num_clients=3, config=cfg,
...                             aggregator=WeightedMean())
>>> rec.clients == [f"c{i}" for i in sample_clients(3, 2, seed=0, rnd=1)], len(results)
(True, 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from .aggregate import apply_update, float_keys, max_counters, normalize_weights, state_delta
from .aggregator import Aggregator
from .config import FLConfig, client_seed, sample_clients
from .evaluate import evaluate
from .history import RoundRecord

__all__ = ["TrainClients", "DivergedError", "server_round", "client_seed", "sample_clients"]


class DivergedError(RuntimeError):
    """Training produced a non-finite global model (or only non-finite client updates)."""


class TrainClients(Protocol):
    """An engine: trains the selected clients of a round and returns their results."""

    def __call__(self, model: nn.Module, clients: Sequence[int], rnd: int, *,
                 remote: bool) -> Sequence[Mapping[str, Any]]: ...


def _finite(update: Mapping[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in update.values())


def _likely_causes(config: FLConfig) -> str:
    c = config.client
    causes = [f"the client learning rate lr={c.lr}"]
    if c.weight_decay:
        causes.append(f"weight_decay={c.weight_decay}")
    if c.momentum:
        causes.append(f"momentum={c.momentum}")
    if config.algorithm == "fedprox":
        causes.append(f"the proximal weight mu={config.mu}")
    if config.server_lr != 1.0:
        causes.append(f"server_lr={config.server_lr}")
    return ("Likely cause: " + ", ".join(causes) + " too large for this model (lower it), or "
            "non-finite values in the data.")


def server_round(model: nn.Module, train_clients: TrainClients, *, rnd: int, num_clients: int,
                 config: FLConfig, aggregator: Aggregator,
                 test: tuple[torch.Tensor, torch.Tensor] | None = None,
                 meter: Callable[[], tuple[int, int]] | None = None,
                 ) -> tuple[RoundRecord, list[Mapping[str, Any]]]:
    """One round of the server: sample, train (by the engine), aggregate, apply, evaluate.

    Parameters
    ----------
    model: the global model; updated in place (unless the round fails).
    train_clients: the engine (see the module docstring).
    rnd: the round number (1-based; seeds client sampling and local training).
    num_clients: how many clients the engine can train (indices ``0 .. num_clients - 1``).
    config: rounds, ``num_selected``, weighting, ``server_lr``, seed.
    aggregator: an :class:`~fedsyft.fl.aggregator.Aggregator`.
    test: ``(data, targets)`` on the model's device, to evaluate on (``None``: the record's
        accuracy and loss are NaN).
    meter: returns the cumulative ``(bytes received by, bytes sent by)`` the clients; read
        before and after the round. ``None``: the results' ``bytes_down``/``bytes_up`` add up.

    Returns
    -------
    The round's :class:`~fedsyft.fl.RoundRecord` and the accepted clients' results (for
    engine state such as SCAFFOLD's control variates). ``record.extra`` holds the
    aggregator's ``last_round_info`` and, when some were rejected, ``"rejected_clients"``.

    Raises
    ------
    DivergedError: every client's update was non-finite, or the new global model is not
        finite; the model is left as it was before the round.
    """
    if not isinstance(aggregator, Aggregator):
        raise TypeError(f"aggregator must be a fedsyft.fl.Aggregator (see fedsyft.fl.as_aggregator), "
                        f"got {type(aggregator).__name__}.")
    t0 = time.perf_counter()
    before = meter() if meter is not None else (0, 0)
    chosen = sample_clients(num_clients, config.num_selected, seed=config.seed, rnd=rnd)
    global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    remote = aggregator.remote_updates
    results = list(train_clients(model, chosen, rnd, remote=remote))
    if len(results) != len(chosen):
        raise ValueError(f"The engine returned {len(results)} results for {len(chosen)} selected clients.")

    accepted: list[Mapping[str, Any]] = []
    updates: list[dict[str, torch.Tensor]] = []
    rejected: list[str] = []
    for r in results:
        if remote:
            if "update" not in r or "finite" not in r:
                raise ValueError(
                    f"{type(aggregator).__name__} keeps updates at the clients (remote_updates = True), "
                    f"but the engine returned no 'update' pointer and 'finite' flag for client "
                    f"{r.get('client')!r}: this engine cannot run it; use an aggregator with "
                    f"remote_updates = False.")
            ok = bool(r["finite"])
        else:
            update = state_delta(r["state"], global_state)
            ok = _finite(update)
            if ok:
                updates.append(update)
        if ok:
            accepted.append(r)
        else:
            rejected.append(str(r["client"]))
    if not accepted:
        raise DivergedError(
            f"Round {rnd}: every client update was non-finite (NaN or inf) and was rejected "
            f"({', '.join(rejected)}); nothing is left to aggregate. {_likely_causes(config)}")

    weights = normalize_weights([r["num_samples"] for r in accepted], config.weighting)
    clients = [str(r["client"]) for r in accepted]
    if remote:
        template = {k: global_state[k] for k in float_keys(global_state)}
        agg = aggregator.aggregate_remote([r["update"] for r in accepted], weights, template=template,
                                          round=rnd, clients=clients)
    else:
        agg = aggregator(updates, weights, round=rnd, clients=clients)
    new_state = apply_update(global_state, agg, server_lr=config.server_lr)
    new_state.update(max_counters([r.get("state") or {} for r in accepted]))  # integer buffers
    bad = [k for k in float_keys(new_state) if not bool(torch.isfinite(new_state[k]).all())]
    if bad:
        raise DivergedError(
            f"Round {rnd}: the new global model is not finite (NaN or inf in {', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}); the model is left as it was after round {rnd - 1}. "
            f"{_likely_causes(config)}")
    model.load_state_dict(new_state)

    acc, loss = (float("nan"), float("nan")) if test is None else evaluate(model, *test)
    after = meter() if meter is not None else (0, 0)
    if meter is not None:
        bytes_down, bytes_up = after[0] - before[0], after[1] - before[1]
    else:
        bytes_down = sum(int(r.get("bytes_down", 0)) for r in results)
        bytes_up = sum(int(r.get("bytes_up", 0)) for r in results)
    train_loss = float(sum(w * r["loss"] for w, r in zip(weights, accepted)))
    extra = dict(aggregator.last_round_info)
    if rejected:
        extra["rejected_clients"] = rejected
    rec = RoundRecord(rnd, acc, loss, train_loss, clients, bytes_up=bytes_up, bytes_down=bytes_down,
                      seconds=time.perf_counter() - t0, extra=extra)
    return rec, accepted
