"""The seed article's "extreme non-IID" split: every client holds exactly k classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import group_by_owner, label_groups, owner_from_counts
from ._validate import as_labels, check_bool, check_int, check_num_clients, check_seed

__all__ = ["ClassesPerClient", "classes_per_client"]


def _check_k(k: Any, num_classes: int | None = None) -> int:
    if num_classes is None:
        return check_int("k", k, lo=1)
    return check_int("k", k, lo=1, hi=num_classes, why=f"the labels have {num_classes} classes")


def classes_per_client(
    labels: Any,
    num_clients: int,
    *,
    k: int = 2,
    seed: int | None = 0,
    spill_over: bool = False,
) -> list[np.ndarray]:
    """Extreme label skew: each client holds exactly ``k`` distinct classes.

    Default (``spill_over=False``): clients are visited in random order and each takes the
    ``k`` classes currently held by the fewest clients (ties broken at random), so every class
    is held by at least one client and the number of holders of any two classes differs by at
    most 1. Each class's samples are then shuffled and shared evenly among its holders
    (sizes differ by at most 1). Every sample is assigned exactly once and every client holds
    exactly ``k`` classes.

    ``spill_over=True`` reproduces the seed article's original behaviour: the samples are
    sorted by label and cut into ``num_clients * k`` equal quotas; quota ``j`` goes to client
    ``perm[j % num_clients]`` (``perm`` a random permutation of the clients), so a client's
    ``k`` quotas lie ``n / k`` samples apart in the label-sorted stream. Where a quota runs
    past the end of a class it *spills over* into the next class, so some clients hold
    ``k + 1`` (or more) classes, the extra ones often with only a handful of samples (the
    seed's "outliers"); with unbalanced classes two quotas can also fall in the same class,
    giving fewer than ``k``. Every sample is still assigned exactly once.

    Parameters
    ----------
    labels:
        1-D non-negative integer label array.
    num_clients:
        number of clients, ``1 <= num_clients <= n``.
    k:
        classes per client, ``1 <= k <= number of classes``.
    seed:
        seed for ``numpy.random.default_rng``.
    spill_over:
        reproduce the seed's quota-based split with its outliers (see above).

    Raises
    ------
    ValueError
        if ``num_clients * k`` is smaller than the number of classes (some class would be held
        by no client and its samples dropped), or (default mode) if a class has fewer samples
        than the clients that must share it.

    Example
    -------
    >>> labels = np.repeat(np.arange(10), 6)        # 10 classes x 6 samples
    >>> parts = classes_per_client(labels, 5, k=2, seed=0)
    >>> [len(np.unique(labels[p])) for p in parts]
    [2, 2, 2, 2, 2]
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    num_clients = check_num_clients(num_clients, n)
    order, classes, class_counts = label_groups(labels)
    num_classes = classes.shape[0]
    k = _check_k(k, num_classes)
    rng = np.random.default_rng(check_seed(seed))
    spill_over = check_bool("spill_over", spill_over)
    if num_clients * k < num_classes:
        raise ValueError(
            f"num_clients={num_clients} with k={k} is invalid: expected num_clients * k >= "
            f"{num_classes} (the number of classes), otherwise some class is held by no "
            f"client and its samples are dropped."
        )
    if spill_over:
        num_quotas = num_clients * k
        if num_quotas > n:
            raise ValueError(
                f"k={k} is invalid: expected num_clients * k <= {n} (the number of samples) "
                f"with spill_over=True."
            )
        quota_sizes = np.full(num_quotas, n // num_quotas, dtype=np.int64)
        quota_sizes[: n % num_quotas] += 1
        perm = rng.permutation(num_clients)
        owner_of_quota = perm[np.arange(num_quotas) % num_clients]
        owner = np.empty(n, dtype=np.int64)
        owner[order] = np.repeat(owner_of_quota, quota_sizes)
        return group_by_owner(owner, num_clients)

    max_holders = -(-num_clients * k // num_classes)  # ceil
    smallest = int(class_counts.min())
    if smallest < max_holders:
        raise ValueError(
            f"num_clients={num_clients} with k={k} is invalid: up to {max_holders} clients "
            f"share each class but class {int(classes[class_counts.argmin()])} has only "
            f"{smallest} samples; expected num_clients * k <= {smallest * num_classes} "
            f"(use fewer clients or a smaller k)."
        )
    holds = np.zeros((num_clients, num_classes), dtype=bool)
    holders = np.zeros(num_classes, dtype=np.int64)
    for i in rng.permutation(num_clients):
        pick = np.lexsort(np.stack([rng.random(num_classes), holders]))[:k]
        holds[i, pick] = True
        holders[pick] += 1
    counts = np.zeros((num_clients, num_classes), dtype=np.int64)
    for c in range(num_classes):
        who = np.flatnonzero(holds[:, c])
        share = np.full(who.size, class_counts[c] // who.size, dtype=np.int64)
        share[rng.permutation(who.size)[: class_counts[c] % who.size]] += 1
        counts[who, c] = share
    return group_by_owner(owner_from_counts(order, class_counts, counts, rng), num_clients)


class ClassesPerClient(Partitioner):
    """Configured :func:`classes_per_client`.

    Example
    -------
    >>> ClassesPerClient(k=3)
    ClassesPerClient(k=3, seed=0, spill_over=False)
    """

    name = "classes_per_client"
    _function = staticmethod(classes_per_client)

    def __init__(self, *, k: int = 2, seed: int | None = 0, spill_over: bool = False) -> None:
        super().__init__(k=k, seed=seed, spill_over=spill_over)

    def _check(self) -> None:
        _check_k(self._params["k"])
        check_seed(self._params["seed"])
        check_bool("spill_over", self._params["spill_over"])
