"""IID partitioning: a uniformly random, equal-size split."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import shuffled_split
from ._validate import check_num_clients, check_seed, num_samples

__all__ = ["IID", "iid"]


def iid(labels_or_n: Any, num_clients: int, *, seed: int | None = 0) -> list[np.ndarray]:
    """Split samples uniformly at random into ``num_clients`` near-equal parts.

    The assignment is shuffled (a contiguous split of an ordered dataset is *not* IID; this
    was a reported bug in Flower's early IID partitioner). Client sizes differ by at most 1
    (the first ``n % num_clients`` clients get one extra sample). Every sample is assigned
    exactly once; each client's indices are returned in ascending order.

    Parameters
    ----------
    labels_or_n:
        a 1-D non-negative integer label array, or the number of samples ``n``
        (labels do not matter for IID).
    num_clients:
        number of clients, ``1 <= num_clients <= n``.
    seed:
        seed for ``numpy.random.default_rng`` (no global random state is touched).

    Returns
    -------
    list of ``num_clients`` int64 index arrays.

    Example
    -------
    >>> parts = iid(10, 3, seed=0)
    >>> [len(p) for p in parts]
    [4, 3, 3]
    >>> sorted(np.concatenate(parts).tolist()) == list(range(10))
    True
    """
    n = num_samples(labels_or_n)
    num_clients = check_num_clients(num_clients, n)
    rng = np.random.default_rng(check_seed(seed))
    sizes = np.full(num_clients, n // num_clients, dtype=np.int64)
    sizes[: n % num_clients] += 1
    return shuffled_split(n, sizes, rng)


class IID(Partitioner):
    """Configured :func:`iid`: ``IID(seed=0)(labels, num_clients)``.

    Example
    -------
    >>> IID(seed=1)
    IID(seed=1)
    >>> [len(p) for p in IID()(np.zeros(7, dtype=np.int64), 2)]
    [4, 3]
    """

    name = "iid"
    _function = staticmethod(iid)

    def __init__(self, *, seed: int | None = 0) -> None:
        super().__init__(seed=seed)

    def _check(self) -> None:
        check_seed(self._params["seed"])
