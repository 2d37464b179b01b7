"""The federated round loop: sample clients, send the model to their data, train there,
get it back, aggregate, evaluate, checkpoint.

Every random choice is derived from ``(seed, round, client)``: client sampling uses
``numpy.random.default_rng([seed, round])`` and local training is seeded with
``seed * 1_000_003 + round * 1_009 + client``. A run stopped after round r and resumed
from its checkpoint therefore ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.federated import FederatedDataset, WorkerShard
from ..device import resolve_device
from ..workers import (
    BaseWorker,
    PointerTensor,
    copy_module,
    discard_module,
    get_module,
    send_module,
)
from .aggregate import as_aggregator, state_delta
from .aggregator import Aggregator
from .batched.backend import BACKENDS, BatchedBackend, choose_backend
from .batched.engine import NotBatchableError
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .client import local_train
from .config import ALGORITHMS, FLConfig, client_seed, sample_clients
from .history import History, RoundRecord
from .server import DivergedError, server_round

__all__ = ["ALGORITHMS", "FLConfig", "FederatedTrainer", "client_seed", "sample_clients", "DivergedError"]


def _float_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Runs at the worker: a copy of the float entries of the model's state."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if torch.is_floating_point(v)}


def _update_at_worker(model: nn.Module, start: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Runs at the worker: the client's update ``trained - start`` over float entries."""
    return state_delta(model.state_dict(), start)


def _counters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Runs at the worker: the integer buffers (e.g. batch norm's num_batches_tracked)."""
    return {k: v.clone() for k, v in model.state_dict().items() if not torch.is_floating_point(v)}


CHECKPOINT_KEYS = ("round", "model", "config", "history", "c_global", "c_clients", "aggregator")


def _device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) are; the CPU for a model without any."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _shard_on(shard: WorkerShard, device: torch.device) -> WorkerShard:
    """The shard with its data and targets moved to ``device`` *at its worker*, once (they
    stay private there if they were); the CPU needs no move."""
    if device.type == "cpu":
        return shard
    moved: list[PointerTensor] = []
    for ptr in (shard.data, shard.targets):
        new = cast(PointerTensor, ptr.to(device))  # runs at the worker: a pointer to the copy
        if ptr.is_private:  # keep the worker's copy on the device as private as the original
            w = shard.worker
            w.register_obj(w.rm_obj(new.id_at_location), private=True, obj_id=new.id_at_location)
        moved.append(new)
    return WorkerShard(shard.worker, moved[0], moved[1], shard.indices)


