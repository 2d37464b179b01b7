"""Shared fixtures for the fl tests: small MNIST subsets and fresh, uniquely named workers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.partition import IID

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run faster (and more reproducibly) on one thread on a shared CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def mnist_small():
    """1,000 training and 500 test MNIST samples (seeded random subsets)."""
    rng = np.random.default_rng(0)
    train, test = MNIST("train"), MNIST("test")
    return (train.subset(np.sort(rng.permutation(len(train))[:1000])),
            test.subset(np.sort(rng.permutation(len(test))[:500])))


@pytest.fixture
def make_workers():
    """``make_workers(n)``: n fresh VirtualWorkers with ids unique across the test session."""
    made = []

    def _make(n: int):
        tag = next(_ids)
        ws = [sy.VirtualWorker(id=f"fltest{tag}_w{i}") for i in range(n)]
        made.extend(ws)
        return ws

    yield _make
    for w in made:
        w.shutdown()


@pytest.fixture
def fds5(mnist_small, make_workers):
    """The 1,000 training samples, IID between 5 workers (200 each)."""
    train, _ = mnist_small
    return train.federate(make_workers(5), partition=IID(seed=0))
