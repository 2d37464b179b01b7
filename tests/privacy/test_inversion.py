"""Gradient inversion (fedsyft.privacy.inversion): DLG reconstructs an MNIST digit from its gradient."""

from __future__ import annotations

import pytest
import torch

from fedsyft.data import MNIST
from fedsyft.fl import ClientConfig, local_train
from fedsyft.privacy.inversion import (
    DLGNet,
    best_match,
    image_mse,
    image_ssim,
    infer_label,
    invert_gradient,
    model_gradient,
    update_to_gradient,
)


@pytest.fixture(scope="module")
def digits():
    test = MNIST("test")
    return test.data[:6], test.targets[:6]


@pytest.fixture
def net():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return DLGNet()


def test_one_image_is_reconstructed_from_its_gradient(net, digits):
    x, y = digits[0][:1], digits[1][:1]
    grad = model_gradient(net, x, y)
    r = invert_gradient(net, grad, steps=10, seed=1, bounds=(float(x.min()), float(x.max())))
    assert r.label == int(y)                         # iDLG reads the label off the last layer
    assert image_mse(r.image, x) < 0.01, image_mse(r.image, x)   # pixels span about 3.2
    assert image_ssim(r.image, x) > 0.95
    # and a fresh noise image is nowhere near: the attack did the work
    noise = torch.randn_like(x)
    assert image_mse(noise, x) > 1.0 and image_ssim(noise, x) < 0.1


def test_the_update_of_one_sgd_step_leaks_like_the_gradient(net, digits):
    """A client returns its model after one step: update = -lr * gradient."""
    x, y = digits[0][1:2], digits[1][1:2]
    start = {k: v.clone() for k, v in net.state_dict().items()}
    local = DLGNet()
    local.load_state_dict(start)
    local_train(local, x, y, ClientConfig(epochs=1, batch_size=1, lr=0.1))
    update = {k: local.state_dict()[k] - start[k] for k in start}
    grad = update_to_gradient(update, lr=0.1, model=net)
    for g, ref in zip(grad, model_gradient(net, x, y)):
        torch.testing.assert_close(g, ref, rtol=1e-3, atol=1e-5)
    r = invert_gradient(net, grad, steps=10, bounds=(float(x.min()), float(x.max())))
    assert image_mse(r.image, x) < 0.02


def test_the_sum_of_several_clients_gradients_does_not_reveal_any_of_them(net, digits):
    """What secure aggregation leaves the server: the sum. The best match stays far."""
    xs, ys = digits
    grads = [model_gradient(net, xs[i:i + 1], ys[i:i + 1]) for i in range(len(ys))]
    total = [sum(t) for t in zip(*grads)]
    r = invert_gradient(net, total, steps=10, bounds=(float(xs.min()), float(xs.max())))
    _, mse, ssim = best_match(r.image, xs)
    single = invert_gradient(net, grads[0], steps=10, bounds=(float(xs.min()), float(xs.max())))
    assert mse > 50 * image_mse(single.image, xs[:1]), (mse, image_mse(single.image, xs[:1]))
    assert ssim < 0.5, ssim


def test_infer_label_and_helpers_check_their_input(net, digits):
    x = digits[0][:1]
    for label in (0, 3, 9):
        assert infer_label(model_gradient(net, x, torch.tensor([label]))) == label
    with pytest.raises(ValueError, match="one gradient per parameter"):
        invert_gradient(net, [torch.zeros(1)])
    with pytest.raises(ValueError, match="lr must be > 0"):
        update_to_gradient([torch.zeros(1)], lr=0)
    with pytest.raises(ValueError, match="pass model="):
        update_to_gradient({"w": torch.zeros(1)}, lr=0.1)
    with pytest.raises(ValueError, match="differ in shape"):
        image_mse(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="nn.Linear"):
        infer_label([torch.zeros(3)])


def test_ssim_orders_similarity():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=g)
    slightly = x + 0.05 * torch.randn(x.shape, generator=g)
    very = x + 1.0 * torch.randn(x.shape, generator=g)
    assert image_ssim(x, x) == pytest.approx(1.0)
    assert 1.0 > image_ssim(slightly, x) > image_ssim(very, x)
