"""Federated data: ``dataset.federate(workers)``, ``FederatedDataset``, ``FederatedDataLoader``.

``federate`` splits a dataset between workers (by default the classic contiguous
round-robin split, or by any partitioner from :mod:`fedsyft.partition`) and *sends* each
shard to its worker, private by default: from then on the data is only reachable through
pointers, and the training loop never needs to read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..workers import BaseWorker, PointerTensor, register_extension, resolve_worker, send_tensor
from ..workers.pointer import wrap_result


@dataclass
class WorkerShard:
    """One worker's part of a federated dataset: pointers to its data and targets."""

    worker: BaseWorker
    data: PointerTensor
    targets: PointerTensor
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"WorkerShard(worker={self.worker.id}, samples={len(self)})"


class InMemoryDataset(Dataset):
    """A map-style dataset that keeps all its samples in two tensors, ``data`` and ``targets``.

    :func:`federate` uses them as they are (no per-item reads), and ``ds.federate(workers)``
    works with or without the hook. fedsyft's datasets
    (:class:`~fedsyft.data.TensorImageDataset`) derive from it.
    """

    data: torch.Tensor
    targets: torch.Tensor

    def federate(self, workers: Sequence[BaseWorker | str], partition=None, **kwargs) -> FederatedDataset:
        """Send shards of this dataset to ``workers``; see :func:`fedsyft.data.federate`."""
        return federate(self, workers, partition=partition, **kwargs)


def dataset_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All samples of a map-style dataset as ``(data, targets)`` tensors.

    fedsyft's datasets and ``TensorDataset`` are used as they are; any other dataset
    (torchvision's included) is read once through its ``__getitem__``, transforms applied.
    """
    if isinstance(dataset, InMemoryDataset):  # already normalised tensors
        return dataset.data, dataset.targets
    tensors = getattr(dataset, "tensors", None)
    if isinstance(tensors, tuple) and len(tensors) == 2:
        return tensors[0], tensors[1]
    try:
        n = len(dataset)
    except TypeError as exc:
        raise TypeError(
            f"federate() needs a map-style dataset with __len__ and __getitem__; "
            f"{type(dataset).__name__} has no len()."
        ) from exc
    if n == 0:
        raise ValueError("federate() got an empty dataset.")
    xs, ys = [], []
    for x, y in DataLoader(dataset, batch_size=1024, shuffle=False, num_workers=0):
        xs.append(torch.as_tensor(x))
        ys.append(torch.as_tensor(y))
    return torch.cat(xs), torch.cat(ys)


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """The integer labels of a dataset (from ``.targets`` when it has them)."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = dataset_tensors(dataset)[1]
    return np.asarray(torch.as_tensor(targets).cpu().numpy(), dtype=np.int64)


def classic_split(n: int, num_workers: int) -> list[np.ndarray]:
    """The classic PySyft split: contiguous chunks of ``n // num_workers``, dealt round-robin.

    A remainder chunk (when ``n`` is not divisible) goes to the next worker in turn,
    exactly as syft 0.2's ``dataset.federate`` did.

    Example
    -------
    >>> [len(p) for p in classic_split(10, 3)]
    [4, 3, 3]
    """
    if num_workers <= 0:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}.")
    if n < num_workers:
        raise ValueError(f"Cannot split {n} samples between {num_workers} workers (more workers than samples).")
    size = n // num_workers
    parts: list[list[np.ndarray]] = [[] for _ in range(num_workers)]
    for chunk, start in enumerate(range(0, n, size)):
        parts[chunk % num_workers].append(np.arange(start, min(start + size, n)))
    return [np.concatenate(p) for p in parts]


_PARTITION_HINT = ("pass None (the classic split), one index array per worker, or a partitioner "
                   "object such as fedsyft.partition.Dirichlet(alpha=0.5, seed=0) (by name: "
                   "fedsyft.partition.get_partitioner('dirichlet', alpha=0.5))")


