"""The batched backend: an engine for the server round that trains the round's clients at once.

:class:`BatchedBackend` is a callable ``(model, clients, rnd, *, remote) -> [result per
client]``, the engine contract of the server step: it trains the selected clients with
:class:`~fedsyft.fl.batched.engine.BatchedEngine` (seeded as the workers path seeds them,
``client_seed(seed, rnd, i)``) and returns what the workers path returns for each client
(``client``, ``num_samples``, ``loss``, ``steps``, ``state``, SCAFFOLD's ``control_delta``).

What it is, honestly: a simulation of the same math. The clients' data stay at their
workers (the backend reads each shard in place, once, without ``get()``), but all clients
train inside one program, so no model travels and no traffic is counted. Each result
carries ``bytes_down``/``bytes_up``: the bytes the workers path *would* have sent (the
model's tensors to the client and back, plus SCAFFOLD's control variates), marked
``bytes_computed=True``. With an aggregator that keeps updates at the clients
(``remote=True``: secure aggregation, CKKS) each client's update is placed at its worker
before aggregation, so those aggregators receive per-client updates exactly as before.

:func:`choose_backend` is ``backend="auto"``: it picks the workers path where the batched
one would not be faster (a model ``torch.func`` cannot run; on the CPU, a short timed probe
of both) and says which it picked and why.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ...workers import ObjectPointer, nbytes_of
from ..client import ClientConfig, local_train
from ..config import client_seed
from .engine import BatchedEngine, Controls, DataPool, NotBatchableError

BACKENDS = ("workers", "batched", "auto")


def shard_tensors(shard: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A shard's ``(data, targets)``: a pair as it is, or a worker shard's tensors read in
    place at its worker (no ``get()``, no traffic: the batched backend simulates the clients
    in the same process)."""
    if isinstance(shard, (tuple, list)) and len(shard) == 2:
        return shard[0], shard[1]
    worker = getattr(shard, "worker", None)
    if worker is None:
        raise TypeError(f"A shard must be a (data, targets) pair or a WorkerShard, got {type(shard).__name__}.")
    return worker.get_obj(shard.data.id_at_location), worker.get_obj(shard.targets.id_at_location)


def _shard_id(shard: Any, index: int) -> str:
    worker = getattr(shard, "worker", None)
    return str(worker.id) if worker is not None else f"client{index}"


class BatchedBackend:
    """Train the selected clients of a round in one ``torch.func`` program.

    Parameters
    ----------
    model: the global model (its architecture; values are read at every call).
    shards: one per client: a ``WorkerShard`` (``FederatedDataset``) or a ``(data, targets)`` pair.
    config: the run's :class:`~fedsyft.fl.FLConfig` (algorithm, mu, client settings, seed).
    controls: SCAFFOLD only: ``controls(clients) -> (c_global, [c_i per client])``.
    max_parallel, device, capture, compile: see :class:`~fedsyft.fl.batched.engine.BatchedEngine`
        (``compile=True`` is the fastest CPU setting for long runs).
    seed_fn: ``seed_fn(seed, rnd, client) -> int``, the client seed (default: the loop's
        ``client_seed``).

    Raises
    ------
    NotBatchableError: at the first call, if the model cannot run under ``torch.func``.

    Example
    -------
    >>> from fedsyft.fl import FLConfig, ClientConfig
    >>> m = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    >>> shards = [(torch.randn(6, 4), torch.randint(0, 2, (6,))) for _ in range(3)]
    >>> backend = BatchedBackend(m, shards, FLConfig(client=ClientConfig(batch_size=3)))
    >>> out = backend(m, [0, 2], 1, remote=False)
    >>> [(r["client"], r["steps"], r["bytes_computed"]) for r in out]
    [('client0', 2, True), ('client2', 2, True)]
    """

    def __init__(self, model: nn.Module, shards: Sequence[Any], config, *,
                 controls: Callable[[Sequence[int]], Controls] | None = None,
                 max_parallel: int | None = None, device: torch.device | str | None = None,
                 capture: bool | None = None, compile: bool = False,
                 seed_fn: Callable[[int, int, int], int] | None = None) -> None:
        if config.algorithm == "scaffold" and controls is None:
            raise ValueError("SCAFFOLD needs controls=callable(clients) -> (c_global, [c_i per client]).")
        self.config, self.controls = config, controls
        self.seed_fn = client_seed if seed_fn is None else seed_fn
        self.shards = list(shards)
        self.ids = [_shard_id(s, i) for i, s in enumerate(self.shards)]
        self.workers = [getattr(s, "worker", None) for s in self.shards]
        device = device if device is not None else next(model.parameters()).device
        self.pool = DataPool([shard_tensors(s) for s in self.shards], device=device)
        self.engine = BatchedEngine(model, config.client,
                                    prox_mu=config.mu if config.algorithm == "fedprox" else 0.0,
                                    scaffold=config.algorithm == "scaffold", max_parallel=max_parallel,
                                    device=device, capture=capture, compile=compile)
        state = model.state_dict()
        self._model_bytes = nbytes_of(list(state.values()))  # send_module/get_module count tensors
        self.bytes_computed = [0, 0]  # cumulative (down to the clients, up from them)

    def check(self, model: nn.Module) -> None:
        """Raise :class:`NotBatchableError` now (not at the first round) if the model cannot be
        trained by the batched engine."""
        rows = torch.arange(min(len(self.pool.targets), max(2, min(self.config.client.batch_size, 4))),
                            device=self.pool.device)
        self.engine.probe(model, self.pool.data[rows], self.pool.targets[rows])

    def __call__(self, model: nn.Module, clients: Sequence[int], rnd: int, *, remote: bool = False
                 ) -> list[dict[str, Any]]:
        clients = [int(c) for c in clients]
        seeds = [self.seed_fn(self.config.seed, rnd, c) for c in clients]
        controls = (self.controls(clients)
                    if self.config.algorithm == "scaffold" and self.controls is not None else None)
        results = self.engine.train(model, self.pool, clients=clients, seeds=seeds, controls=controls)
        start = {k: v.detach() for k, v in model.state_dict().items()}
        for row, (r, c) in enumerate(zip(results, clients)):
            # What the workers path counts: the model's tensors each way, the command's plain
            # arguments (SCAFFOLD's controls) down, and the statistics dict up.
            stats = {k: r[k] for k in ("num_samples", "loss", "steps", "control_delta") if k in r}
            ctrl = 0 if controls is None else nbytes_of((controls[0], controls[1][row]))
            r["bytes_down"] = self._model_bytes + ctrl
            r["bytes_up"] = self._model_bytes + nbytes_of(stats)
            r["client"] = self.ids[c]
            r["bytes_computed"] = True
            self.bytes_computed[0] += r["bytes_down"]
            self.bytes_computed[1] += r["bytes_up"]
            if remote:
                self._deposit(r, c, start)
        return results

    def _deposit(self, result: dict[str, Any], client: int, start: dict[str, torch.Tensor]) -> None:
        """Place the client's update at its worker (the remote aggregators' input)."""
        worker = self.workers[client]
        if worker is None:
            raise ValueError("This aggregator keeps updates at the clients (remote_updates), which needs "
                             "clients at workers: pass a FederatedDataset, not (data, targets) pairs.")
        state = result.pop("state")
        update = {k: state[k] - start[k] for k, v in start.items() if torch.is_floating_point(v)}
        result["update"] = ObjectPointer(worker, worker.register_obj(update))
        result["finite"] = all(bool(torch.isfinite(v).all()) for v in update.values())
        result["state"] = {k: v for k, v in state.items() if not torch.is_floating_point(v)}