def _test_tensors(test_set: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(data, targets)`` of a test set given as a dataset with ``.data``/``.targets`` or a pair."""
    if isinstance(test_set, tuple) and len(test_set) == 2:
        data, targets = test_set
    else:
        data, targets = getattr(test_set, "data", None), getattr(test_set, "targets", None)
    if not (isinstance(data, torch.Tensor) and isinstance(targets, torch.Tensor)):
        raise TypeError(f"test_set must be a dataset with .data and .targets tensors (fedsyft's MNIST, "
                        f"CIFAR10, ...) or a (data, targets) pair of tensors; got {type(test_set).__name__}.")
    return data, targets


def _is_finite(update: dict[str, torch.Tensor]) -> bool:
    """Runs at the worker: whether its update is finite (the one bit the server learns)."""
    return all(bool(torch.isfinite(v).all()) for v in update.values())


def _traffic(workers: Sequence[BaseWorker]) -> tuple[int, int]:
    """``(bytes received, bytes sent)`` by ``workers`` so far."""
    return sum(w.traffic.bytes_in for w in workers), sum(w.traffic.bytes_out for w in workers)


class FederatedTrainer:
    """Runs federated rounds over the workers of a :class:`FederatedDataset`.

    The *virtual-workers engine*: each selected client gets a copy of the global model sent to
    its worker, trains it there with ``local_train_fn``, and hands it back (or, with an
    aggregator that keeps updates at the clients, a pointer to its update). The server side
    of every round is :func:`fedsyft.fl.server.server_round`.

    Parameters
    ----------
    model: the global model (kept local; copies travel to the clients).
    federated_dataset: the clients' data, already at their workers.
    test_set: a dataset with ``.data``/``.targets`` (or a ``(data, targets)`` pair).
    config: see :class:`FLConfig`.
    aggregator: combines client updates, an :class:`~fedsyft.fl.aggregator.Aggregator`
        (a plain function ``fn(updates, weights, *, round, clients)`` is wrapped); default
        :class:`~fedsyft.fl.aggregate.WeightedMean` (FedAvg). Secure aggregation, DP-FedAvg
        and CKKS plug in here. An aggregator with ``remote_updates = True`` never lets the
        trained models leave the clients: each update is computed and kept at its worker, and
        ``aggregator.aggregate_remote(update_pointers, weights, template=..., round=...,
        clients=...)`` receives pointers to them.
    checkpoint_dir: if given, ``checkpoint.pt`` is written there after every round.
    progress: show a tqdm progress bar and print accuracy per round.
    local_train_fn: the function each client runs at its worker; same signature as
        :func:`~fedsyft.fl.client.local_train` (e.g. ``fedsyft.privacy.dp_local_train``
        wrapped with its noise settings for local DP-SGD).
    device: where training runs: ``"auto"`` (CUDA, then MPS, then the CPU), ``"cpu"``,
        ``"cuda"``, ``"mps"`` or a :class:`torch.device` (see
        :func:`fedsyft.device.resolve_device`). The model and the test set move there once;
        each client's shard moves there once, at its worker, when the trainer is built.
        Same seed, same partition and client order on every device.
    backend: how the selected clients train. ``"workers"`` (default, the teaching path): the
        model travels to each client's worker, as above. ``"batched"``: all the round's
        clients train at once in one ``torch.func`` program (:mod:`fedsyft.fl.batched`), the
        same math and seeds, from the shards read in place at their workers; the bytes the
        workers path would have sent are computed (``record.extra["bytes_computed"]``) and
        remote aggregators still get each update at its worker. ``"auto"``: batched where it
        is faster (a short probe on the CPU; always on CUDA), else workers.
        :attr:`backend_reason` says which was picked and why; a model that ``torch.func``
        cannot run, or a custom ``local_train_fn``, runs on workers with that reason.
    max_parallel: batched backend: at most this many clients trained at once (memory).
    compile: batched backend: compile the per-client step with ``torch.compile`` (a one-off
        10-140 s on a CPU, then about 2-3x faster steps there; see benchmarks/RESULTS.md).

    Example
    -------
    >>> # trainer = FederatedTrainer(model, fds, test, FLConfig(rounds=5)); history = trainer.run()
    """

    def __init__(self, model: nn.Module, federated_dataset: FederatedDataset, test_set: Any,
                 config: FLConfig | None = None, *,
                 aggregator: Aggregator | Callable[..., Any] | None = None,
                 checkpoint_dir: str | Path | None = None, progress: bool = True,
                 callbacks: Sequence[Callable[[FederatedTrainer, RoundRecord], Any]] = (),
                 local_train_fn: Callable[..., dict[str, Any]] = local_train,
                 device: str | torch.device | None = "auto", backend: str = "workers",
                 max_parallel: int | None = None, compile: bool = False) -> None:
        if not isinstance(federated_dataset, FederatedDataset):
            raise TypeError("federated_dataset must be a FederatedDataset (see dataset.federate(workers)).")
        if config is not None and not isinstance(config, FLConfig):
            raise TypeError(f"config must be an FLConfig, got {type(config).__name__}.")
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True or False, got {progress!r}.")
        if not callable(local_train_fn):
            raise TypeError(f"local_train_fn must be a function like fedsyft.fl.local_train, got {local_train_fn!r}.")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
        if not all(callable(cb) for cb in callbacks):
            raise TypeError("callbacks must be functions cb(trainer, record); got "
                            f"{[cb for cb in callbacks if not callable(cb)]!r}.")
        config = config or FLConfig()
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.fds = federated_dataset
        self.shards = [_shard_on(s, self.device) for s in federated_dataset]
        self.config = config
        if config.num_selected is not None and config.num_selected > len(self.shards):
            raise ValueError(f"num_selected ({config.num_selected}) is greater than the number of clients "
                             f"({len(self.shards)}); choose at most {len(self.shards)}.")
        test_data, test_targets = _test_tensors(test_set)
        self.test_data, self.test_targets = test_data.to(self.device), test_targets.to(self.device)
        self.aggregator = as_aggregator(aggregator)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = progress
        self.callbacks = list(callbacks)
        self.local_train_fn = local_train_fn
        self.history = History(config=config.as_dict())
        self.round = 0
        self.c_global: dict[str, torch.Tensor] | None = None
        self.c_clients: dict[str, dict[str, torch.Tensor]] = {}
        if config.algorithm == "scaffold":
            self.c_global = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
        self._batched: BatchedBackend | None = None
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be True or False, got {compile!r}.")
        self.backend, self.backend_reason = self._pick_backend(backend, max_parallel, compile)
        if self.progress and backend != "workers":
            tqdm.write(f"backend: {self.backend_reason}")

    # -- the backend ----------------------------------------------------------------------
    def _pick_backend(self, backend: str, max_parallel: int | None, compile: bool) -> tuple[str, str]:
        if backend == "workers":
            return "workers", "workers: requested"
        if self.local_train_fn is not local_train:
            why = (f"local_train_fn={getattr(self.local_train_fn, '__name__', self.local_train_fn)!r} "
                   f"runs only at the workers (the batched engine reproduces fedsyft.fl.local_train)")
            if backend == "batched":
                raise ValueError(f"backend='batched' cannot run {why}; use backend='workers'.")
            return "workers", f"workers: {why}"
        reason = "batched: requested"
        if backend == "auto":
            name, reason = choose_backend(self.model, self.shards, self.config.client, device=self.device)
            if name == "workers":
                return name, reason
        try:
            controls = self._controls_for if self.c_global is not None else None
            batched = BatchedBackend(self.model, self.shards, self.config, controls=controls,
                                     max_parallel=max_parallel, device=self.device, compile=compile)
            batched.check(self.model)
        except NotBatchableError as exc:
            warnings.warn(f"Training on workers: {exc}", RuntimeWarning, stacklevel=3)
            return "workers", f"workers: {exc}"
        self._batched = batched
        return "batched", reason

    def _controls_for(self, clients: Sequence[int]):
        """SCAFFOLD's ``(c_global, [c_i])`` for the batched backend (as :meth:`client_update`)."""
        assert self.c_global is not None
        zeros = {k: torch.zeros_like(v) for k, v in self.c_global.items()}
        return self.c_global, [self.c_clients.get(self.shards[i].worker.id) or zeros for i in clients]

    # -- the engine: one client, then the selected clients --------------------------------
    def client_update(self, shard: Any, rnd: int, index: int, *, remote: bool | None = None) -> dict[str, Any]:
        """Send a copy of the global model to the client's data, train it there, get it back.

        With ``remote`` (default: the aggregator's ``remote_updates``) the trained model stays
        at the worker: the result holds a pointer to the update (``"update"``), whether it is
        finite (``"finite"``) and the integer buffers (``"state"``) instead of the trained state.
        """
        cfg = self.config
        remote = self.aggregator.remote_updates if remote is None else remote
        local = copy_module(self.model)
        send_module(local, shard.worker)
        kwargs: dict[str, Any] = {"seed": client_seed(cfg.seed, rnd, index)}
        if cfg.algorithm == "fedprox":
            kwargs["prox_mu"] = cfg.mu
        if self.c_global is not None:
            c_i = self.c_clients.get(shard.worker.id) or {k: torch.zeros_like(v) for k, v in self.c_global.items()}
            kwargs["control"] = (self.c_global, c_i)
        if remote:  # the worker keeps the weights it received, to compute its update itself
            start = shard.worker.execute(_float_state, local)
        stats = shard.worker.execute(self.local_train_fn, local, shard.data, shard.targets, cfg.client, **kwargs).get()
        stats["client"] = shard.worker.id
        if remote:
            # The update is computed at the worker and stays there; only counters come back.
            stats["update"] = shard.worker.execute(_update_at_worker, local, start)
            stats["finite"] = shard.worker.execute(_is_finite, stats["update"]).get()
            stats["state"] = shard.worker.execute(_counters, local).get()
            discard_module(local)
            return stats
        get_module(local)
        stats["state"] = local.state_dict()
        return stats

    def train_clients(self, model: nn.Module, clients: Sequence[int], rnd: int, *,
                      remote: bool) -> list[dict[str, Any]]:
        """The engine of :func:`~fedsyft.fl.server.server_round`: train ``clients`` (indices
        into the federated dataset) at their workers, in order (or all at once, batched)."""
        if self._batched is not None:
            return self._batched(model, clients, rnd, remote=remote)
        return [self.client_update(self.shards[i], rnd, i, remote=remote) for i in clients]

    # -- one round ----------------------------------------------------------------------
    def run_round(self) -> RoundRecord:
        """One round through the server step; checkpoints and calls the callbacks."""
        workers = [s.worker for s in self.shards]
        batched = self._batched

        def meter() -> tuple[int, int]:  # batched: the aggregator's traffic + the clients' computed
            down, up = _traffic(workers)
            if batched is not None:
                down, up = down + batched.bytes_computed[0], up + batched.bytes_computed[1]
            return down, up

        rec, accepted = server_round(self.model, self.train_clients, rnd=self.round + 1,
                                     num_clients=len(self.shards), config=self.config,
                                     aggregator=self.aggregator,
                                     test=(self.test_data, self.test_targets), meter=meter)
        if batched is not None:
            rec.extra["backend"] = "batched"
            rec.extra["bytes_computed"] = True  # the model's traffic is what workers would send
        if self.c_global is not None:
            self._update_controls(accepted)
        self.history.append(rec)
        self.round = rec.round
        if self.checkpoint_dir is not None:
            self.save_checkpoint(self.checkpoint_dir / "checkpoint.pt")
        for cb in self.callbacks:
            cb(self, rec)
        return rec

    def _update_controls(self, results: Sequence[Any]) -> None:
        assert self.c_global is not None
        n_total = len(self.shards)
        deltas = []
        for r in results:
            delta = r.get("control_delta")
            if delta is None:
                continue
            cid = r["client"]
            old = self.c_clients.get(cid) or {k: torch.zeros_like(v) for k, v in self.c_global.items()}
            self.c_clients[cid] = {k: old[k] + delta[k] for k in old}
            deltas.append(delta)
        if deltas:
            frac = len(deltas) / n_total
            for k in self.c_global:
                self.c_global[k] = self.c_global[k] + frac * torch.stack([d[k] for d in deltas]).mean(0)

    # -- the loop -----------------------------------------------------------------------
    def run(self, rounds: int | None = None, *, stop: Callable[[FederatedTrainer], bool] | None = None) -> History:
        """Run until ``config.rounds`` rounds are done (or ``rounds`` more, if given)."""
        target = self.config.rounds if rounds is None else self.round + rounds
        todo = max(target - self.round, 0)
        bar = tqdm(total=todo, desc=f"{self.config.algorithm} rounds", unit="round", disable=not self.progress,
                   leave=True)
        while self.round < target:
            rec = self.run_round()
            bar.update(1)
            bar.set_postfix(acc=f"{100 * rec.test_accuracy:.2f}%")
            if self.progress:
                tqdm.write(f"round {rec.round:3d}: test accuracy {100 * rec.test_accuracy:.2f}%  "
                           f"loss {rec.test_loss:.4f}  ({rec.seconds:.1f} s)")
            if stop is not None and stop(self):
                break
        bar.close()
        return self.history

    # -- checkpoints --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"round": self.round, "model": self.model.state_dict(), "config": self.config.as_dict(),
                "history": self.history.to_dict(), "c_global": self.c_global, "c_clients": self.c_clients,
                "aggregator": self.aggregator.state_dict()}

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write :meth:`state` to ``path`` (tensors and plain values only; see
        :mod:`fedsyft.fl.checkpoint`)."""
        return save_checkpoint(self.state(), path)

    def load_checkpoint(self, path: str | Path) -> FederatedTrainer:
        """Restore a run saved by :meth:`save_checkpoint` (same data and config expected).

        Loading cannot run code (``torch.load(..., weights_only=True)``); a damaged or foreign
        file raises :class:`~fedsyft.fl.checkpoint.CheckpointError` naming it.
        """
        path = Path(path)
        ck = load_checkpoint(path, required=CHECKPOINT_KEYS)
        saved, now = dict(ck["config"]), self.config.as_dict()
        saved.pop("rounds", None)
        now.pop("rounds", None)  # resuming may extend a run
        if saved != now:
            diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
            raise ValueError(f"Checkpoint {path} was made with a different configuration: {diff} "
                             f"(saved, now). Resume with the same settings or start a new run.")
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"Checkpoint {path} holds another model's weights ({exc}). Resume "
                                  f"with the model it was made with, or start without --resume.") from exc
        self.round = int(ck["round"])
        self.history = History.from_dict(ck["history"])
        dev = _device_of(self.model)
        self.c_global = (None if ck["c_global"] is None
                         else {k: v.to(dev) for k, v in ck["c_global"].items()})
        self.c_clients = {cid: {k: v.to(dev) for k, v in c.items()} for cid, c in ck["c_clients"].items()}
        if ck.get("aggregator") is not None:
            self.aggregator.load_state_dict(ck["aggregator"])
        return self
