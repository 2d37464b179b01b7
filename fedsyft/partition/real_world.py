"""The "real-world" split of the article "Preserving Data Privacy in Deep Learning" (part 2): random numbers of classes and random sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import cover_all_classes, group_by_owner, label_groups, owner_from_counts
from ._validate import as_labels, check_float, check_int, check_num_clients, check_seed

__all__ = ["RealWorld", "real_world"]


#: The largest ``size_sigma`` (``exp(sigma * z)`` stays finite for any normal draw).
MAX_SIZE_SIGMA = 50.0


def _check_params(min_classes: Any, max_classes: Any, size_sigma: Any) -> tuple[int, int, float]:
    min_classes = check_int("min_classes", min_classes, lo=1)
    max_classes = check_int(
        "max_classes", max_classes, lo=min_classes, why="at least min_classes"
    )
    size_sigma = check_float("size_sigma", size_sigma, lo=0.0, lo_inclusive=True, hi=MAX_SIZE_SIGMA,
                             why="the sizes are lognormal; larger values overflow")
    return min_classes, max_classes, size_sigma


def real_world(
    labels: Any,
    num_clients: int,
    *,
    seed: int | None = 0,
    min_classes: int = 1,
    max_classes: int = 9,
    size_sigma: float = 1.0,
) -> list[np.ndarray]:
    """A "real-world" split: each client has a random number of classes and a random size.

    1. Client ``i`` draws a number of classes ``c_i`` uniformly from
       ``[min_classes, max_classes]`` (both clipped to the number of classes present ``C``)
       and ``c_i`` distinct classes at random. If the draws hold fewer than ``C`` class slots
       in total, random clients get one more class until they do; then every class that
       nobody drew is swapped in for a class held by two or more clients, so every class has
       a holder (no sample is lost) and each client keeps its ``c_i``.
    2. Client ``i`` draws a size weight ``w_i = exp(size_sigma * N(0, 1))`` (log-normal, so
       sizes vary by a factor of about ``e**(2 * size_sigma)``; ``0`` gives equal weights).
    3. Each class's samples are shared among its holders: one sample each, the rest
       multinomially in proportion to the holders' weights.
    4. A client left empty (only possible when classes have fewer samples than holders) takes
       one sample from the largest client, so no client is ever empty.

    Compared with that article's code this never crashes (on MNIST labels over 300 seeds it
    raised IndexError in 12.7% of runs at 10 clients, 1% at 20) and assigns every sample
    exactly once; like it, no client is ever left empty. On very small inputs
    (a class with fewer samples than holders) a client may hold fewer classes than drawn.

    Parameters
    ----------
    labels:
        1-D non-negative integer label array.
    num_clients:
        number of clients, ``1 <= num_clients <= n`` and
        ``num_clients * max_classes >= C`` (else some class would be dropped).
    seed:
        seed for ``numpy.random.default_rng``.
    min_classes, max_classes:
        range of the number of classes per client (the article used 1 to 9).
    size_sigma:
        spread of the log-normal client size weights, ``>= 0``.

    Example
    -------
    >>> labels = np.repeat(np.arange(10), 100)
    >>> parts = real_world(labels, 5, seed=0)
    >>> sum(len(p) for p in parts), min(len(p) for p in parts) > 0
    (1000, True)
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    num_clients = check_num_clients(num_clients, n)
    min_classes, max_classes, size_sigma = _check_params(min_classes, max_classes, size_sigma)
    rng = np.random.default_rng(check_seed(seed))
    order, classes, class_counts = label_groups(labels)
    num_classes = classes.shape[0]
    hi = min(max_classes, num_classes)
    lo = min(min_classes, hi)
    if num_clients * hi < num_classes:
        raise ValueError(
            f"max_classes={max_classes} is invalid with num_clients={num_clients}: expected "
            f"num_clients * max_classes >= {num_classes} (the number of classes), otherwise "
            f"some class is held by no client and its samples are dropped."
        )

    # 1. how many and which classes
    n_classes = rng.integers(lo, hi + 1, size=num_clients)
    while n_classes.sum() < num_classes:
        can_grow = np.flatnonzero(n_classes < hi)
        n_classes[rng.choice(can_grow)] += 1
    rank = np.argsort(rng.random((num_clients, num_classes)), axis=1).argsort(axis=1)
    holds = cover_all_classes(rank < n_classes[:, None], rng)

    # 2. sizes, 3. per-class shares
    weights = np.exp(size_sigma * rng.standard_normal(num_clients))
    counts = np.zeros((num_clients, num_classes), dtype=np.int64)
    for c in range(num_classes):
        who = np.flatnonzero(holds[:, c])
        n_c = int(class_counts[c])
        if n_c >= who.size:
            w = weights[who]
            counts[who, c] = 1 + rng.multinomial(n_c - who.size, w / w.sum())
        else:
            counts[rng.choice(who, size=n_c, replace=False), c] = 1

    # 4. no empty client
    sizes = counts.sum(axis=1)
    for e in np.flatnonzero(sizes == 0):
        donor = int(np.argmax(sizes))
        c = int(np.argmax(counts[donor]))
        counts[donor, c] -= 1
        counts[e, c] += 1
        sizes[donor] -= 1
        sizes[e] += 1
    return group_by_owner(owner_from_counts(order, class_counts, counts, rng), num_clients)


class RealWorld(Partitioner):
    """Configured :func:`real_world`.

    Example
    -------
    >>> RealWorld(seed=3)
    RealWorld(seed=3, min_classes=1, max_classes=9, size_sigma=1.0)
    """

    name = "real_world"
    _function = staticmethod(real_world)

    def __init__(
        self,
        *,
        seed: int | None = 0,
        min_classes: int = 1,
        max_classes: int = 9,
        size_sigma: float = 1.0,
    ) -> None:
        super().__init__(
            seed=seed, min_classes=min_classes, max_classes=max_classes, size_sigma=size_sigma
        )

    def _check(self) -> None:
        p = self._params
        check_seed(p["seed"])
        _check_params(p["min_classes"], p["max_classes"], p["size_sigma"])
