import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import ClassesPerClient, classes_per_client, partition_report

from ._helpers import assert_exactly_once, label_arrays, mnist_train_labels, same


@st.composite
def feasible(draw):
    labels = draw(label_arrays(max_size=300, all_classes=True))
    num_classes = int(labels.max()) + 1
    k = draw(st.integers(1, num_classes))
    smallest = int(np.bincount(labels).min())
    lo = -(-num_classes // k)  # clients needed to cover every class
    hi = min(len(labels), (smallest * num_classes) // k)
    if lo > hi:
        k, lo, hi = num_classes, 1, min(len(labels), smallest)
    num_clients = draw(st.integers(lo, hi))
    return labels, num_clients, k


@settings(max_examples=80, deadline=None)
@given(case=feasible(), seed=st.integers(0, 2**32))
def test_exactly_k_classes(case, seed):
    labels, num_clients, k = case
    parts = classes_per_client(labels, num_clients, k=k, seed=seed)
    assert len(parts) == num_clients
    assert_exactly_once(parts, len(labels))
    rep = partition_report(parts, labels)
    assert (rep.classes_per_client == k).all()
    holders = (rep.counts > 0).sum(axis=0)
    assert (holders >= 1).all()  # every class held
    assert holders.max() - holders.min() <= 1  # balanced
    for c in range(rep.num_classes):  # each class shared evenly among its holders
        shares = rep.counts[rep.counts[:, c] > 0, c]
        assert shares.max() - shares.min() <= 1
    assert same(parts, classes_per_client(labels, num_clients, k=k, seed=seed))


@settings(max_examples=40, deadline=None)
@given(case=feasible(), seed=st.integers(0, 2**32))
def test_spill_over_exactly_once(case, seed):
    labels, num_clients, k = case
    if num_clients * k > len(labels):
        return
    parts = classes_per_client(labels, num_clients, k=k, seed=seed, spill_over=True)
    assert_exactly_once(parts, len(labels))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= k  # k quotas each, quotas differ by <= 1
    assert same(parts, classes_per_client(labels, num_clients, k=k, seed=seed, spill_over=True))


def test_seeds_differ():
    labels = np.repeat(np.arange(10), 30)
    assert not same(classes_per_client(labels, 10, seed=0), classes_per_client(labels, 10, seed=1))


def test_too_few_clients_is_an_error():
    labels = np.repeat(np.arange(10), 30)
    with pytest.raises(ValueError, match=r"num_clients=4 with k=2 .*>= 10"):
        classes_per_client(labels, 4, k=2)
    classes_per_client(labels, 5, k=2)  # exactly enough


def test_class_too_small_is_an_error():
    labels = np.array([0] * 2 + [1] * 50)
    with pytest.raises(ValueError, match=r"num_clients=10 with k=1 .*class 0 has only 2"):
        classes_per_client(labels, 10, k=1)


def test_seed_extreme_split_on_mnist():
    y = mnist_train_labels()
    parts = classes_per_client(y, 10, k=2, seed=0)
    rep = partition_report(parts, y)
    assert rep.is_exact and (rep.classes_per_client == 2).all()
    assert ((rep.counts > 0).sum(axis=0) == 2).all()  # each digit held by exactly 2 clients
    # spill_over: the outliers of "Preserving Data Privacy in Deep Learning", part 2 -- some clients get extra classes with few samples
    spill = partition_report(classes_per_client(y, 10, k=2, seed=0, spill_over=True), y)
    assert spill.is_exact and (spill.sizes == 6000).all()
    assert spill.classes_per_client.max() > 2
    tiny = spill.counts[(spill.counts > 0) & (spill.counts < 100)]
    assert tiny.size >= 1  # outliers: a handful of samples of an extra class


def test_class_repr_and_call():
    p = ClassesPerClient(k=3, seed=2)
    assert repr(p) == "ClassesPerClient(k=3, seed=2, spill_over=False)"
    labels = np.repeat(np.arange(6), 10)
    assert same(p(labels, 4), classes_per_client(labels, 4, k=3, seed=2))
    with pytest.raises(ValueError, match="spill_over"):
        ClassesPerClient(spill_over="yes")
    with pytest.raises(ValueError, match="k=0"):
        ClassesPerClient(k=0)
