"""Local training at the client: fedsyft.fl.client."""

from __future__ import annotations

import pytest
import torch

from fedsyft.fl import ClientConfig, evaluate, local_train, make_optimizer
from fedsyft.models import get_model


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return get_model("mcmahan_2nn")


def _dist(model, start) -> float:
    return sum((p.detach() - start[k]).pow(2).sum().item() for k, p in model.named_parameters()) ** 0.5


def test_local_train_reduces_loss(mnist_small):
    train, _ = mnist_small
    model = _model()
    _, before = evaluate(model, train)
    stats = local_train(model, train.data, train.targets, ClientConfig(epochs=2, batch_size=32, lr=0.05), seed=1)
    _, after = evaluate(model, train)
    assert after < 0.5 * before
    assert stats["num_samples"] == 1000
    assert stats["steps"] == 2 * 32  # ceil(1000 / 32) = 32 batches per epoch
    assert 0 < stats["loss"] < before


def test_same_seed_identical_different_seed_differs(mnist_small):
    train, _ = mnist_small
    x, y = train.data[:300], train.targets[:300]
    cfg = ClientConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9)
    a, b, c = _model(), _model(), _model()
    sa = local_train(a, x, y, cfg, seed=7)
    sb = local_train(b, x, y, cfg, seed=7)
    local_train(c, x, y, cfg, seed=8)
    assert sa == sb
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_seeding_does_not_touch_global_rng(mnist_small):
    train, _ = mnist_small
    model = _model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    local_train(model, train.data[:64], train.targets[:64], ClientConfig(batch_size=32), seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_max_steps_caps_local_steps(mnist_small):
    train, _ = mnist_small
    stats = local_train(_model(), train.data, train.targets,
                        ClientConfig(epochs=3, batch_size=10, max_steps=7), seed=0)
    assert stats["steps"] == 7
    assert stats["num_samples"] == 1000


def test_empty_client_is_a_no_op():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = local_train(model, torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), ClientConfig())
    assert stats["num_samples"] == 0 and stats["steps"] == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fedprox_keeps_weights_closer_to_start(mnist_small):
    train, _ = mnist_small
    cfg = ClientConfig(epochs=2, batch_size=32, lr=0.05)
    start = {k: p.detach().clone() for k, p in _model().named_parameters()}
    dists = {}
    for mu in (0.0, 0.1, 1.0):
        m = _model()
        local_train(m, train.data, train.targets, cfg, seed=3, prox_mu=mu)
        dists[mu] = _dist(m, start)
    assert dists[1.0] < dists[0.1] < dists[0.0]
    assert dists[1.0] < 0.9 * dists[0.0]


def test_scaffold_control_delta(mnist_small):
    train, _ = mnist_small
    x, y = train.data[:200], train.targets[:200]
    cfg = ClientConfig(epochs=1, batch_size=50, lr=0.1)
    model = _model()
    start = {k: p.detach().clone() for k, p in model.named_parameters()}
    zeros = {k: torch.zeros_like(v) for k, v in start.items()}
    out = local_train(model, x, y, cfg, seed=0, control=(zeros, zeros))
    delta = out["control_delta"]
    assert set(delta) == set(start)
    for k, p in model.named_parameters():
        assert delta[k].shape == p.shape
        # option II with zero controls: (x - y_i) / (K * lr)
        expected = (start[k] - p.detach()) / (out["steps"] * cfg.lr)
        assert torch.allclose(delta[k], expected)
    assert out["steps"] == 4


def test_scaffold_equal_controls_is_plain_sgd(mnist_small):
    """With c_global == c_client the gradient correction vanishes: same trajectory as plain SGD."""
    train, _ = mnist_small
    x, y = train.data[:200], train.targets[:200]
    cfg = ClientConfig(epochs=1, batch_size=50, lr=0.1)
    a, b = _model(), _model()
    c = {k: torch.full_like(p, 0.01) for k, p in a.named_parameters()}
    local_train(a, x, y, cfg, seed=0)
    local_train(b, x, y, cfg, seed=0, control=(c, {k: v.clone() for k, v in c.items()}))
    for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_scaffold_correction_changes_the_update(mnist_small, momentum):
    """The correction moves weights by -lr * (c - c_i) per step; momentum must not amplify it
    (it did when the correction was added to the gradient, and SCAFFOLD then diverged)."""
    train, _ = mnist_small
    x, y = train.data[:200], train.targets[:200]
    cfg = ClientConfig(epochs=1, batch_size=50, lr=0.1, momentum=momentum)
    a, b = _model(), _model()
    zeros = {k: torch.zeros_like(p) for k, p in a.named_parameters()}
    c = {k: torch.full_like(p, 0.05) for k, p in a.named_parameters()}
    local_train(a, x, y, cfg, seed=0, control=(zeros, zeros))
    local_train(b, x, y, cfg, seed=0, control=(c, zeros))
    # every parameter moves by an extra -lr * steps * 0.05 to first order
    wa, wb = a.fc3.bias.detach(), b.fc3.bias.detach()
    assert torch.allclose(wb - wa, torch.full_like(wa, -0.1 * 4 * 0.05), atol=0.01)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"momentum": 1.0}, "momentum"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"max_steps": 0}, "max_steps"),
])
def test_client_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClientConfig(**kwargs)


def test_make_optimizer():
    m = _model()
    assert isinstance(make_optimizer(m.parameters(), ClientConfig(optimizer="adam")), torch.optim.Adam)
    opt = make_optimizer(m.parameters(), ClientConfig(lr=0.2, momentum=0.5))
    assert isinstance(opt, torch.optim.SGD)
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[0]["momentum"] == 0.5
