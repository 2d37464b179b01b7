"""Dirichlet label skew (NIID-Bench ``noniid-labeldir``) with a bounded, never-hanging retry."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Partitioner
from ._utils import group_by_owner, label_groups, owner_from_counts
from ._validate import (
    as_labels,
    check_float,
    check_int,
    check_min_size_feasible,
    check_num_clients,
    check_seed,
)

__all__ = ["Dirichlet", "dirichlet"]

DEFAULT_MAX_TRIES = 1000


def _check_params(alpha: Any, min_size: Any, max_tries: Any) -> tuple[float, int, int]:
    alpha = check_float("alpha", alpha, lo=0.0, why="the Dirichlet concentration")
    min_size = check_int("min_size", min_size, lo=0)
    max_tries = check_int("max_tries", max_tries, lo=1)
    return alpha, min_size, max_tries


def _draw_counts(
    class_counts: np.ndarray,
    num_clients: int,
    alpha: float,
    cap: float,
    rng: np.random.Generator,
    batch: int,
) -> np.ndarray:
    """``batch`` independent NIID-Bench draws of the count matrix: shape (batch, clients, classes).

    ``Dir(alpha)`` rows are drawn as gamma variates (normalised below), for all tries and
    classes at once; per class (in label order) the cap mask and renormalisation are exactly
    NIID-Bench's ``p * (size < N / K) / sum``, and the class is cut at ``cumsum(p) * n_c``.
    """
    num_classes = class_counts.shape[0]
    gammas = rng.standard_gamma(alpha, size=(num_classes, batch, num_clients))
    counts = np.zeros((batch, num_clients, num_classes), dtype=np.int64)
    sizes = np.zeros((batch, num_clients), dtype=np.int64)
    cols = np.arange(num_clients)[None, :]
    for c in range(num_classes):
        n_c = int(class_counts[c])
        below = sizes < cap  # NIID-Bench: a client already at N / num_clients gets no more
        p = gammas[c] * below
        s = p.sum(axis=1)
        for b in np.flatnonzero(~(s > 0)):  # all mass underflowed (tiny alpha):
            p[b] = 0.0  # the alpha -> 0 limit, everything to one eligible client
            p[b, rng.choice(np.flatnonzero(below[b]))] = 1.0
            s[b] = 1.0
        cs = np.cumsum(p, axis=1) / s[:, None]
        # no rounding spill onto the trailing zero-probability clients
        last = num_clients - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
        cs[cols >= last[:, None]] = 1.0
        cuts = (cs[:, :-1] * n_c).astype(np.int64)
        col = np.diff(
            cuts, axis=1, prepend=np.zeros((batch, 1), np.int64), append=np.full((batch, 1), n_c)
        )
        counts[:, :, c] = col
        sizes += col
    return counts


def dirichlet(
    labels: Any,
    num_clients: int,
    *,
    alpha: float,
    min_size: int = 10,
    max_tries: int = DEFAULT_MAX_TRIES,
    seed: int | None = 0,
) -> list[np.ndarray]:
    """Dirichlet label skew, as NIID-Bench's ``noniid-labeldir`` (Li et al., 2022).

    For each class (in label order), proportions ``p ~ Dir(alpha)`` over the clients are drawn;
    a client already holding ``>= N / num_clients`` samples gets proportion 0 for this and
    later classes (NIID-Bench's cap), the rest are renormalised, and the class's shuffled
    samples are cut at ``cumsum(p) * n_c``. The whole draw is repeated until every client
    holds at least ``min_size`` samples. Small ``alpha`` (e.g. 0.1) gives few classes per
    client; large ``alpha`` (e.g. 100) is close to IID. Every sample is assigned exactly once.

    Unlike NIID-Bench and FedLab (whose ``while min_size < 10`` loops can spin forever), this
    **never hangs**: each try only draws the small count matrix (no index shuffling; tries are
    vectorised in batches of up to 64), at most ``max_tries`` tries are made, and an
    infeasible request raises ``ValueError`` at once (``min_size * num_clients > N``) or after
    ``max_tries`` failed tries. Indices are only shuffled and split once, vectorised per class,
    for the accepted draw.

    Parameters
    ----------
    labels:
        1-D non-negative integer label array.
    num_clients:
        number of clients, ``1 <= num_clients <= n``.
    alpha:
        Dirichlet concentration, ``> 0`` (NIID-Bench calls it ``beta``).
    min_size:
        minimum samples per client, ``0 <= min_size * num_clients <= n`` (NIID-Bench: 10).
    max_tries:
        maximum number of draws before giving up with ``ValueError``.
    seed:
        seed for ``numpy.random.default_rng``.

    Example
    -------
    >>> labels = np.repeat(np.arange(10), 1000)
    >>> parts = dirichlet(labels, 10, alpha=0.5, seed=0)
    >>> sum(len(p) for p in parts), min(len(p) for p in parts) >= 10
    (10000, True)
    """
    labels = as_labels(labels)
    n = labels.shape[0]
    num_clients = check_num_clients(num_clients, n)
    alpha, min_size, max_tries = _check_params(alpha, min_size, max_tries)
    check_min_size_feasible(min_size, num_clients, n)
    rng = np.random.default_rng(check_seed(seed))
    order, _, class_counts = label_groups(labels)
    cap = n / num_clients
    # tries are drawn in full batches (vectorised) whose size depends only on the shape, so the
    # result is a deterministic function of labels, num_clients, alpha, min_size and seed
    # (max_tries only decides when to give up)
    batch = int(np.clip(1_000_000 // (num_clients * class_counts.shape[0]), 1, 64))
    best, tried = -1, 0
    while tried < max_tries:
        counts = _draw_counts(class_counts, num_clients, alpha, cap, rng, batch)
        smallest = counts.sum(axis=2).min(axis=1)[: max_tries - tried]
        ok = np.flatnonzero(smallest >= min_size)
        if ok.size:
            owner = owner_from_counts(order, class_counts, counts[ok[0]], rng)
            return group_by_owner(owner, num_clients)
        best = max(best, int(smallest.max()))
        tried += smallest.size
    raise ValueError(
        f"min_size={min_size} is invalid for alpha={alpha:g}, num_clients={num_clients}, "
        f"n={n}: no draw in max_tries={max_tries} gave every client >= {min_size} samples "
        f"(the best draw's smallest client had {best}). Expected a smaller min_size, a larger "
        f"alpha, fewer clients or more max_tries."
    )


class Dirichlet(Partitioner):
    """Configured :func:`dirichlet`.

    Example
    -------
    >>> Dirichlet(alpha=0.1)
    Dirichlet(alpha=0.1, min_size=10, max_tries=1000, seed=0)
    """

    name = "dirichlet"
    _function = staticmethod(dirichlet)

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        min_size: int = 10,
        max_tries: int = DEFAULT_MAX_TRIES,
        seed: int | None = 0,
    ) -> None:
        super().__init__(alpha=alpha, min_size=min_size, max_tries=max_tries, seed=seed)

    def _check(self) -> None:
        p = self._params
        _check_params(p["alpha"], p["min_size"], p["max_tries"])
        check_seed(p["seed"])
