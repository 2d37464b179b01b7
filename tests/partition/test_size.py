import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import (
    Exponential,
    Linear,
    Square,
    exponential,
    get_partitioner,
    linear,
    sized,
    square,
)

from ._helpers import assert_exactly_once, same


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 3000), fn=st.sampled_from([linear, square, exponential]),
       seed=st.integers(0, 2**32))
def test_size_properties(data, n, fn, seed):
    k = data.draw(st.integers(1, min(n, 60)))
    parts = fn(n, k, seed=seed)
    assert len(parts) == k
    assert_exactly_once(parts, n)
    sizes = np.array([len(p) for p in parts])
    assert sizes.min() >= 1
    assert (np.diff(sizes) >= -1).all() or sizes.min() == 1  # non-decreasing up to the floor
    assert same(parts, fn(n, k, seed=seed))


def test_exact_proportions():
    assert [len(p) for p in linear(5500, 10)] == [100 * (i + 1) for i in range(10)]
    assert [len(p) for p in square(385 * 4, 10)] == [4 * (i + 1) ** 2 for i in range(10)]
    w = np.exp(np.arange(1, 6))
    sizes = np.array([len(p) for p in exponential(100_000, 5)])
    assert np.abs(sizes - 100_000 * w / w.sum()).max() < 1


def test_exponential_many_clients_no_overflow_no_empty():
    parts = exponential(10_000, 1000)
    assert_exactly_once(parts, 10_000)
    assert min(len(p) for p in parts) == 1


def test_shuffled_assignment():
    parts = linear(1000, 4, seed=0)
    assert not np.array_equal(parts[0], np.arange(len(parts[0])))
    assert not same(parts, linear(1000, 4, seed=1))


def test_classes_and_sized():
    for cls, fn in ((Linear, linear), (Square, square), (Exponential, exponential)):
        assert repr(cls(seed=2)) == f"{cls.__name__}(seed=2)"
        assert same(cls(seed=2)(np.zeros(300, dtype=np.int64), 5), fn(300, 5, seed=2))
        assert get_partitioner(fn.__name__) == cls()
    assert [len(p) for p in sized(10, 2, weight_fn=lambda i: np.array([1.0, 4.0]))] == [2, 8]
    with pytest.raises(ValueError, match="weight_fn"):
        sized(10, 2, weight_fn=lambda i: np.array([0.0, 0.0]))
