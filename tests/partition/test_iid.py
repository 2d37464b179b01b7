import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import IID, iid

from ._helpers import assert_exactly_once, label_arrays, same


@settings(max_examples=60, deadline=None)
@given(data=st.data(), labels=label_arrays(max_size=400), seed=st.integers(0, 2**32))
def test_iid_properties(data, labels, seed):
    n = len(labels)
    k = data.draw(st.integers(1, n))
    parts = iid(labels, k, seed=seed)
    assert len(parts) == k
    assert_exactly_once(parts, n)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert all(np.all(np.diff(p) > 0) for p in parts)  # ascending
    assert same(parts, iid(labels, k, seed=seed))
    assert same(parts, iid(n, k, seed=seed))  # a count works the same as labels


@settings(max_examples=25, deadline=None)
@given(n=st.integers(30, 500), k=st.integers(2, 10), seed=st.integers(0, 1000))
def test_iid_different_seeds_differ(n, k, seed):
    assert not same(iid(n, k, seed=seed), iid(n, k, seed=seed + 1))


def test_iid_is_shuffled_not_contiguous():
    parts = iid(1000, 4, seed=0)
    assert not np.array_equal(parts[0], np.arange(250))
    # every client sees samples from all over the dataset
    assert all(p.min() < 100 and p.max() > 900 for p in parts)


def test_iid_accepts_torch_and_lists():
    y = torch.arange(10) % 3
    assert same(iid(y, 3), iid(y.numpy(), 3))
    assert same(iid(list(range(10)), 3), iid(10, 3))
    assert same(iid(np.int64(10), 3), iid(10, 3))


def test_iid_touches_no_global_random_state():
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    iid(1000, 7, seed=5)
    IID(seed=6)(np.zeros(50, dtype=np.int64), 5)
    assert np.array_equal(np.random.get_state()[1], state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_iid_class():
    p = IID(seed=3)
    assert repr(p) == "IID(seed=3)"
    assert p == IID(seed=3) and p != IID(seed=4)
    assert same(p(np.arange(20) % 4, 3), iid(20, 3, seed=3))


@pytest.mark.parametrize("bad", [0, -1, 11, 2.0, "3", None, True])
def test_iid_bad_num_clients(bad):
    with pytest.raises(ValueError, match="num_clients"):
        iid(10, bad)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_iid_bad_count(bad):
    with pytest.raises(ValueError, match="labels_or_n"):
        iid(bad, 1)