def _index_array(p: object, i: int) -> np.ndarray:
    if isinstance(p, torch.Tensor):
        p = p.detach().cpu().numpy()
    arr = np.asarray(p)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ValueError(
            f"partition[{i}] has dtype {arr.dtype}: sample indices must be integers (a float "
            f"index would be silently truncated, a bool array is a mask, not indices): convert "
            f"a mask with np.flatnonzero(mask), or {_PARTITION_HINT}.")
    if arr.ndim != 1:
        raise ValueError(f"partition[{i}] has shape {arr.shape}: expected a 1-D array of sample indices.")
    return arr.astype(np.int64, copy=False)


def _validate_partition(parts: object, n: int, num_workers: int) -> list[np.ndarray]:
    if isinstance(parts, (str, bytes)) or not isinstance(parts, (Sequence, np.ndarray)):
        raise TypeError(f"partition={parts!r} is invalid: {_PARTITION_HINT}.")
    arrays = [_index_array(p, i) for i, p in enumerate(parts)]
    if len(arrays) != num_workers:
        raise ValueError(f"partition gave {len(arrays)} index arrays for {num_workers} workers; "
                         f"it must give one per worker.")
    allidx = np.concatenate(arrays) if arrays else np.array([], dtype=np.int64)
    if allidx.size and (allidx.min() < 0 or allidx.max() >= n):
        raise ValueError(f"partition has indices outside [0, {n}) (the dataset has {n} samples).")
    if np.unique(allidx).size != allidx.size:
        raise ValueError("partition assigns some samples to more than one worker (or twice).")
    return arrays


def _resolve_workers(workers: object) -> list[BaseWorker]:
    if isinstance(workers, (BaseWorker, str, bytes)) or not isinstance(workers, Iterable):
        raise TypeError(
            f"workers={workers!r} is invalid: expected a list or tuple of VirtualWorkers (or "
            f"their ids), e.g. federate(dataset, (bob, alice)) or dataset.federate([bob]).")
    workers = list(workers)
    if not workers:
        raise ValueError("workers is empty: federate() needs at least one worker, e.g. (bob, alice).")
    resolved = [resolve_worker(w) for w in workers]
    ids = [w.id for w in resolved]
    if len(set(ids)) != len(ids):
        raise ValueError(f"workers has duplicates: {ids}; give each worker once.")
    return resolved


