"""fedsyft.models: parameter counts of the papers and forward shapes."""

from __future__ import annotations

import pytest
import torch

from fedsyft.models import MODELS, ClassicCNN, count_parameters, get_model, model_name


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


def test_one_registry_builds_every_model_and_names_it_back():
    for name, spec in MODELS.items():
        channels = 3 if spec.image_size == 32 else 1
        model = get_model(name, in_channels=channels)  # image_size None: the model's own size
        assert type(model) is spec.cls
        assert model_name(model) == name
        out = model(torch.randn(2, channels, spec.image_size, spec.image_size))
        assert out.shape == (2, 10)
    assert model_name(torch.nn.Linear(3, 2)) is None

    class Wider(ClassicCNN):  # a subclass may change the architecture: not named
        pass

    assert model_name(Wider()) is None
    assert [model_name(get_model(f"vgg{d}", in_channels=3)) for d in (11, 16, 19)] == ["vgg11", "vgg16", "vgg19"]


@pytest.mark.parametrize("name, kwargs, match", [
    ("vgg19", {"in_channels": 1, "image_size": 28}, "vgg19 is built for 32x32"),
    ("cifar_cnn", {"image_size": 28}, "cifar_cnn is built for 32x32"),
    ("mcmahan_cnn", {"in_channels": 3, "image_size": 32}, "models for 32x32: mcmahan_2nn, simple_cnn, cifar_cnn, vgg11"),
    ("vgg16", {"image_size": 28}, "models for 28x28: classic_cnn, mcmahan_cnn, mcmahan_2nn, simple_cnn[.]$"),
    ("simple_cnn", {"image_size": 12}, "at least 16x16"),
    ("simple_cnn", {"in_channels": 0}, "in_channels must be an integer >= 1"),
    ("mcmahan_2nn", {"num_classes": 2.5}, "num_classes must be an integer >= 1"),
    ("mcmahan_2nn", {"image_size": True}, "image_size must be an integer >= 1"),
    (None, {}, "Unknown model None"),
])
def test_inputs_a_model_cannot_take_are_refused_when_built(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_model(name, **kwargs)


def test_vgg19_is_the_batch_norm_variant():
    model = get_model("vgg19", in_channels=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == len(norms) == 16  # VGG-19: 16 conv layers, each followed by batch norm
