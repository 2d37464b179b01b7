import gzip
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fedsyft import FederatedDataLoader, GetNotPermittedError, VirtualWorker
from fedsyft.data import MNIST, classic_split, data_root, federate


@pytest.fixture(scope="module")
def mnist_test():
    return MNIST("test")


def test_classic_split_is_contiguous_round_robin():
    parts = classic_split(10, 3)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 9], [3, 4, 5], [6, 7, 8]]
    assert [len(p) for p in classic_split(60000, 2)] == [30000, 30000]


def test_federate_default_split_sends_private_shards(workers, mnist_test):
    bob, alice, _ = workers
    fds = federate(mnist_test, (bob, alice))
    assert fds.num_samples == {"bob": 5000, "alice": 5000} and len(fds) == 10000
    assert [w.id for w in fds.workers] == ["bob", "alice"]
    shard = fds["bob"]
    assert shard.data.location is bob and shard.targets.location is bob
    assert np.array_equal(shard.indices, np.arange(5000))
    # the shard really is at bob, equal to the first half of the data
    assert torch.equal(bob.get_obj(shard.data.id_at_location), mnist_test.data[:5000])
    with pytest.raises(GetNotPermittedError):
        shard.data.get()
    assert bob.traffic.bytes_in == 5000 * (28 * 28 * 4 + 8)


def test_federate_accepts_partitioner_callable_and_index_lists(workers, mnist_test):
    bob, alice, james = workers
    calls = []

    def by_parity(labels, n):
        calls.append((labels.dtype, n))
        return [np.flatnonzero(labels % 2 == 0), np.flatnonzero(labels % 2 == 1)]

    fds = mnist_test.federate((bob, alice), partition=by_parity)
    assert calls == [(np.int64, 2)]
    assert set(bob.get_obj(fds["bob"].targets.id_at_location).tolist()) == {0, 2, 4, 6, 8}
    fds2 = federate(mnist_test, [james], partition=[np.arange(10)])
    assert fds2.num_samples == {"james": 10}


def test_federate_with_fedsyft_partitioner(workers, mnist_test):
    from fedsyft.partition import Dirichlet

    fds = federate(mnist_test, workers, partition=Dirichlet(alpha=0.5, seed=1))
    again = federate(mnist_test, [VirtualWorker(id=f"w{i}") for i in range(3)], partition=Dirichlet(alpha=0.5, seed=1))
    assert sum(fds.num_samples.values()) == 10000
    assert all(np.array_equal(a, b) for a, b in zip(fds.partition, again.partition))


def test_federate_rejects_bad_partitions(workers, mnist_test):
    bob, alice, _ = workers
    with pytest.raises(ValueError, match="one per worker"):
        federate(mnist_test, (bob, alice), partition=[np.arange(5)])
    with pytest.raises(ValueError, match="more than one worker"):
        federate(mnist_test, (bob, alice), partition=[np.arange(5), np.arange(3, 8)])
    with pytest.raises(ValueError, match="outside"):
        federate(mnist_test, (bob, alice), partition=[np.arange(5), np.array([10**6])])
    with pytest.raises(ValueError, match="duplicate"):
        federate(mnist_test, (bob, bob))


def test_federate_applies_client_transforms(workers):
    bob, alice, _ = workers
    ds = TensorDataset(torch.zeros(4, 2), torch.arange(4))
    fds = federate(ds, (bob, alice), client_transforms=[None, lambda x: x + 1])
    assert bob.get_obj(fds["bob"].data.id_at_location).sum() == 0
    assert bob is not alice and alice.get_obj(fds["alice"].data.id_at_location).sum() == 4


def test_torchvision_dataset_federates_with_its_transforms(tmp_path, hook, workers):
    torchvision = pytest.importorskip("torchvision")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (data_root() / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(gz) as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    tv = torchvision.datasets.MNIST(str(tmp_path), train=False, download=False,
                                    transform=torchvision.transforms.Compose([
                                        torchvision.transforms.ToTensor(),
                                        torchvision.transforms.Normalize((0.1307,), (0.3081,))]))
    bob, alice, _ = workers
    fds = tv.federate((bob, alice))  # via the hook, like the classic tutorials
    assert fds.num_samples == {"bob": 5000, "alice": 5000}
    mine = MNIST("test")
    assert torch.allclose(bob.get_obj(fds["bob"].data.id_at_location), mine.data[:5000], atol=1e-5)


def test_loader_batches_live_at_one_worker_and_len_is_exact(workers):
    bob, alice, james = workers
    ds = TensorDataset(torch.arange(23, dtype=torch.float32).unsqueeze(1), torch.arange(23))
    fds = federate(ds, (bob, alice, james), partition=[np.arange(10), np.arange(10, 17), np.arange(17, 23)])
    for drop_last, expected in ((False, 3 + 2 + 2), (True, 2 + 1 + 1)):
        loader = FederatedDataLoader(fds, batch_size=4, drop_last=drop_last)
        batches = list(loader)
        assert len(loader) == len(batches) == expected
        for data, target in batches:
            assert data.location is target.location
    seen = []
    for _data, target in FederatedDataLoader(fds, batch_size=4):
        seen += target.get().tolist()
    assert seen == list(range(23))


def test_loader_indexes_whole_batches_in_one_command(workers):
    bob, alice, _ = workers
    fds = federate(TensorDataset(torch.zeros(64, 1), torch.zeros(64)), (bob, alice))
    before = bob.traffic.commands
    batches = list(FederatedDataLoader(fds, batch_size=8))
    assert len(batches) == 8
    assert bob.traffic.commands - before == 4  # one command per batch, not per item


def test_loader_shuffle_is_seeded_and_changes_per_epoch(workers):
    bob, alice, _ = workers
    fds = federate(TensorDataset(torch.zeros(40, 1), torch.arange(40)), (bob, alice))

    def order(loader):
        return [t.get().tolist() for _, t in loader]

    a = FederatedDataLoader(fds, batch_size=5, shuffle=True, seed=3)
    b = FederatedDataLoader(fds, batch_size=5, shuffle=True, seed=3)
    first = order(a)
    assert first == order(b)
    assert order(a) != first  # the next epoch is reshuffled
    assert sorted(sum(first, [])) == list(range(40))
    assert first != order(FederatedDataLoader(fds, batch_size=5, shuffle=True, seed=4))


def test_loader_iter_per_worker(workers):
    bob, alice, _ = workers
    fds = federate(TensorDataset(torch.zeros(10, 1), torch.arange(10)), (bob, alice), partition=[np.arange(6), np.arange(6, 10)])
    loader = FederatedDataLoader(fds, batch_size=2, iter_per_worker=True)
    steps = list(loader)
    assert len(loader) == len(steps) == 3
    assert [sorted(w.id for w in s) for s in steps] == [["alice", "bob"], ["alice", "bob"], ["bob"]]


def test_loader_errors():
    with pytest.raises(TypeError, match="FederatedDataset"):
        FederatedDataLoader([1, 2, 3])
