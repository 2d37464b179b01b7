import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import LabelQuantity, label_quantity, partition_report

from ._helpers import assert_exactly_once, label_arrays, mnist_train_labels, same


@settings(max_examples=80, deadline=None)
@given(data=st.data(), labels=label_arrays(max_size=300, all_classes=True),
       seed=st.integers(0, 2**32))
def test_label_quantity_properties(data, labels, seed):
    n = len(labels)
    num_classes = int(labels.max()) + 1
    k = data.draw(st.integers(1, num_classes))
    lo = -(-num_classes // k)
    if lo > n:
        return
    num_clients = data.draw(st.integers(lo, min(n, 40)))
    parts = label_quantity(labels, num_clients, k=k, seed=seed)
    assert len(parts) == num_clients
    assert_exactly_once(parts, n)
    rep = partition_report(parts, labels)
    assert (rep.classes_per_client <= k).all()
    holders = (rep.counts > 0).sum(axis=0)
    # each class's samples split evenly among its holders (array_split: sizes differ by <= 1)
    for c in range(num_classes):
        shares = rep.counts[rep.counts[:, c] > 0, c]
        assert shares.max() - shares.min() <= 1
    if np.bincount(labels).min() >= num_clients:  # enough samples: exact #C=k
        assert (rep.classes_per_client == k).all()
        assert (rep.counts[np.arange(num_clients), np.arange(num_clients) % num_classes] > 0).all()
        assert (holders >= 1).all()
    assert same(parts, label_quantity(labels, num_clients, k=k, seed=seed))


def test_client_i_holds_class_i_mod_c_on_mnist():
    y = mnist_train_labels()
    parts = label_quantity(y, 25, k=3, seed=0)
    rep = partition_report(parts, y)
    assert rep.is_exact
    assert (rep.classes_per_client == 3).all()
    assert all(rep.counts[i, i % 10] > 0 for i in range(25))


def test_uncovered_class_is_repaired_not_lost():
    # 3 clients x k=4 = 12 slots >= 10 classes, but clients 0..2 own only classes 0..2:
    # random extra classes may miss some class; it must still be held by someone.
    labels = np.repeat(np.arange(10), 20)
    for seed in range(100):
        parts = label_quantity(labels, 3, k=4, seed=seed)
        assert_exactly_once(parts, 200)
        rep = partition_report(parts, labels)
        assert (rep.classes_per_client == 4).all()
        assert [rep.counts[i, i] > 0 for i in range(3)] == [True] * 3


def test_not_enough_slots_is_an_error():
    labels = np.repeat(np.arange(10), 20)
    with pytest.raises(ValueError, match=r"num_clients=3 with k=3 .*>= 10"):
        label_quantity(labels, 3, k=3)


def test_seeds_differ_and_class():
    labels = np.repeat(np.arange(10), 20)
    assert not same(label_quantity(labels, 10, k=2, seed=0), label_quantity(labels, 10, k=2, seed=1))
    p = LabelQuantity(k=3, seed=4)
    assert repr(p) == "LabelQuantity(k=3, seed=4)"
    assert same(p(labels, 6), label_quantity(labels, 6, k=3, seed=4))
