"""McMahan et al. (2017) pathological non-IID: sort by label, cut into shards, deal them out."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import group_by_owner, label_groups
from ._validate import as_labels, check_int, check_num_clients, check_seed

__all__ = ["Shards", "shards"]


def shards(
    labels: Any, num_clients: int, *, shards_per_client: int = 2, seed: int | None = 0
) -> list[np.ndarray]:
    """McMahan et al. (2017) shards: sort by label, cut into shards, give each client some.

    The samples are sorted by label (stable, so ties keep dataset order), cut into
    ``num_clients * shards_per_client`` contiguous shards (sizes differ by at most 1 when
    ``n`` is not divisible), and each client receives ``shards_per_client`` shards chosen at
    random without replacement. Every sample is assigned exactly once.

    The classic setting is MNIST with 100 clients x 2 shards of 300 samples. Because class
    sizes are not multiples of the shard size, a shard can straddle two classes, so a client
    holds *at most* ``2 * shards_per_client`` classes (usually ``shards_per_client`` or fewer).

    Parameters
    ----------
    labels:
        1-D non-negative integer label array.
    num_clients:
        number of clients (``num_clients * shards_per_client <= n``).
    shards_per_client:
        shards per client, an integer ``>= 1``.
    seed:
        seed for ``numpy.random.default_rng``.

    Returns
    -------
    list of ``num_clients`` ascending int64 index arrays.

    Example
    -------
    >>> labels = np.repeat(np.arange(4), 5)          # 4 classes x 5 samples
    >>> parts = shards(labels, 2, shards_per_client=2, seed=0)
    >>> [len(p) for p in parts]
    [10, 10]
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    num_clients = check_num_clients(num_clients, n)
    spc = check_int(
        "shards_per_client",
        shards_per_client,
        lo=1,
        hi=n // num_clients,
        why=f"num_clients * shards_per_client must not exceed the {n} samples",
    )
    rng = np.random.default_rng(check_seed(seed))
    order, _, _ = label_groups(labels)
    num_shards = num_clients * spc
    shard_sizes = np.full(num_shards, n // num_shards, dtype=np.int64)
    shard_sizes[: n % num_shards] += 1
    # shard j (in label order) goes to client owner_of_shard[j]
    owner_of_shard = np.repeat(np.arange(num_clients), spc)[rng.permutation(num_shards)]
    owner = np.empty(n, dtype=np.int64)
    owner[order] = np.repeat(owner_of_shard, shard_sizes)
    return group_by_owner(owner, num_clients)


class Shards(Partitioner):
    """Configured :func:`shards`: ``Shards(shards_per_client=2, seed=0)(labels, num_clients)``.

    Example
    -------
    >>> Shards()
    Shards(shards_per_client=2, seed=0)
    """

    name = "shards"
    _function = staticmethod(shards)

    def __init__(self, *, shards_per_client: int = 2, seed: int | None = 0) -> None:
        super().__init__(shards_per_client=shards_per_client, seed=seed)

    def _check(self) -> None:
        check_int("shards_per_client", self._params["shards_per_client"], lo=1)
        check_seed(self._params["seed"])