def choose_backend(model: nn.Module, shards: Sequence[Any], config: ClientConfig, *,
                   device: torch.device | str | None = None, probe_clients: int = 8,
                   probe_steps: int = 4, repeats: int = 3, margin: float = 1.1) -> tuple[str, str]:
    """``backend="auto"``: ``("batched" | "workers", reason)``.

    - the model cannot run under ``torch.func``: workers (the reason says why);
    - CUDA: batched (one captured program instead of K small ones);
    - otherwise a probe: ``probe_clients`` clients x ``probe_steps`` steps trained both ways,
      interleaved, ``repeats`` times; batched only if its median CPU time is at least
      ``margin`` times smaller, so that ``auto`` is not slower than workers.

    Example
    -------
    >>> m = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    >>> shards = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(2)]
    >>> choose_backend(m, shards, ClientConfig(batch_size=4))[0] in ("batched", "workers")
    True
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    chosen = list(range(min(probe_clients, len(shards))))
    datasets = [shard_tensors(shards[i]) for i in chosen]
    datasets = [(d.to(device), t.to(device)) for d, t in datasets]
    probe_cfg = ClientConfig(**{**config.as_dict(), "max_steps": probe_steps, "epochs": 1})
    engine = BatchedEngine(model, probe_cfg, device=device)
    pool = DataPool(datasets, device=device)
    seeds = list(range(len(chosen)))
    try:
        engine.train(model, pool, seeds=seeds)  # also the warm-up
    except NotBatchableError as exc:
        return "workers", f"workers: {exc}"
    if device.type == "cuda":
        return "batched", "batched: CUDA device (the clients' steps run as one captured program)"

    def sequential() -> None:
        for (d, t), s in zip(datasets, seeds):
            local_train(copy.deepcopy(model), d, t, probe_cfg, seed=s)

    times: dict[str, list[float]] = {"workers": [], "batched": []}
    for r in range(repeats):
        for side in (("workers", "batched") if r % 2 == 0 else ("batched", "workers")):
            t0 = time.process_time()
            sequential() if side == "workers" else engine.train(model, pool, seeds=seeds)
            times[side].append(time.process_time() - t0)
    ratio = statistics.median(times["workers"]) / max(statistics.median(times["batched"]), 1e-9)
    what = (f"probe of {len(chosen)} clients x {probe_steps} steps on {device.type}, B={config.batch_size}: "
            f"batched {ratio:.2f}x the speed of sequential training")
    if ratio >= margin:
        return "batched", f"batched: {what}"
    return "workers", f"workers: {what} (needs >= {margin:.1f}x)"