def federate(
    dataset: Dataset,
    workers: Sequence[BaseWorker | str],
    partition: Callable[[np.ndarray, int], Sequence] | Sequence | None = None,
    *,
    private: bool = True,
    client_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor] | None] | None = None,
) -> FederatedDataset:
    """Split ``dataset`` between ``workers`` and send each shard to its worker.

    Parameters
    ----------
    dataset:
        any map-style dataset returning ``(x, y)``: fedsyft's, torchvision's, a TensorDataset.
    workers:
        the workers (or their ids) that will hold the shards.
    partition:
        ``None`` for the classic contiguous round-robin split; a partitioner
        ``f(labels, num_workers) -> list of index arrays`` (e.g.
        ``fedsyft.partition.Dirichlet(alpha=0.5, seed=0)``); or the index arrays themselves.
    private:
        mark each shard private at its worker (``get``/``move``/``copy`` refused).
    client_transforms:
        optional per-worker transform of the shard's data before it is sent
        (e.g. ``fedsyft.partition.feature_noise``).

    Example
    -------
    >>> from torch.utils.data import TensorDataset
    >>> from fedsyft.workers import VirtualWorker
    >>> ds = TensorDataset(torch.randn(10, 3), torch.arange(10) % 2)
    >>> fds = federate(ds, [VirtualWorker(id="b_fed"), VirtualWorker(id="a_fed")])
    >>> fds.num_samples
    {'b_fed': 5, 'a_fed': 5}
    """
    workers = _resolve_workers(workers)
    if not isinstance(private, bool):
        raise TypeError(f"private={private!r} is invalid: expected True or False.")
    if client_transforms is not None:
        if isinstance(client_transforms, (str, bytes)) or not isinstance(client_transforms, Sequence):
            raise TypeError(f"client_transforms={client_transforms!r} is invalid: expected None or "
                            f"a list with one transform (or None) per worker.")
        if len(client_transforms) != len(workers):
            raise ValueError(f"client_transforms has {len(client_transforms)} entries for "
                             f"{len(workers)} workers; give one (or None) per worker.")
        for i, t in enumerate(client_transforms):
            if t is not None and not callable(t):
                raise TypeError(f"client_transforms[{i}]={t!r} is invalid: expected a function "
                                f"of the shard's data tensor, or None.")
    if partition is not None and not callable(partition):
        _validate_partition(partition, 2**62, len(workers))  # its form, before the data is read
    data, targets = dataset_tensors(dataset)
    n = len(targets)
    if partition is None:
        parts = classic_split(n, len(workers))
    elif callable(partition):
        parts = partition(dataset_labels(dataset), len(workers))
    else:
        parts = partition
    parts = _validate_partition(parts, n, len(workers))
    shards = {}
    for i, (w, idx) in enumerate(zip(workers, parts)):
        t_idx = torch.from_numpy(idx)
        x = data[t_idx]
        if client_transforms is not None and client_transforms[i] is not None:
            x = client_transforms[i](x)
        shards[w.id] = WorkerShard(w, send_tensor(x, w, private=private),
                                   send_tensor(targets[t_idx], w, private=private), idx)
    return FederatedDataset(shards)


class FederatedDataset:
    """Shards of one dataset held by several workers.

    ``fds.workers`` lists the workers, ``fds[bob]`` (or ``fds["bob"]``) gives bob's
    :class:`WorkerShard`, ``len(fds)`` is the total sample count and ``fds.num_samples``
    the count per worker.
    """

    def __init__(self, shards: dict[str, WorkerShard]) -> None:
        self.shards = dict(shards)

    @property
    def workers(self) -> list[BaseWorker]:
        return [s.worker for s in self.shards.values()]

    @property
    def num_samples(self) -> dict[str, int]:
        return {k: len(s) for k, s in self.shards.items()}

    @property
    def partition(self) -> list[np.ndarray]:
        """The global indices each worker holds (in worker order)."""
        return [s.indices for s in self.shards.values()]

    def __getitem__(self, worker: BaseWorker | str) -> WorkerShard:
        key = worker.id if isinstance(worker, BaseWorker) else worker
        try:
            return self.shards[key]
        except KeyError:
            raise KeyError(f"No shard at worker {key!r}; workers are {list(self.shards)}.") from None

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards.values())

    def __iter__(self) -> Iterator[WorkerShard]:
        return iter(self.shards.values())

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {len(s)}" for k, s in self.shards.items())
        return f"FederatedDataset(workers=[{parts}], total={len(self)})"


