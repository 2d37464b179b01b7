"""Quantity skew: client sizes ~ Dir(beta) (NIID-Bench ``iid-diff-quantity``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import safe_dirichlet, shuffled_split
from ._validate import (
    check_float,
    check_int,
    check_min_size_feasible,
    check_num_clients,
    check_seed,
    num_samples,
)

__all__ = ["QuantitySkew", "quantity_skew"]


def _check_params(beta: Any, min_size: Any) -> tuple[float, int]:
    beta = check_float("beta", beta, lo=0.0, why="the Dirichlet concentration")
    min_size = check_int("min_size", min_size, lo=0)
    return beta, min_size


def quantity_skew(
    labels_or_n: Any, num_clients: int, *, beta: float, min_size: int = 10, seed: int | None = 0
) -> list[np.ndarray]:
    """Quantity skew: random client sizes, samples assigned uniformly at random.

    Every client first gets ``min_size`` samples; the remaining ``n - min_size * num_clients``
    are shared out with proportions ``p ~ Dir(beta)`` (multinomially, so sizes sum to ``n``
    exactly). Which samples a client gets is uniformly random, so label distributions stay
    IID in expectation. Small ``beta`` gives very unequal sizes.

    NIID-Bench's ``iid-diff-quantity`` instead redraws ``p`` until ``min(p) * n >= 10`` (a
    ``while`` loop that can run forever for small ``beta`` or many clients); the construction
    here gives the same guarantee in one draw and never hangs. An infeasible ``min_size``
    (``min_size * num_clients > n``) raises ``ValueError``. Every sample is assigned
    exactly once.

    Parameters
    ----------
    labels_or_n:
        a 1-D non-negative integer label array or the number of samples ``n``.
    num_clients:
        number of clients, ``1 <= num_clients <= n``.
    beta:
        Dirichlet concentration of the size proportions, ``> 0``.
    min_size:
        minimum samples per client, ``0 <= min_size * num_clients <= n``.
    seed:
        seed for ``numpy.random.default_rng``.

    Example
    -------
    >>> parts = quantity_skew(1000, 4, beta=0.5, seed=0)
    >>> sum(len(p) for p in parts), min(len(p) for p in parts) >= 10
    (1000, True)
    """
    n = num_samples(labels_or_n)
    num_clients = check_num_clients(num_clients, n)
    beta, min_size = _check_params(beta, min_size)
    check_min_size_feasible(min_size, num_clients, n)
    rng = np.random.default_rng(check_seed(seed))
    rest = n - min_size * num_clients
    sizes = min_size + rng.multinomial(rest, safe_dirichlet(rng, beta, num_clients))
    return shuffled_split(n, sizes, rng)


class QuantitySkew(Partitioner):
    """Configured :func:`quantity_skew`.

    Example
    -------
    >>> QuantitySkew(beta=0.1)
    QuantitySkew(beta=0.1, min_size=10, seed=0)
    """

    name = "quantity_skew"
    _function = staticmethod(quantity_skew)

    def __init__(self, *, beta: float = 0.5, min_size: int = 10, seed: int | None = 0) -> None:
        super().__init__(beta=beta, min_size=min_size, seed=seed)

    def _check(self) -> None:
        _check_params(self._params["beta"], self._params["min_size"])
        check_seed(self._params["seed"])
