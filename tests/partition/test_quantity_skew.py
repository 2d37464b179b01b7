import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import QuantitySkew, partition_report, quantity_skew

from ._helpers import assert_exactly_once, same


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 2000), beta=st.sampled_from([0.01, 0.1, 0.5, 5.0]),
       seed=st.integers(0, 2**32))
def test_quantity_skew_properties(data, n, beta, seed):
    k = data.draw(st.integers(1, min(n, 50)))
    min_size = data.draw(st.integers(0, n // k))
    parts = quantity_skew(n, k, beta=beta, min_size=min_size, seed=seed)
    assert len(parts) == k
    assert_exactly_once(parts, n)
    assert min(len(p) for p in parts) >= min_size
    assert same(parts, quantity_skew(n, k, beta=beta, min_size=min_size, seed=seed))


def test_small_beta_is_more_unequal_and_labels_stay_iid():
    labels = np.repeat(np.arange(10), 1000)
    small = [len(p) for p in quantity_skew(labels, 10, beta=0.1, seed=0)]
    large = [len(p) for p in quantity_skew(labels, 10, beta=100.0, seed=0)]
    assert np.std(small) > 5 * np.std(large)
    rep = partition_report(quantity_skew(labels, 10, beta=100.0, seed=0), labels)
    assert rep.mean_tv < 0.1


def test_never_hangs_with_tiny_beta_and_many_clients():
    parts = quantity_skew(1000, 100, beta=0.001, min_size=10, seed=0)
    assert [len(p) for p in parts].count(10) >= 90


def test_seeds_differ_and_class():
    assert not same(quantity_skew(500, 5, beta=0.5, seed=0), quantity_skew(500, 5, beta=0.5, seed=1))
    p = QuantitySkew(beta=0.2, min_size=3, seed=1)
    assert repr(p) == "QuantitySkew(beta=0.2, min_size=3, seed=1)"
    labels = np.zeros(100, dtype=np.int64)
    assert same(p(labels, 5), quantity_skew(100, 5, beta=0.2, min_size=3, seed=1))
    with pytest.raises(ValueError, match="beta=0"):
        QuantitySkew(beta=0)
