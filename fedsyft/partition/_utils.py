"""Small vectorised building blocks shared by the partitioners (private)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "apportion",
    "cover_all_classes",
    "group_by_owner",
    "label_groups",
    "owner_from_counts",
    "safe_dirichlet",
    "shuffled_split",
]


def _small_int_dtype(max_value: int) -> type[np.signedinteger]:
    """The smallest signed dtype holding ``max_value`` (numpy radix-sorts 16-bit keys)."""
    if max_value < 2**15:
        return np.int16
    if max_value < 2**31:
        return np.int32
    return np.int64


def label_groups(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable label sort.

    Returns ``(order, classes, counts)``: ``order`` is ``argsort(labels, kind="stable")`` (so
    ``order[start_c : start_c + counts[c]]`` are the indices of class ``classes[c]`` in ascending
    order), ``classes`` the distinct labels present (ascending) and ``counts`` their sizes.
    """
    n = labels.shape[0]
    mx = int(labels.max())
    order = np.argsort(labels.astype(_small_int_dtype(mx), copy=False), kind="stable")
    if mx <= 4 * n + 1024:
        bc = np.bincount(labels)
        classes = np.flatnonzero(bc)
        counts = bc[classes]
    else:
        classes, counts = np.unique(labels, return_counts=True)
    return order.astype(np.int64, copy=False), classes.astype(np.int64), counts.astype(np.int64)


def group_by_owner(owner: np.ndarray, num_clients: int) -> list[np.ndarray]:
    """Turn an owner-per-sample vector into one ascending int64 index array per client."""
    key = owner.astype(_small_int_dtype(num_clients), copy=False)
    order = np.argsort(key, kind="stable").astype(np.int64, copy=False)
    sizes = np.bincount(owner, minlength=num_clients)
    return list(np.split(order, np.cumsum(sizes)[:-1]))


def shuffled_split(n: int, sizes: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Assign ``n`` samples at random to clients with exactly ``sizes[i]`` samples each."""
    num_clients = len(sizes)
    dtype = _small_int_dtype(num_clients)
    owner = rng.permutation(np.repeat(np.arange(num_clients, dtype=dtype), sizes))
    return group_by_owner(owner, num_clients)


def owner_from_counts(
    order: np.ndarray, class_counts: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Owner vector from a (clients x classes) count matrix whose column sums are class sizes.

    Within each class, which sample goes to which client is uniformly random.
    """
    num_clients = counts.shape[0]
    dtype = _small_int_dtype(num_clients)
    owner = np.empty(order.shape[0], dtype=dtype)
    ids = np.arange(num_clients, dtype=dtype)
    start = 0
    for c, n_c in enumerate(class_counts):
        seg = order[start : start + n_c]
        owner[seg] = rng.permutation(np.repeat(ids, counts[:, c]))
        start += n_c
    return owner


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder (Hamilton) rounding of ``total * weights / weights.sum()``.

    The result is non-negative, sums to ``total`` exactly and is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    quota = total * (w / w.sum())
    base = np.floor(quota).astype(np.int64)
    rest = int(total - base.sum())
    if rest > 0:
        # stable: ties go to the lower client index
        top = np.argsort(-(quota - base), kind="stable")[:rest]
        base[top] += 1
    return base


def safe_dirichlet(rng: np.random.Generator, alpha: float, size: int) -> np.ndarray:
    """``rng.dirichlet([alpha] * size)`` that never returns NaN or an all-zero vector.

    For very small ``alpha`` the gamma draws can underflow; the limit of Dir(alpha) as
    ``alpha -> 0`` puts all mass on one coordinate, which is what we return then.
    """
    p = rng.dirichlet(np.full(size, alpha))
    s = p.sum()
    if not np.isfinite(s) or s <= 0:
        p = np.zeros(size)
        p[rng.integers(size)] = 1.0
    return p / p.sum()


def cover_all_classes(
    holds: np.ndarray, rng: np.random.Generator, frozen: np.ndarray | None = None
) -> np.ndarray:
    """Repair a boolean (clients x classes) holding matrix so every class has a holder.

    For each class held by nobody, one randomly chosen (client, class) entry whose class has
    at least two holders (and that is not ``frozen``) is swapped to the missing class. Row sums
    (classes per client) are unchanged. Requires ``holds.sum() >= holds.shape[1]``.
    """
    holds = holds.copy()
    for c in rng.permutation(holds.shape[1]):
        if holds[:, c].any():
            continue
        movable = holds & (holds.sum(axis=0) >= 2)[None, :]
        if frozen is not None:
            movable &= ~frozen
        rows, cols = np.nonzero(movable)
        if rows.size == 0:  # pragma: no cover - excluded by the callers' checks
            raise RuntimeError("cannot cover every class; please report this as a bug")
        j = rng.integers(rows.size)
        holds[rows[j], cols[j]] = False
        holds[rows[j], c] = True
    return holds
