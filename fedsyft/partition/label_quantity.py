"""Quantity-based label imbalance ``#C=k`` (NIID-Bench ``noniid-#label{k}``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import cover_all_classes, group_by_owner, label_groups, owner_from_counts
from ._validate import as_labels, check_int, check_num_clients, check_seed

__all__ = ["LabelQuantity", "label_quantity"]


def label_quantity(
    labels: Any, num_clients: int, *, k: int, seed: int | None = 0
) -> list[np.ndarray]:
    """``#C=k`` label skew as NIID-Bench does it.

    Client ``i`` holds class ``i mod C`` (``C`` = number of classes present, in label order)
    plus ``k - 1`` other distinct classes drawn at random. Each class's shuffled samples are
    split evenly (``np.array_split``) among the clients holding it. Every sample is assigned
    exactly once.

    Classes held by nobody: NIID-Bench crashes there (``np.array_split(idx, 0)``). Here a class
    nobody drew is swapped in for one of some client's *random* extra classes that has two or
    more holders (client ``i`` always keeps class ``i mod C`` and still holds ``k`` classes), so
    no sample is lost. If ``num_clients * k < C`` no assignment can cover every class and a
    ``ValueError`` is raised rather than silently dropping samples.

    A class with fewer samples than holders gives some holders no sample of it (then such a
    client has fewer than ``k`` classes); this only happens on tiny inputs.

    Parameters
    ----------
    labels:
        1-D non-negative integer label array.
    num_clients:
        number of clients, ``1 <= num_clients <= n``, ``num_clients * k >= C``.
    k:
        classes per client, ``1 <= k <= C``.
    seed:
        seed for ``numpy.random.default_rng``.

    Example
    -------
    >>> labels = np.repeat(np.arange(10), 50)
    >>> parts = label_quantity(labels, 10, k=2, seed=0)
    >>> [len(np.unique(labels[p])) for p in parts]
    [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    >>> 0 in labels[parts[0]], 3 in labels[parts[3]]
    (True, True)
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    num_clients = check_num_clients(num_clients, n)
    order, classes, class_counts = label_groups(labels)
    num_classes = classes.shape[0]
    k = check_int("k", k, lo=1, hi=num_classes, why=f"the labels have {num_classes} classes")
    if num_clients * k < num_classes:
        raise ValueError(
            f"num_clients={num_clients} with k={k} is invalid: expected num_clients * k >= "
            f"{num_classes} (the number of classes), otherwise some class is held by no client "
            f"and its samples are lost (NIID-Bench crashes in this case)."
        )
    rng = np.random.default_rng(check_seed(seed))
    own = np.arange(num_clients) % num_classes
    frozen = np.zeros((num_clients, num_classes), dtype=bool)
    frozen[np.arange(num_clients), own] = True
    # k - 1 random extra classes per client, distinct from its own class
    keys = rng.random((num_clients, num_classes))
    keys[frozen] = np.inf
    rank = np.argsort(keys, axis=1).argsort(axis=1)
    holds = frozen | (rank < k - 1)
    holds = cover_all_classes(holds, rng, frozen=frozen)
    counts = np.zeros((num_clients, num_classes), dtype=np.int64)
    for c in range(num_classes):
        who = np.flatnonzero(holds[:, c])
        q, r = divmod(int(class_counts[c]), who.size)
        counts[who, c] = q + (np.arange(who.size) < r)  # as np.array_split
    return group_by_owner(owner_from_counts(order, class_counts, counts, rng), num_clients)


class LabelQuantity(Partitioner):
    """Configured :func:`label_quantity`.

    Example
    -------
    >>> LabelQuantity(k=3)
    LabelQuantity(k=3, seed=0)
    """

    name = "label_quantity"
    _function = staticmethod(label_quantity)

    def __init__(self, *, k: int = 2, seed: int | None = 0) -> None:
        super().__init__(k=k, seed=seed)

    def _check(self) -> None:
        check_int("k", self._params["k"], lo=1)
        check_seed(self._params["seed"])
