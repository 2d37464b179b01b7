"""What a partition looks like: counts per client x class, sizes, heterogeneity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validate import as_labels, check_int

__all__ = ["PartitionReport", "as_partitions", "partition_report"]


def as_partitions(partitions: Any, n: int) -> list[np.ndarray]:
    """Validate a list of per-client index arrays against ``n`` samples (int64 copies)."""
    if isinstance(partitions, np.ndarray) or not isinstance(partitions, Sequence) or isinstance(
        partitions, (str, bytes)
    ):
        raise ValueError(
            f"partitions is invalid: expected a list of 1-D integer index arrays (one per "
            f"client); got {type(partitions).__name__}."
        )
    if len(partitions) == 0:
        raise ValueError("partitions=[] is invalid: expected at least one client.")
    out = []
    for i, p in enumerate(partitions):
        a = np.asarray(p)
        if a.size == 0:
            a = a.astype(np.int64)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise ValueError(
                f"partitions[{i}] is invalid: expected a 1-D integer index array; got dtype "
                f"{a.dtype}, shape {a.shape}."
            )
        if a.size and (int(a.min()) < 0 or int(a.max()) >= n):
            raise ValueError(
                f"partitions[{i}] is invalid: expected indices in [0, {n - 1}] (the labels have "
                f"{n} samples); got values in [{int(a.min())}, {int(a.max())}]."
            )
        out.append(a.astype(np.int64, copy=False))
    return out


class PartitionReport:
    """Per-client label counts and heterogeneity of a partition (see :func:`partition_report`).

    Attributes
    ----------
    counts:
        ``(num_clients, num_classes)`` int64 array, ``counts[i, c]`` = samples of class ``c``
        held by client ``i``.
    sizes:
        samples per client (``counts.sum(axis=1)``).
    classes_per_client:
        number of distinct classes per client (``(counts > 0).sum(axis=1)``).
    global_distribution:
        the label distribution of the whole label array (length ``num_classes``).
    tv:
        per-client total-variation distance ``0.5 * sum_c |q_ic - p_c|`` between the client's
        label distribution ``q_i`` and the global one ``p`` (0 = identical, 1 = disjoint;
        NaN for an empty client).
    hellinger:
        per-client Hellinger distance ``sqrt(0.5 * sum_c (sqrt q_ic - sqrt p_c) ** 2)``
        (also in [0, 1]).
    mean_tv, mean_hellinger:
        unweighted means over the non-empty clients: the headline heterogeneity measures.
    num_samples, num_assigned, num_unassigned, num_duplicates:
        coverage: ``num_assigned`` counts index occurrences, ``num_unassigned`` samples held by
        no client, ``num_duplicates`` extra occurrences of samples held more than once.
    is_exact:
        every sample is held exactly once.
    """

    def __init__(self, counts: np.ndarray, global_counts: np.ndarray, occurrences: np.ndarray):
        self.counts = counts
        self.sizes = counts.sum(axis=1)
        self.classes_per_client = (counts > 0).sum(axis=1)
        self.num_samples = int(occurrences.shape[0])
        self.global_distribution = global_counts / global_counts.sum()
        self.num_assigned = int(occurrences.sum())
        self.num_unassigned = int((occurrences == 0).sum())
        self.num_duplicates = int(np.maximum(occurrences - 1, 0).sum())
        self.is_exact = self.num_unassigned == 0 and self.num_duplicates == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            q = counts / self.sizes[:, None]
        p = self.global_distribution[None, :]
        self.tv = 0.5 * np.abs(q - p).sum(axis=1)
        self.hellinger = np.sqrt(0.5 * ((np.sqrt(q) - np.sqrt(p)) ** 2).sum(axis=1))
        nonempty = self.sizes > 0
        self.mean_tv = float(self.tv[nonempty].mean()) if nonempty.any() else float("nan")
        self.mean_hellinger = (
            float(self.hellinger[nonempty].mean()) if nonempty.any() else float("nan")
        )

    @property
    def num_clients(self) -> int:
        return int(self.counts.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.counts.shape[1])

    def to_dataframe(self):
        """A ``pandas.DataFrame``: one row per client with ``size``, ``classes``, ``tv``,
        ``hellinger`` and one ``class_<c>`` count column per class."""
        import pandas as pd

        df = pd.DataFrame(
            self.counts, columns=[f"class_{c}" for c in range(self.num_classes)]
        )
        df.insert(0, "size", self.sizes)
        df.insert(1, "classes", self.classes_per_client)
        df.insert(2, "tv", self.tv)
        df.insert(3, "hellinger", self.hellinger)
        df.index.name = "client"
        return df

    def _summary(self) -> str:
        cover = "every sample exactly once" if self.is_exact else (
            f"{self.num_unassigned} unassigned, {self.num_duplicates} duplicated"
        )
        return (
            f"PartitionReport: {self.num_clients} clients, {self.num_classes} classes, "
            f"{self.num_samples} samples ({cover})\n"
            f"sizes: min {int(self.sizes.min())}, mean {self.sizes.mean():.1f}, "
            f"max {int(self.sizes.max())}; classes per client: "
            f"min {int(self.classes_per_client.min())}, "
            f"mean {self.classes_per_client.mean():.2f}, "
            f"max {int(self.classes_per_client.max())}\n"
            f"heterogeneity vs. the global label distribution: mean TV {self.mean_tv:.3f}, "
            f"mean Hellinger {self.mean_hellinger:.3f}"
        )

    def to_string(self, max_rows: int | None = 20) -> str:
        """The summary and a per-client table (first and last rows if more than ``max_rows``)."""
        head = ["client", "size", "classes", "TV"] + [str(c) for c in range(self.num_classes)]
        rows = [
            [str(i), str(int(self.sizes[i])), str(int(self.classes_per_client[i])),
             "-" if np.isnan(self.tv[i]) else f"{self.tv[i]:.3f}"]
            + [str(int(v)) for v in self.counts[i]]
            for i in range(self.num_clients)
        ]
        if max_rows is not None and len(rows) > max_rows:
            top = max_rows - max_rows // 4
            rows = rows[:top] + [["..."] * len(head)] + rows[-(max_rows - top):]
        widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
        lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in [head, *rows]]
        return self._summary() + "\n" + "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()

    __repr__ = __str__


def partition_report(
    partitions: Sequence[Any], labels: Any, *, num_classes: int | None = None
) -> PartitionReport:
    """Summarise a partition: label counts per client, sizes and heterogeneity.

    Heterogeneity is measured per client against the *global* label distribution of
    ``labels`` with the total-variation distance (``mean_tv``) and the Hellinger distance
    (``mean_hellinger``); both lie in [0, 1]: about 0 for IID clients, close to 1 for clients
    holding one class out of many.

    Parameters
    ----------
    partitions:
        one index array per client (what the partitioners return).
    labels:
        the 1-D non-negative integer label array that was partitioned.
    num_classes:
        number of classes (columns); defaults to ``labels.max() + 1``.

    Example
    -------
    >>> labels = np.array([0, 0, 1, 1])
    >>> r = partition_report([np.array([0, 1]), np.array([2, 3])], labels)
    >>> r.counts.tolist(), r.mean_tv, r.is_exact
    ([[2, 0], [0, 2]], 0.5, True)
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    parts = as_partitions(partitions, n)
    top = int(labels.max()) + 1
    if num_classes is None:
        num_classes = top
    num_classes = check_int(
        "num_classes", num_classes, lo=top, why="at least labels.max() + 1"
    )
    counts = np.stack([np.bincount(labels[p], minlength=num_classes) for p in parts])
    occurrences = np.bincount(np.concatenate(parts), minlength=n)
    return PartitionReport(
        counts.astype(np.int64), np.bincount(labels, minlength=num_classes), occurrences
    )
