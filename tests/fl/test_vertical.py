"""Vertical FL: PSI alignment, and a split network at two feature holders that trains exactly
like the same network in one place, moving only activations and gradients."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from fedsyft.data import MNIST
from fedsyft.fl.evaluate import evaluate
from fedsyft.fl.vertical import (
    FeatureHolder,
    PSIParty,
    SplitModel,
    SplitNN,
    align,
    psi_sketch,
    split_rows,
    train_split_model,
)


def test_split_rows_cuts_images_into_bands():
    x = torch.arange(2 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28)
    top, bottom = split_rows(x)
    assert top.shape == bottom.shape == (2, 1, 14, 28)
    assert torch.equal(torch.cat([top, bottom], dim=2), x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        split_rows(torch.zeros(3, 28, 28))


def test_psi_sketch_finds_exactly_the_common_ids_without_sending_them():
    rng = np.random.default_rng(1)
    a = rng.choice(1000, 120, replace=False).tolist()
    b = rng.choice(1000, 150, replace=False).tolist()
    common, nbytes = psi_sketch(a, b)
    assert common == [i for i in a if i in set(b)] and len(common) > 0
    assert nbytes == 32 * (120 + 150 + 120)
    # What travels is blinded: another party's blinding of the same ids is unrelated.
    p, q = PSIParty(a[:5]), PSIParty(a[:5])
    assert not set(p.blind()) & set(q.blind())
    assert p.reblind(q.blind()) == q.reblind(p.blind())  # the commutation PSI relies on


def test_align_lines_up_the_common_rows_at_each_worker(make_workers):
    wa, wb = make_workers(2)
    feats = torch.arange(10, dtype=torch.float32).view(10, 1) * 10
    pa = FeatureHolder(wa, ids=[9, 3, 5, 1, 7], features=feats[[9, 3, 5, 1, 7]])
    pb = FeatureHolder(wb, ids=[1, 2, 3, 9, 8, 0], features=feats[[1, 2, 3, 9, 8, 0]] + 1)
    common = align([pa, pb], label_ids=range(10))
    assert common == [1, 3, 9]
    at_a = wa.get_obj(pa.aligned.id_at_location)
    at_b = wb.get_obj(pb.aligned.id_at_location)
    assert at_a.flatten().tolist() == [10.0, 30.0, 90.0]
    assert at_b.flatten().tolist() == [11.0, 31.0, 91.0]
    with pytest.raises(ValueError, match="share no sample ids"):
        align([pa], label_ids=[100, 200])


@pytest.fixture(scope="module")
def mnist_2k():
    train = MNIST("train")
    return train.data[:2000], train.targets[:2000]


def _nets(seed=0):
    torch.manual_seed(seed)
    bottoms = [nn.Sequential(nn.Flatten(), nn.Linear(14 * 28, 32), nn.ReLU()) for _ in range(2)]
    top = nn.Sequential(nn.Linear(64, 10), nn.LogSoftmax(dim=1))
    return bottoms, top


def test_split_training_equals_central_training_and_counts_activation_bytes(mnist_2k, make_workers):
    x, y = mnist_2k
    wa, wb = make_workers(2)
    rng = np.random.default_rng(0)
    ids = np.arange(len(y))
    a_ids, b_ids = np.sort(rng.choice(ids, 1900, replace=False)), np.sort(rng.choice(ids, 1900, replace=False))
    top_half, bottom_half = split_rows(x)
    pa = FeatureHolder(wa, ids=a_ids.tolist(), features=top_half[a_ids])
    pb = FeatureHolder(wb, ids=b_ids.tolist(), features=bottom_half[b_ids])
    common = align([pa, pb], label_ids=ids.tolist())
    assert common == sorted(set(a_ids) & set(b_ids))
    n = len(common)
    y_c = y[torch.tensor(common)]

    bottoms, top = _nets()
    central = SplitModel(copy.deepcopy(bottoms), copy.deepcopy(top))
    net = SplitNN(bottoms, top, [pa, pb], lr=0.1)
    a_out0 = wa.traffic.bytes_out
    stats = [net.train_epoch(y_c, batch_size=50, seed=4) for _ in range(2)]
    train_split_model(central, x[torch.tensor(common)], y_c, epochs=2, batch_size=50, lr=0.1, seed=4)
    split = net.get()
    for (k, p), q in zip(split.named_parameters(), central.parameters()):
        assert torch.equal(p, q), k
    acc, _ = evaluate(split, x, y)
    assert acc > 0.85  # it learned (2 epochs on ~1,800 samples)
    # Per epoch: each holder sends n x 32 float32 activations and gets as many gradients
    # back, plus the batch indices (int64). Nothing else leaves a worker.
    for s in stats:
        assert s["samples"] == n
        assert s["bytes_activations"] == 2 * n * 32 * 4
        assert s["bytes_to_holders"] == 2 * (n * 32 * 4 + n * 8)
    assert wa.traffic.bytes_out - a_out0 == 2 * n * 32 * 4 + sum(p.numel() * 4 for p in split.bottoms[0].parameters())


def test_split_nn_checks_its_inputs(mnist_2k, make_workers):
    x, y = mnist_2k
    wa, wb = make_workers(2)
    t, b = split_rows(x[:20])
    pa, pb = FeatureHolder(wa, ids=range(20), features=t), FeatureHolder(wb, ids=range(20), features=b)
    bottoms, top = _nets()
    with pytest.raises(ValueError, match="not aligned yet"):
        SplitNN(bottoms, top, [pa, pb])
    align([pa, pb], label_ids=range(20), use_psi=False)
    with pytest.raises(ValueError, match="one each"):
        SplitNN(bottoms[:1], top, [pa, pb])
    net = SplitNN(bottoms, top, [pa, pb])
    with pytest.raises(ValueError, match="20 samples are aligned"):
        net.train_epoch(y[:10])
    with pytest.raises(ValueError, match="one id per row"):
        FeatureHolder(wa, ids=range(3), features=t)