class FederatedDataLoader:
    """Batches of a :class:`FederatedDataset`; each batch is a pair of pointers at one worker.

    Parameters
    ----------
    federated_dataset: the shards to iterate.
    batch_size: samples per batch (a worker's last batch may be smaller).
    shuffle: shuffle each worker's samples every epoch.
    drop_last: drop each worker's last incomplete batch.
    iter_per_worker: yield ``{worker: (data, target)}`` with one batch of every worker that
        still has batches, instead of all of one worker's batches then the next's.
    seed: seeds the shuffling (epoch ``e`` uses ``(seed, e)``); ``None`` draws from torch's
        global generator, like ``torch.utils.data.DataLoader``.

    ``len()`` is exact: the number of batches one epoch yields (per-worker ceilings summed,
    or their maximum with ``iter_per_worker``), uneven shards included.

    Example
    -------
    >>> from torch.utils.data import TensorDataset
    >>> from fedsyft.workers import VirtualWorker
    >>> ds = TensorDataset(torch.randn(10, 3), torch.arange(10))
    >>> fds = federate(ds, [VirtualWorker(id="b_fdl"), VirtualWorker(id="a_fdl")])
    >>> loader = FederatedDataLoader(fds, batch_size=4)
    >>> len(loader), [d.location.id for d, t in loader]
    (4, ['b_fdl', 'b_fdl', 'a_fdl', 'a_fdl'])
    """

    def __init__(self, federated_dataset: FederatedDataset, batch_size: int = 8, shuffle: bool = False,
                 drop_last: bool = False, iter_per_worker: bool = False, *, seed: int | None = None) -> None:
        if not isinstance(federated_dataset, FederatedDataset):
            raise TypeError(f"FederatedDataLoader needs a FederatedDataset (from dataset.federate(workers)), "
                            f"got {type(federated_dataset).__name__}.")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} is invalid: expected an integer >= 1.")
        for flag, value in (("shuffle", shuffle), ("drop_last", drop_last), ("iter_per_worker", iter_per_worker)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag}={value!r} is invalid: expected True or False.")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed={seed!r} is invalid: expected None or an integer >= 0.")
        self.federated_dataset = federated_dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.iter_per_worker = iter_per_worker
        self.seed = seed
        self._epoch = 0

    @property
    def workers(self) -> list[BaseWorker]:
        return self.federated_dataset.workers

    def _num_batches(self, n: int) -> int:
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def batches_per_worker(self) -> dict[str, int]:
        return {k: self._num_batches(len(s)) for k, s in self.federated_dataset.shards.items()}

    def __len__(self) -> int:
        counts = list(self.batches_per_worker().values())
        if not counts:
            return 0
        return max(counts) if self.iter_per_worker else sum(counts)

    def _order(self, n: int, worker_pos: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(n)
        if self.seed is None:
            return torch.randperm(n)
        rng = np.random.default_rng([self.seed, self._epoch, worker_pos])
        return torch.from_numpy(rng.permutation(n))

    def next_epoch_indices(self) -> list[torch.Tensor]:
        """The global sample indices of each batch the next epoch will yield, in order
        (worker by worker). Lets a plain PyTorch loop replay exactly the same batches."""
        out = []
        for pos, shard in enumerate(self.federated_dataset):
            order, idx = self._order(len(shard), pos), torch.from_numpy(shard.indices)
            out += [idx[order[b * self.batch_size:(b + 1) * self.batch_size]]
                    for b in range(self._num_batches(len(shard)))]
        return out

    def _worker_batches(self, shard: WorkerShard, order: torch.Tensor) -> Iterator[tuple[PointerTensor, PointerTensor]]:
        w = shard.worker
        data_real = w.get_obj(shard.data.id_at_location)
        targets_real = w.get_obj(shard.targets.id_at_location)
        for b in range(self._num_batches(len(shard))):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            # One command to the worker: "index your shard with these positions".
            w.traffic.commands += 1
            w.traffic.record_in(idx.numel() * idx.element_size())
            yield wrap_result(w, data_real[idx], {}), wrap_result(w, targets_real[idx], {})

    def __iter__(self):
        shards = list(self.federated_dataset.shards.values())
        iters = [self._worker_batches(s, self._order(len(s), i)) for i, s in enumerate(shards)]
        self._epoch += 1
        if not self.iter_per_worker:
            for it in iters:
                yield from it
            return
        live = dict(zip([s.worker for s in shards], iters))
        while live:
            step = {}
            for w, it in list(live.items()):
                batch = next(it, None)
                if batch is None:
                    del live[w]
                else:
                    step[w] = batch
            if step:
                yield step

    def __repr__(self) -> str:
        return (f"FederatedDataLoader(workers={[w.id for w in self.workers]}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, batches={len(self)})")


register_extension(Dataset, "federate", federate)
