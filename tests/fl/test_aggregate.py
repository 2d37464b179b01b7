"""Aggregation: fedsyft.fl.aggregate (FedAvg weighting, buffers, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fedsyft.fl import (
    WeightedMean,
    apply_update,
    fedavg,
    normalize_weights,
    numpy_to_state,
    state_delta,
    state_to_numpy,
    weighted_mean,
)


def _bn_state(mean: float, var: float, tracked: int, weight: float) -> dict[str, torch.Tensor]:
    bn = nn.BatchNorm1d(3)
    bn.running_mean.fill_(mean)
    bn.running_var.fill_(var)
    bn.num_batches_tracked.fill_(tracked)
    with torch.no_grad():
        bn.weight.fill_(weight)
    return {k: v.clone() for k, v in bn.state_dict().items()}


def test_normalize_weights():
    assert normalize_weights([10, 30]) == [0.25, 0.75]
    assert normalize_weights([10, 30], "uniform") == [0.5, 0.5]
    assert sum(normalize_weights([7, 11, 13])) == pytest.approx(1.0)


def test_sample_weighting_vs_uniform():
    a, b = {"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([4.0, 6.0])}
    assert torch.equal(fedavg([a, b], [1, 3])["w"], torch.tensor([3.0, 5.0]))
    assert torch.equal(fedavg([a, b], [1, 3], weighting="uniform")["w"], torch.tensor([2.0, 4.0]))
    assert torch.equal(fedavg([a, b], weighting="uniform")["w"], torch.tensor([2.0, 4.0]))
    # equal sizes: samples weighting == uniform
    assert torch.equal(fedavg([a, b], [5, 5])["w"], fedavg([a, b], weighting="uniform")["w"])


def test_sample_weighting_is_not_batch_weighting():
    """The seed weighted by batches; a 1-sample client must weigh 1/101, not 1/2 batches."""
    a, b = {"w": torch.tensor([0.0])}, {"w": torch.tensor([101.0])}
    assert fedavg([a, b], [100, 1])["w"].item() == pytest.approx(1.0)


def test_integer_buffers_take_max():
    states = [_bn_state(0.0, 1.0, 5, 1.0), _bn_state(1.0, 3.0, 9, 2.0), _bn_state(2.0, 2.0, 7, 3.0)]
    out = fedavg(states, [1, 1, 2])
    assert out["num_batches_tracked"].dtype == torch.long
    assert out["num_batches_tracked"].item() == 9


def test_bn_float_buffers_averaged_like_weights():
    states = [_bn_state(0.0, 1.0, 5, 1.0), _bn_state(4.0, 3.0, 9, 2.0)]
    out = fedavg(states, [3, 1])
    assert torch.allclose(out["running_mean"], torch.full((3,), 1.0))
    assert torch.allclose(out["running_var"], torch.full((3,), 1.5))
    assert torch.allclose(out["weight"], torch.full((3,), 1.25))
    assert list(out) == list(states[0])  # key order kept: loads into the module
    bn = nn.BatchNorm1d(3)
    bn.load_state_dict(out)


def test_fedavg_of_identical_states_is_identity():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    state = model.state_dict()
    out = fedavg([state, state, state], [1, 2, 3])
    assert list(out) == list(state)
    for k in state:
        assert torch.equal(out[k], state[k]), k
        assert out[k].dtype == state[k].dtype


def test_fedavg_is_the_weighted_mean_of_models():
    torch.manual_seed(0)
    m1, m2 = nn.Linear(4, 3), nn.Linear(4, 3)
    out = fedavg([m1.state_dict(), m2.state_dict()], [2, 6])
    for k in out:
        assert torch.allclose(out[k], 0.25 * m1.state_dict()[k] + 0.75 * m2.state_dict()[k])


def test_delta_mean_apply_equals_fedavg():
    """What the round loop does (mean of updates, applied to the global model) is FedAvg."""
    torch.manual_seed(0)
    g = nn.Linear(5, 2).state_dict()
    clients = [{k: v + torch.randn_like(v) for k, v in g.items()} for _ in range(3)]
    sizes = [10, 20, 70]
    update = WeightedMean()([state_delta(c, g) for c in clients], normalize_weights(sizes))
    via_updates = apply_update(g, update)
    direct = fedavg(clients, sizes)
    for k in g:
        assert torch.allclose(via_updates[k], direct[k], atol=1e-6)


def test_state_delta_skips_integer_entries_and_apply_update_keeps_them():
    g = _bn_state(0.0, 1.0, 3, 1.0)
    new = _bn_state(1.0, 2.0, 8, 1.5)
    d = state_delta(new, g)
    assert "num_batches_tracked" not in d
    assert torch.allclose(d["running_mean"], torch.ones(3))
    out = apply_update(g, d, server_lr=0.5)
    assert torch.allclose(out["running_mean"], torch.full((3,), 0.5))
    assert out["num_batches_tracked"].item() == 3
    assert g["running_mean"].sum().item() == 0.0  # input not modified


def test_numpy_roundtrip():
    state = nn.BatchNorm1d(2).state_dict()
    arrays = state_to_numpy(state)
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    back = numpy_to_state(arrays)
    for k in state:
        assert torch.equal(back[k], state[k])


def test_errors():
    s = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match="at least one"):
        fedavg([])
    with pytest.raises(ValueError, match="needs sizes"):
        fedavg([s, s])
    with pytest.raises(ValueError, match="weighting"):
        fedavg([s, s], [1, 1], weighting="batches")
    with pytest.raises(ValueError, match="zero samples"):
        fedavg([s, s], [0, 0])
    with pytest.raises(ValueError, match="zero clients"):
        normalize_weights([])
    with pytest.raises(ValueError, match="2 updates but 3 weights"):
        weighted_mean([s, s], [0.2, 0.3, 0.5])
