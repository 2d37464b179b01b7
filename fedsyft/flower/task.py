"""What every Flower process needs to know about a fedsyft experiment, in one value.

A :class:`FlowerTask` names the dataset, the partition (one index array per client), the model
and the :class:`~fedsyft.fl.FLConfig`. It is plain data: it travels to Ray's workers by pickle
and to a SuperLink and its SuperNodes as a JSON string inside Flower's run config, so every
SuperNode, on this machine or on a student's laptop, rebuilds exactly its own shard from the
dataset that ships with fedsyft. No flwr import here.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from ..fl import ClientConfig, FLConfig

DATASETS = ("mnist", "fashion_mnist", "cifar10")
#: The algorithms the Flower bridge runs (SCAFFOLD keeps per-client state across rounds,
#: which Flower's stateless ClientApps would have to store in their node's context).
FLOWER_ALGORITHMS = ("fedavg", "fedprox")


def _encode(idx: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.asarray(idx, dtype="<i8").tobytes(), 6)).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<i8").astype(np.int64)


@lru_cache(maxsize=4)
def _load_split(dataset: str, root: str | None, split: str):
    from ..data import CIFAR10, MNIST, FashionMNIST

    ctor = {"mnist": MNIST, "fashion_mnist": FashionMNIST, "cifar10": CIFAR10}[dataset]
    return ctor(split, root=root)


@dataclass(frozen=True)
class FlowerTask:
    """A fedsyft experiment, as the Flower apps see it.

    Parameters
    ----------
    partition: one index array per client, into the training set (after ``train_subset``);
        client ``i`` is the SuperNode started with ``partition-id=i``.
    config: rounds, algorithm (``fedavg`` or ``fedprox``), weighting, sampling, seed and
        the clients' :class:`~fedsyft.fl.ClientConfig`.
    model: a name from :data:`fedsyft.models.MODELS`; every process builds it by name.
    dataset: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
    data_root: where the datasets live (``None``: the copies that ship with fedsyft).
    train_subset: use only the first N training samples (as ``python -m fedsyft run``).
    test_subset: evaluate on the first N test samples (``None``: all of them).
    device: where clients and server compute (``"cpu"``, ``"cuda"``, ``"auto"``...); tensors
        follow the model there.
    threads: torch threads each client trains with (``torch.set_num_threads``). 1 by default:
        on one machine several clients share the cores (Ray gives each actor one CPU too), and
        the same thread count as fedsyft's own loop keeps the results bit-identical. ``None``
        leaves torch's default.

    Example
    -------
    >>> import numpy as np
    >>> from fedsyft.fl import FLConfig
    >>> task = FlowerTask([np.arange(0, 5), np.arange(5, 10)], FLConfig(rounds=1), model="mcmahan_2nn")
    >>> FlowerTask.from_json(task.to_json()) == task
    True
    >>> task.num_clients
    2
    """

    partition: Sequence[np.ndarray]
    config: FLConfig = field(default_factory=FLConfig)
    model: str = "simple_cnn"
    dataset: str = "mnist"
    data_root: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    device: str = "cpu"
    threads: int | None = 1

    def __post_init__(self) -> None:
        from ..models import MODELS

        parts = tuple(np.asarray(p, dtype=np.int64).reshape(-1) for p in self.partition)
        object.__setattr__(self, "partition", parts)
        if not parts:
            raise ValueError("partition is empty: give one index array per client (at least one client).")
        seen = np.concatenate(parts)
        if len(np.unique(seen)) != len(seen):
            raise ValueError("partition uses some sample index twice; each sample may belong to one client only.")
        if len(seen) and seen.min() < 0:
            raise ValueError("partition holds negative indices; indices must be positions in the training set.")
        if not isinstance(self.config, FLConfig):
            raise TypeError(f"config must be a fedsyft.fl.FLConfig, got {type(self.config).__name__}.")
        if self.config.algorithm not in FLOWER_ALGORITHMS:
            raise ValueError(f"algorithm={self.config.algorithm!r} is not available on Flower here; "
                             f"choose one of {FLOWER_ALGORITHMS} (SCAFFOLD runs with fedsyft's own loop).")
        if self.config.num_selected is not None and self.config.num_selected > len(parts):
            raise ValueError(f"num_selected ({self.config.num_selected}) is greater than the number of "
                             f"clients ({len(parts)}); choose at most {len(parts)}.")
        if self.model not in MODELS:
            raise ValueError(f"model={self.model!r} is unknown; SuperNodes rebuild the model by name, "
                             f"so choose one of {sorted(MODELS)}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be an integer >= 1 or None, got {self.threads!r}.")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is unknown; choose one of {DATASETS}.")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlowerTask):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    @property
    def num_clients(self) -> int:
        return len(self.partition)

    # -- serialisation (Flower's run config carries strings) -------------------------------
    def to_dict(self) -> dict[str, Any]:
        cfg = self.config.as_dict()
        return {"dataset": self.dataset, "data_root": self.data_root, "train_subset": self.train_subset,
                "test_subset": self.test_subset, "model": self.model, "device": self.device,
                "threads": self.threads,
                "config": cfg, "partition": [_encode(p) for p in self.partition]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowerTask:
        cfg = dict(d["config"])
        cfg["client"] = ClientConfig(**cfg["client"])
        return cls(partition=[_decode(p) for p in d["partition"]], config=FLConfig(**cfg), model=d["model"],
                   dataset=d["dataset"], data_root=d.get("data_root"), train_subset=d.get("train_subset"),
                   test_subset=d.get("test_subset"), device=d.get("device", "cpu"), threads=d.get("threads", 1))

    @classmethod
    def from_json(cls, text: str) -> FlowerTask:
        return cls.from_dict(json.loads(text))

    # -- what each process loads ------------------------------------------------------------
    def torch_device(self) -> torch.device:
        from ..device import resolve_device

        return resolve_device(self.device)

    def use_threads(self) -> None:
        """Set this process's torch threads to ``threads`` (a client's or a remote server's process)."""
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def train_set(self):
        train = _load_split(self.dataset, self.data_root, "train")
        if self.train_subset:
            train = train.subset(range(min(self.train_subset, len(train))))
        return train

    def client_data(self, partition_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Client ``partition_id``'s shard ``(data, targets)``, on the task's device."""
        if not 0 <= int(partition_id) < self.num_clients:
            raise ValueError(f"partition-id={partition_id} is out of range: this run has {self.num_clients} "
                             f"partitions (0..{self.num_clients - 1}); start the SuperNode with "
                             f"--node-config \"partition-id=K num-partitions={self.num_clients}\".")
        train = self.train_set()
        idx = self.partition[int(partition_id)]
        if len(idx) and idx.max() >= len(train):
            raise ValueError(f"partition {partition_id} holds index {idx.max()} but the training set has "
                             f"{len(train)} samples; check train_subset.")
        t_idx = torch.tensor(idx, dtype=torch.int64)
        dev = self.torch_device()
        return train.data[t_idx].to(dev), train.targets[t_idx].to(dev)

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        test = _load_split(self.dataset, self.data_root, "test")
        n = len(test) if self.test_subset is None else min(self.test_subset, len(test))
        dev = self.torch_device()
        return test.data[:n].to(dev), test.targets[:n].to(dev)

    def build_model(self) -> nn.Module:
        """The model, initialised as ``python -m fedsyft run`` does (``torch.manual_seed(seed)``
        then :func:`fedsyft.models.get_model`), without touching the global RNG."""
        from ..models import get_model

        train = _load_split(self.dataset, self.data_root, "train")
        in_ch, size = train.data.shape[1], train.data.shape[-1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            model = get_model(self.model, in_channels=in_ch, num_classes=len(train.classes), image_size=size)
        return model.to(self.torch_device())
