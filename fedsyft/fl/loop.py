"""The federated round loop: sample clients, send the model to their data, train there,
get it back, aggregate, evaluate, checkpoint.

Every random choice is derived from ``(seed, round, client)``: client sampling uses
``numpy.random.default_rng([seed, round])`` and local training is seeded with
``seed * 1_000_003 + round * 1_009 + client``. A run stopped after round r and resumed
from its checkpoint therefore ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.federated import FederatedDataset
from ..workers import copy_module, discard_module, get_module, send_module
from .aggregate import (
    WEIGHTINGS,
    WeightedMean,
    apply_update,
    float_keys,
    max_counters,
    normalize_weights,
    state_delta,
)
from .client import ClientConfig, local_train
from .evaluate import evaluate
from .history import History, RoundRecord

ALGORITHMS = ("fedavg", "fedprox", "scaffold")


@dataclass(frozen=True)
class FLConfig:
    """A federated run.

    Parameters
    ----------
    rounds: communication rounds.
    num_selected: clients sampled per round (``None``: all of them).
    algorithm: ``"fedavg"``, ``"fedprox"`` (with ``mu``) or ``"scaffold"``.
    mu: FedProx's proximal weight.
    server_lr: the server step on the aggregated update (1.0 = plain averaging).
    weighting: ``"samples"`` (FedAvg) or ``"uniform"`` (the seed's unweighted mean).
    client: local training settings.
    seed: the seed every random choice derives from.
    """

    rounds: int = 10
    num_selected: int | None = None
    algorithm: str = "fedavg"
    mu: float = 0.01
    server_lr: float = 1.0
    weighting: str = "samples"
    client: ClientConfig = field(default_factory=ClientConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {self.rounds!r}.")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"Unknown algorithm {self.algorithm!r}; choose one of {ALGORITHMS}.")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}.")
        if self.num_selected is not None and self.num_selected < 1:
            raise ValueError(f"num_selected must be >= 1 (or None for all clients), got {self.num_selected!r}.")
        if self.mu < 0:
            raise ValueError(f"mu must be >= 0, got {self.mu!r}.")
        if not self.server_lr > 0:
            raise ValueError(f"server_lr must be > 0, got {self.server_lr!r}.")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["client"] = self.client.as_dict()
        return d


def _float_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Runs at the worker: a copy of the float entries of the model's state."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if torch.is_floating_point(v)}


def _update_at_worker(model: nn.Module, start: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Runs at the worker: the client's update ``trained - start`` over float entries."""
    return state_delta(model.state_dict(), start)


def _counters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Runs at the worker: the integer buffers (e.g. batch norm's num_batches_tracked)."""
    return {k: v.clone() for k, v in model.state_dict().items() if not torch.is_floating_point(v)}


def client_seed(seed: int, rnd: int, client: int) -> int:
    return (seed * 1_000_003 + rnd * 1_009 + client) % (2**63)


def sample_clients(num_clients: int, num_selected: int | None, *, seed: int, rnd: int) -> list[int]:
    """The (sorted) client indices that take part in round ``rnd``.

    Example
    -------
    >>> sample_clients(10, 3, seed=0, rnd=1) == sample_clients(10, 3, seed=0, rnd=1)
    True
    """
    if num_selected is None or num_selected == num_clients:
        return list(range(num_clients))
    if num_selected > num_clients:
        raise ValueError(f"num_selected ({num_selected}) is greater than the number of clients "
                         f"({num_clients}); choose at most {num_clients}.")
    rng = np.random.default_rng([seed, rnd])
    return sorted(int(i) for i in rng.choice(num_clients, size=num_selected, replace=False))


def _traffic(workers) -> int:
    return sum(w.traffic.bytes_in for w in workers), sum(w.traffic.bytes_out for w in workers)


class FederatedTrainer:
    """Runs federated rounds over the workers of a :class:`FederatedDataset`.

    Parameters
    ----------
    model: the global model (kept local; copies travel to the clients).
    federated_dataset: the clients' data, already at their workers.
    test_set: a dataset with ``.data``/``.targets`` (or a ``(data, targets)`` pair).
    config: see :class:`FLConfig`.
    aggregator: combines client updates; default :class:`~fedsyft.fl.aggregate.WeightedMean`
        (FedAvg). Secure aggregation, DP-FedAvg and CKKS plug in here. An aggregator with
        ``remote_updates = True`` never lets the trained models leave the clients: each update
        is computed and kept at its worker, and ``aggregator.aggregate_remote(update_pointers,
        weights, template=..., round=..., clients=...)`` receives pointers to them.
    checkpoint_dir: if given, ``checkpoint.pt`` is written there after every round.
    progress: show a tqdm progress bar and print accuracy per round.
    local_train_fn: the function each client runs at its worker; same signature as
        :func:`~fedsyft.fl.client.local_train` (e.g. ``fedsyft.privacy.dp_local_train``
        wrapped with its noise settings for local DP-SGD).

    Example
    -------
    >>> # trainer = FederatedTrainer(model, fds, test, FLConfig(rounds=5)); history = trainer.run()
    """

    def __init__(self, model: nn.Module, federated_dataset: FederatedDataset, test_set,
                 config: FLConfig | None = None, *, aggregator: Callable | None = None,
                 checkpoint_dir: str | Path | None = None, progress: bool = True,
                 callbacks: Sequence[Callable[[FederatedTrainer, RoundRecord], Any]] = (),
                 local_train_fn: Callable[..., dict[str, Any]] = local_train) -> None:
        if not isinstance(federated_dataset, FederatedDataset):
            raise TypeError("federated_dataset must be a FederatedDataset (see dataset.federate(workers)).")
        config = config or FLConfig()
        self.model = model
        self.fds = federated_dataset
        self.shards = list(federated_dataset)
        self.config = config
        if config.num_selected is not None and config.num_selected > len(self.shards):
            raise ValueError(f"num_selected ({config.num_selected}) is greater than the number of clients "
                             f"({len(self.shards)}); choose at most {len(self.shards)}.")
        self.test_data, self.test_targets = (test_set if isinstance(test_set, tuple)
                                             else (test_set.data, test_set.targets))
        self.aggregator = aggregator or WeightedMean()
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

    # -- one client ---------------------------------------------------------------------
    def client_update(self, shard, rnd: int, index: int) -> dict[str, Any]:
        """Send a copy of the global model to the client's data, train it there, get it back."""
        cfg = self.config
        local = copy_module(self.model)
        send_module(local, shard.worker)
        kwargs: dict[str, Any] = {"seed": client_seed(cfg.seed, rnd, index)}
        if cfg.algorithm == "fedprox":
            kwargs["prox_mu"] = cfg.mu
        if cfg.algorithm == "scaffold":
            c_i = self.c_clients.get(shard.worker.id) or {k: torch.zeros_like(v) for k, v in self.c_global.items()}
            kwargs["control"] = (self.c_global, c_i)
        remote = getattr(self.aggregator, "remote_updates", False)
        if remote:  # the worker keeps the weights it received, to compute its update itself
            start = shard.worker.execute(_float_state, local)
        stats = shard.worker.execute(self.local_train_fn, local, shard.data, shard.targets, cfg.client, **kwargs).get()
        stats["client"] = shard.worker.id
        if remote:
            # The update is computed at the worker and stays there; only counters come back.
            stats["update"] = shard.worker.execute(_update_at_worker, local, start)
            stats["state"] = shard.worker.execute(_counters, local).get()
            discard_module(local)
            return stats
        get_module(local)
        stats["state"] = local.state_dict()
        return stats

    # -- one round ----------------------------------------------------------------------
    def run_round(self) -> RoundRecord:
        cfg = self.config
        rnd = self.round + 1
        t0 = time.perf_counter()
        workers = [s.worker for s in self.shards]
        before = _traffic(workers)
        chosen = sample_clients(len(self.shards), cfg.num_selected, seed=cfg.seed, rnd=rnd)
        global_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        results = [self.client_update(self.shards[i], rnd, i) for i in chosen]
        weights = normalize_weights([r["num_samples"] for r in results], cfg.weighting)
        clients = [r["client"] for r in results]
        if getattr(self.aggregator, "remote_updates", False):
            agg = self.aggregator.aggregate_remote([r["update"] for r in results], weights,
                                                   template={k: global_state[k] for k in float_keys(global_state)},
                                                   round=rnd, clients=clients)
        else:
            updates = [state_delta(r["state"], global_state) for r in results]
            agg = self.aggregator(updates, weights, round=rnd, clients=clients)
        new_state = apply_update(global_state, agg, server_lr=cfg.server_lr)
        new_state.update(max_counters([r["state"] for r in results]))  # integer buffers
        self.model.load_state_dict(new_state)
        if cfg.algorithm == "scaffold":
            self._update_controls(results)
        acc, loss = evaluate(self.model, self.test_data, self.test_targets)
        after = _traffic(workers)
        train_loss = float(sum(w * r["loss"] for w, r in zip(weights, results)))
        extra = dict(getattr(self.aggregator, "last_round_info", None) or {})
        rec = RoundRecord(rnd, acc, loss, train_loss, [r["client"] for r in results],
                          bytes_up=after[1] - before[1], bytes_down=after[0] - before[0],
                          seconds=time.perf_counter() - t0, extra=extra)
        self.history.append(rec)
        self.round = rnd
        if self.checkpoint_dir is not None:
            self.save_checkpoint(self.checkpoint_dir / "checkpoint.pt")
        for cb in self.callbacks:
            cb(self, rec)
        return rec

    def _update_controls(self, results) -> None:
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
                "aggregator": getattr(self.aggregator, "state_dict", lambda: None)()}

    def save_checkpoint(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)
        return path

    def load_checkpoint(self, path: str | Path) -> FederatedTrainer:
        """Restore a run saved by :meth:`save_checkpoint` (same data and config expected)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No checkpoint at {path}; run without --resume to start fresh.")
        ck = torch.load(path, weights_only=False)
        saved, now = dict(ck["config"]), self.config.as_dict()
        saved.pop("rounds", None)
        now.pop("rounds", None)  # resuming may extend a run
        if saved != now:
            diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
            raise ValueError(f"Checkpoint {path} was made with a different configuration: {diff} "
                             f"(saved, now). Resume with the same settings or start a new run.")
        self.model.load_state_dict(ck["model"])
        self.round = ck["round"]
        self.history = History.from_dict(ck["history"])
        self.c_global, self.c_clients = ck["c_global"], ck["c_clients"]
        if ck.get("aggregator") is not None and hasattr(self.aggregator, "load_state_dict"):
            self.aggregator.load_state_dict(ck["aggregator"])
        return self
