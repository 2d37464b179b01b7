"""Flower Datasets' size partitioners: client sizes grow linearly, quadratically or exponentially."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import apportion, shuffled_split
from ._validate import check_callable, check_num_clients, check_seed, num_samples

__all__ = ["Exponential", "Linear", "Square", "exponential", "linear", "square", "sized"]


def sized(
    labels_or_n: Any,
    num_clients: int,
    *,
    weight_fn: Callable[[np.ndarray], np.ndarray],
    seed: int | None = 0,
) -> list[np.ndarray]:
    """Client ``i`` gets a share of the samples proportional to ``weight_fn(i)``.

    Sizes are the largest-remainder rounding of ``n * w_i / sum(w)`` (they sum to ``n``
    exactly). A client whose share rounds to 0 gets one sample taken from the largest client,
    so no client is empty (then sizes are proportional only up to that floor). Which samples a
    client gets is uniformly random (shuffled, not contiguous). Every sample is assigned
    exactly once.

    Parameters
    ----------
    labels_or_n:
        a 1-D non-negative integer label array or the number of samples ``n``.
    num_clients:
        number of clients, ``1 <= num_clients <= n``.
    weight_fn:
        maps the client ids ``np.arange(num_clients)`` to positive weights.
    seed:
        seed for ``numpy.random.default_rng``.

    Example
    -------
    >>> [len(p) for p in sized(100, 2, weight_fn=lambda i: i + 1.0)]
    [33, 67]
    """
    n = num_samples(labels_or_n)
    num_clients = check_num_clients(num_clients, n)
    rng = np.random.default_rng(check_seed(seed))
    check_callable("weight_fn", weight_fn, "a function of the client ids np.arange(num_clients) "
                   "returning one weight >= 0 per client, e.g. lambda i: i + 1.0")
    weights = np.asarray(weight_fn(np.arange(num_clients)), dtype=np.float64)
    if (
        weights.shape != (num_clients,)
        or not np.all(np.isfinite(weights))
        or np.any(weights < 0)
        or weights.sum() <= 0
    ):
        raise ValueError(
            "weight_fn is invalid: expected finite weights >= 0 (not all 0), one per client."
        )
    sizes = apportion(n, weights)
    for e in np.flatnonzero(sizes == 0):
        sizes[np.argmax(sizes)] -= 1
        sizes[e] += 1
    return shuffled_split(n, sizes, rng)


def _linear(i: np.ndarray) -> np.ndarray:
    return i + 1.0


def _square(i: np.ndarray) -> np.ndarray:
    return (i + 1.0) ** 2


def _exponential(i: np.ndarray) -> np.ndarray:
    # e^(i+1), rescaled by e^-(max) so that thousands of clients do not overflow
    return np.exp((i + 1.0) - (i.max() + 1.0 if i.size else 0.0))


def linear(labels_or_n: Any, num_clients: int, *, seed: int | None = 0) -> list[np.ndarray]:
    """Client ``i``'s size is proportional to ``i + 1`` (Flower's ``LinearPartitioner``).

    See :func:`sized` for rounding, the no-empty-client rule and shuffling.

    Example
    -------
    >>> [len(p) for p in linear(60, 3)]
    [10, 20, 30]
    """
    return sized(labels_or_n, num_clients, weight_fn=_linear, seed=seed)


def square(labels_or_n: Any, num_clients: int, *, seed: int | None = 0) -> list[np.ndarray]:
    """Client ``i``'s size is proportional to ``(i + 1) ** 2`` (Flower's ``SquarePartitioner``).

    Example
    -------
    >>> [len(p) for p in square(140, 3)]
    [10, 40, 90]
    """
    return sized(labels_or_n, num_clients, weight_fn=_square, seed=seed)


def exponential(labels_or_n: Any, num_clients: int, *, seed: int | None = 0) -> list[np.ndarray]:
    """Client ``i``'s size is proportional to ``e ** (i + 1)`` (Flower's ``ExponentialPartitioner``).

    With many clients the first ones' shares round to 0; they get one sample each (taken
    from the largest client), see :func:`sized`.

    Example
    -------
    >>> [len(p) for p in exponential(1000, 3)]
    [90, 245, 665]
    """
    return sized(labels_or_n, num_clients, weight_fn=_exponential, seed=seed)


class _SizePartitioner(Partitioner):
    def __init__(self, *, seed: int | None = 0) -> None:
        super().__init__(seed=seed)

    def _check(self) -> None:
        check_seed(self._params["seed"])


class Linear(_SizePartitioner):
    """Configured :func:`linear`. Example: ``Linear(seed=0)(labels, 10)``."""

    name = "linear"
    _function = staticmethod(linear)


class Square(_SizePartitioner):
    """Configured :func:`square`. Example: ``Square(seed=0)(labels, 10)``."""

    name = "square"
    _function = staticmethod(square)


class Exponential(_SizePartitioner):
    """Configured :func:`exponential`. Example: ``Exponential(seed=0)(labels, 10)``."""

    name = "exponential"
    _function = staticmethod(exponential)
