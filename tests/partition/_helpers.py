"""Shared strategies and checks for the partition tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def assert_exactly_once(parts: list[np.ndarray], n: int) -> None:
    """Every index in [0, n) appears exactly once; arrays are 1-D int64."""
    assert isinstance(parts, list)
    for p in parts:
        assert isinstance(p, np.ndarray) and p.dtype == np.int64 and p.ndim == 1
    allidx = np.concatenate(parts)
    assert allidx.shape[0] == n
    assert np.array_equal(np.sort(allidx), np.arange(n))


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@st.composite
def label_arrays(draw, *, min_size=1, max_size=300, max_classes=10, all_classes=False):
    """A 1-D int64 label array; with ``all_classes`` every class 0..C-1 is present."""
    num_classes = draw(st.integers(1, max_classes))
    lo = max(min_size, num_classes if all_classes else 1)
    n = draw(st.integers(lo, max(lo, max_size)))
    labels = draw(
        hnp.arrays(np.int64, n, elements=st.integers(0, num_classes - 1))
    )
    if all_classes:
        labels[:num_classes] = np.arange(num_classes)
    return labels


def mnist_train_labels() -> np.ndarray:
    from fedsyft.data import load_mnist

    return load_mnist("train")[1].numpy()


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
