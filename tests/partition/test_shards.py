import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import Shards, partition_report, shards

from ._helpers import (
    MNIST_TRAIN_COUNTS,
    assert_exactly_once,
    label_arrays,
    mnist_train_labels,
    same,
)


def _runs_in_sorted_order(labels, part):
    """Number of contiguous runs the client's samples form in the stable label-sorted order."""
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(labels, kind="stable")] = np.arange(len(labels))
    pos = np.sort(rank[part])
    return 1 + int(np.sum(np.diff(pos) != 1)) if len(pos) else 0


@settings(max_examples=60, deadline=None)
@given(data=st.data(), labels=label_arrays(max_size=300), seed=st.integers(0, 2**32))
def test_shards_properties(data, labels, seed):
    n = len(labels)
    k = data.draw(st.integers(1, n))
    spc = data.draw(st.integers(1, n // k))
    parts = shards(labels, k, shards_per_client=spc, seed=seed)
    assert len(parts) == k
    assert_exactly_once(parts, n)
    shard = n // (k * spc)
    for p in parts:
        # spc shards of size n // (k * spc) or one more
        assert spc * shard <= len(p) <= spc * (shard + 1)
        # made of at most spc contiguous pieces of the label-sorted data
        assert _runs_in_sorted_order(labels, p) <= spc
    assert same(parts, shards(labels, k, shards_per_client=spc, seed=seed))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000))
def test_shards_seeds_differ(seed):
    labels = np.repeat(np.arange(10), 20)
    assert not same(shards(labels, 10, seed=seed), shards(labels, 10, seed=seed + 1))


def test_shards_one_shard_per_client_is_sorted_split():
    labels = np.repeat(np.arange(4), 5)[::-1].copy()  # sorted descending
    parts = shards(labels, 4, shards_per_client=1, seed=0)
    assert sorted(tuple(np.unique(labels[p])) for p in parts) == [(0,), (1,), (2,), (3,)]


def test_shards_class_repr():
    assert repr(Shards(shards_per_client=3, seed=1)) == "Shards(shards_per_client=3, seed=1)"


def test_mcmahan_shards_on_mnist():
    """McMahan et al. 2017: 100 clients x 2 shards of 300 MNIST training images."""
    y = mnist_train_labels()
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    parts = shards(y, 100, shards_per_client=2, seed=0)
    assert_exactly_once(parts, 60000)
    rep = partition_report(parts, y)
    assert (rep.sizes == 600).all()
    # each client is made of 2 runs of 300 in label order
    assert all(_runs_in_sorted_order(y, p) <= 2 for p in parts)
    # No class size is a multiple of 300, so the 9 class boundaries fall inside 9 shards:
    # a shard has 1 or 2 classes and a client 1 to 4 -- "2 classes per client" is only
    # approximately true.
    assert np.cumsum(MNIST_TRAIN_COUNTS)[:-1].tolist() == [
        5923, 12665, 18623, 24754, 30596, 36017, 41935, 48200, 54051]
    assert all(b % 300 != 0 for b in np.cumsum(MNIST_TRAIN_COUNTS)[:-1])
    order = np.argsort(y, kind="stable")
    shard_classes = [len(np.unique(y[order[i : i + 300]])) for i in range(0, 60000, 300)]
    assert shard_classes.count(2) == 9 and shard_classes.count(1) == 191
    assert rep.classes_per_client.max() <= 4
    assert (rep.classes_per_client > 2).sum() <= 9
    assert np.median(rep.classes_per_client) == 2
    assert rep.mean_tv > 0.75  # far from IID
