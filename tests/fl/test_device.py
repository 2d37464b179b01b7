"""The device option of fl/ and the privacy aggregators (issue 10.2).

The CUDA tests need a GPU: run them on the GPU machine with
``PYTHONPATH=$PWD python -m pytest -o addopts="" -q tests/fl/test_device.py``.
"""

from __future__ import annotations

import pytest
import torch

from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, train_centralized
from fedsyft.models import get_model
from fedsyft.partition import IID

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA GPU: run on the GPU machine with "
           "`PYTHONPATH=$PWD python -m pytest -o addopts='' -q tests/fl/test_device.py`")
CFG = FLConfig(rounds=2, num_selected=3, client=ClientConfig(batch_size=20, lr=0.05, max_steps=10), seed=0)


def _model():
    torch.manual_seed(0)
    return get_model("mcmahan_2nn")


def _at_worker(ptr):
    return ptr.location.get_obj(ptr.id_at_location)


def test_cpu_is_the_default_here_and_bad_devices_are_named(fds5, mnist_small):
    _, test = mnist_small
    if not torch.cuda.is_available():
        tr = FederatedTrainer(_model(), fds5, test, CFG, progress=False)
        assert tr.device == torch.device("cpu")
        assert tr.shards == list(fds5)  # on the CPU nothing is moved or copied
        with pytest.raises(ValueError, match="no CUDA GPU"):
            FederatedTrainer(_model(), fds5, test, CFG, progress=False, device="cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        FederatedTrainer(_model(), fds5, test, CFG, progress=False, device="tpu")


def test_a_shard_moves_once_at_its_worker_and_stays_private(fds5):
    """The move runs at the worker (checked here with PyTorch's data-less "meta" device, which
    every machine has): the moved copies stay private, the originals are untouched."""
    from fedsyft.fl.loop import _shard_on

    shard = list(fds5)[0]
    moved = _shard_on(shard, torch.device("meta"))
    assert moved.worker is shard.worker and moved.indices is shard.indices
    for new, old in ((moved.data, shard.data), (moved.targets, shard.targets)):
        assert new.location is shard.worker and new.id_at_location != old.id_at_location
        assert _at_worker(new).device.type == "meta" and _at_worker(old).device.type == "cpu"
        assert new.is_private and old.is_private


@CUDA
def test_trainer_on_cuda_matches_the_cpu_run(mnist_small, make_workers):
    train, test = mnist_small
    parts = IID(seed=0)(train.targets.numpy(), 5)
    runs = {}
    for device in ("cpu", "cuda"):
        fds = train.federate(make_workers(5), partition=parts)
        tr = FederatedTrainer(_model(), fds, test, CFG, progress=False, device=device)
        if device == "cuda":
            assert all(p.is_cuda for p in tr.model.parameters()) and tr.test_data.is_cuda
            for shard in tr.shards:  # moved once, at the worker, and still private there
                assert _at_worker(shard.data).is_cuda and _at_worker(shard.targets).is_cuda
                assert shard.data.is_private and shard.targets.is_private
        runs[device] = (tr.run(), tr)
    cpu, gpu = runs["cpu"][0], runs["cuda"][0]
    assert [r.clients for r in cpu.rounds] == [r.clients for r in gpu.rounds]  # same client order
    assert abs(cpu.final_accuracy - gpu.final_accuracy) < 0.02


@CUDA
@pytest.mark.parametrize("name", ["secure", "dp", "ckks"])
def test_privacy_aggregators_on_cuda(mnist_small, make_workers, name):
    from fedsyft.privacy import CKKSAggregator, DPFedAvgAggregator, SecureAggregator

    train, test = mnist_small
    agg = {"secure": lambda: SecureAggregator(),
           "dp": lambda: DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=0.5, sample_rate=0.6),
           "ckks": lambda: CKKSAggregator()}[name]()
    fds = train.federate(make_workers(5), partition=IID(seed=0))
    tr = FederatedTrainer(_model(), fds, test, CFG, aggregator=agg, progress=False, device="cuda")
    hist = tr.run()
    assert all(p.is_cuda for p in tr.model.parameters())
    assert hist.final_accuracy > 0.3


@CUDA
def test_centralized_on_cuda(mnist_small):
    train, test = mnist_small
    model = _model()
    hist = train_centralized(model, train, test, epochs=1, config=ClientConfig(batch_size=32, lr=0.05),
                             progress=False, device="cuda")
    assert next(model.parameters()).is_cuda and hist.final_accuracy > 0.6


@CUDA
def test_local_dp_sgd_on_cuda(mnist_small, make_workers):
    import functools

    from fedsyft.privacy import dp_local_train

    train, test = mnist_small
    fds = train.federate(make_workers(5), partition=IID(seed=0))
    fn = functools.partial(dp_local_train, noise_multiplier=0.5, max_grad_norm=1.0)
    tr = FederatedTrainer(_model(), fds, test, CFG, local_train_fn=fn, progress=False, device="cuda")
    hist = tr.run()
    assert all(p.is_cuda for p in tr.model.parameters()) and hist.final_accuracy > 0.3
