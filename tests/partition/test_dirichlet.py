import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import Dirichlet, dirichlet, partition_report

from ._helpers import assert_exactly_once, label_arrays, mnist_train_labels, same


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    labels=label_arrays(max_size=400),
    alpha=st.sampled_from([0.05, 0.1, 0.5, 1.0, 10.0, 1000.0]),
    seed=st.integers(0, 2**32),
)
def test_dirichlet_properties(data, labels, alpha, seed):
    n = len(labels)
    k = data.draw(st.integers(1, min(n, 20)))
    min_size = data.draw(st.integers(0, min(3, n // k)))
    try:
        parts = dirichlet(labels, k, alpha=alpha, min_size=min_size, seed=seed, max_tries=200)
    except ValueError as exc:  # allowed only as "no draw in max_tries"
        assert "max_tries=200" in str(exc)
        return
    assert len(parts) == k
    assert_exactly_once(parts, n)
    assert min(len(p) for p in parts) >= min_size
    assert same(parts, dirichlet(labels, k, alpha=alpha, min_size=min_size, seed=seed,
                                 max_tries=200))


@settings(max_examples=40, deadline=None)
@given(labels=label_arrays(min_size=50, max_size=400), k=st.integers(2, 10),
       alpha=st.sampled_from([0.1, 0.5, 5.0]), seed=st.integers(0, 2**32))
def test_niid_bench_cap(labels, k, alpha, seed):
    """A client already holding >= N / num_clients samples gets nothing of later classes."""
    parts = dirichlet(labels, k, alpha=alpha, min_size=0, seed=seed)
    rep = partition_report(parts, labels)
    counts = rep.counts[:, np.unique(labels)]  # classes in processing (label) order
    before = np.cumsum(counts, axis=1) - counts  # held before each class
    assert (counts[before >= len(labels) / k] == 0).all()


def test_seeds_differ():
    labels = np.repeat(np.arange(10), 100)
    assert not same(dirichlet(labels, 10, alpha=0.5, seed=0), dirichlet(labels, 10, alpha=0.5, seed=1))


def test_lower_alpha_is_more_heterogeneous():
    labels = np.repeat(np.arange(10), 1000)
    tv = [partition_report(dirichlet(labels, 20, alpha=a, seed=0), labels).mean_tv
          for a in (100.0, 1.0, 0.1)]
    assert tv[0] < 0.1 < tv[1] < tv[2]


def test_alpha_01_infeasible_min_size_raises_not_hangs():
    # FedLab/NIID-Bench loop forever here: 1,000 samples, 100 clients, min 10 each (exactly N)
    labels = np.repeat(np.arange(10), 100)
    with pytest.raises(ValueError, match=r"min_size=10 .*max_tries=1000"):
        dirichlet(labels, 100, alpha=0.1, min_size=10)
    # infeasible by count: immediate
    with pytest.raises(ValueError, match=r"min_size=11 .*min_size <= 10"):
        dirichlet(labels, 100, alpha=0.1, min_size=11)
    with pytest.raises(ValueError, match="max_tries=0"):
        dirichlet(labels, 10, alpha=0.1, max_tries=0)


def test_tiny_alpha_no_nan():
    labels = np.repeat(np.arange(5), 100)
    parts = dirichlet(labels, 5, alpha=1e-6, min_size=0, seed=0)
    assert_exactly_once(parts, 500)


def test_dirichlet_on_mnist_alpha_01():
    y = mnist_train_labels()
    parts = dirichlet(y, 100, alpha=0.1, min_size=10, seed=0)
    assert_exactly_once(parts, 60000)
    rep = partition_report(parts, y)
    assert rep.sizes.min() >= 10
    assert rep.mean_tv > 0.6
    assert np.median(rep.classes_per_client) <= 5


def test_dirichlet_large_input_is_fast_enough_to_finish():
    labels = np.random.default_rng(0).integers(0, 10, 1_000_000)
    parts = dirichlet(labels, 100, alpha=0.1, seed=0)
    assert sum(len(p) for p in parts) == 1_000_000


def test_class():
    p = Dirichlet(alpha=0.3, seed=2)
    assert repr(p) == "Dirichlet(alpha=0.3, min_size=10, max_tries=1000, seed=2)"
    labels = np.repeat(np.arange(10), 50)
    assert same(p(labels, 5), dirichlet(labels, 5, alpha=0.3, seed=2))
    with pytest.raises(ValueError, match="alpha=0"):
        Dirichlet(alpha=0)


def test_max_tries_only_decides_when_to_give_up():
    labels = np.repeat(np.arange(10), 6000)  # MNIST-sized: ~6% of draws succeed
    ref = dirichlet(labels, 100, alpha=0.1, min_size=10, seed=3, max_tries=1000)
    for tries in (200, 65, 5000):
        assert same(ref, dirichlet(labels, 100, alpha=0.1, min_size=10, seed=3, max_tries=tries))
