"""fedsyft.models: parameter counts of the papers and forward shapes."""

from __future__ import annotations

import pytest
import torch

from fedsyft.models import MODELS, count_parameters, get_model


@pytest.mark.parametrize("name, expected", [
    ("classic_cnn", 431_080),      # the classic PySyft MNIST tutorial CNN
    ("mcmahan_cnn", 1_663_370),    # McMahan et al. 2017
    ("mcmahan_2nn", 199_210),      # McMahan et al. 2017
    ("simple_cnn", 44_426),        # NIID-Bench simple-cnn on MNIST
])
def test_mnist_parameter_counts(name, expected):
    assert count_parameters(get_model(name)) == expected


def test_simple_cnn_on_cifar_has_niid_bench_count():
    assert count_parameters(get_model("simple_cnn", in_channels=3, image_size=32)) == 62_006


@pytest.mark.parametrize("name", ["classic_cnn", "mcmahan_cnn", "mcmahan_2nn", "simple_cnn"])
def test_mnist_forward_shapes(name):
    torch.manual_seed(0)
    out = get_model(name)(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)  # log-probabilities


@pytest.mark.parametrize("name", ["cifar_cnn", "simple_cnn", "mcmahan_2nn", "vgg11", "vgg16", "vgg19"])
def test_cifar_forward_shapes(name):
    torch.manual_seed(0)
    model = get_model(name, in_channels=3, image_size=32)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-5)


def test_num_classes():
    assert get_model("cifar_cnn", in_channels=3, num_classes=100)(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert get_model("simple_cnn", num_classes=62)(torch.randn(2, 1, 28, 28)).shape == (2, 62)


def test_vgg_has_batch_norm_buffers():
    state = get_model("vgg11", in_channels=3, image_size=32).state_dict()
    assert any(k.endswith("running_mean") for k in state)
    assert any(k.endswith("num_batches_tracked") and v.dtype == torch.long for k, v in state.items())


def test_errors():
    with pytest.raises(ValueError, match="Unknown model"):
        get_model("resnet50")
    with pytest.raises(ValueError, match="28x28"):
        get_model("classic_cnn", in_channels=3, image_size=32)
    assert {"classic_cnn", "mcmahan_cnn", "mcmahan_2nn", "simple_cnn", "cifar_cnn", "vgg19"} <= set(MODELS)
