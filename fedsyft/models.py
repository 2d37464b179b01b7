"""The models of the series, with the parameter counts of the papers they come from.

==================  ==============================================  ==========
name                what                                            parameters
==================  ==============================================  ==========
``classic_cnn``     the classic PySyft MNIST CNN (conv 20, conv 50,  431,080
                    fc 500)
``mcmahan_cnn``     McMahan et al. 2017 CNN (conv 32, conv 64,       1,663,370
                    fc 512)
``mcmahan_2nn``     McMahan et al. 2017 2NN (200-200)                199,210
``simple_cnn``      NIID-Bench simple-cnn (conv 6, conv 16; 120-84)  44,426 (MNIST)
``cifar_cnn``       a small CIFAR-10 CNN                              see tests
``vgg11/16/19``     VGG with batch norm for 32x32 inputs (the        see tests
                    "Preserving Data Privacy in Deep Learning"
                    series trains VGG19 with batch norm)
==================  ==============================================  ==========

:data:`MODELS` is the one registry of these names: :func:`get_model` builds from it, the
command line's ``--model`` choices and help come from it, and :func:`model_name` looks a
built model up in it (the syft bridge uses that to tell a datasite which model to rebuild).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class ClassicCNN(nn.Module):
    """The CNN of the classic PySyft MNIST tutorial (conv 20, conv 50, fc 500)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = x.view(-1, 4 * 4 * 50)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class McMahanCNN(nn.Module):
    """McMahan et al. 2017's MNIST CNN: two 5x5 convs (32, 64), each with 2x2 max pooling,
    a 512-unit fully connected layer, softmax output (1,663,370 parameters)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 512)
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


class McMahan2NN(nn.Module):
    """McMahan et al. 2017's 2NN: an MLP with two hidden layers of 200 ReLU units (199,210)."""

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, 200)
        self.fc2 = nn.Linear(200, 200)
        self.fc3 = nn.Linear(200, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class SimpleCNN(nn.Module):
    """NIID-Bench's simple-cnn: conv 6, conv 16 (5x5, max pool), then 120-84 (44,426 on MNIST)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side = ((image_size - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class CifarCNN(nn.Module):
    """A small CIFAR-10 CNN: conv 32, conv 64, conv 64 (3x3, max pool), fc 256."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


_VGG_CFG: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG with batch norm for 32x32 images (the "Preserving Data Privacy in Deep Learning"
    series trains VGG19 with batch norm on CIFAR-10).

    Batch-norm buffers (running mean and variance) are averaged by FedAvg like weights;
    see :func:`fedsyft.fl.aggregate.fedavg`.
    """

    def __init__(self, depth: int = 19, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        if depth not in _VGG_CFG:
            raise ValueError(f"depth must be one of {sorted(_VGG_CFG)}, got {depth}.")
        self.depth = depth
        layers: list[nn.Module] = []
        c = in_channels
        for v in _VGG_CFG[depth]:
            if isinstance(v, str):  # "M": max pooling
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.classifier(self.features(x).flatten(1)), dim=1)


@dataclass(frozen=True)
class ModelSpec:
    """One entry of :data:`MODELS`: how to build a model by name, and for which inputs.

    Parameters
    ----------
    cls: the model class.
    summary: one line for listings (the CLI's ``--model`` help).
    image_size: the side of the square images the model is built for (its default).
    fixed_size: ``True`` when the architecture only works at ``image_size`` (its fully
        connected layer is sized for it); ``False`` when it adapts to any side.
    options: constructor arguments that pick a member of a family (``{"depth": 19}``).
    """

    cls: type[nn.Module]
    summary: str
    image_size: int = 28
    fixed_size: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def build(self, *, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
        """The model for ``in_channels`` x ``image_size`` x ``image_size`` images."""
        if self.cls is McMahan2NN:
            return McMahan2NN(in_channels * image_size * image_size, num_classes)
        if self.cls is SimpleCNN:
            return SimpleCNN(in_channels, num_classes, image_size)
        return self.cls(**self.options, in_channels=in_channels, num_classes=num_classes)


#: name -> :class:`ModelSpec`: the one registry of the series' models.
MODELS: dict[str, ModelSpec] = {
    "classic_cnn": ModelSpec(ClassicCNN, "the classic PySyft MNIST CNN (28x28)"),
    "mcmahan_cnn": ModelSpec(McMahanCNN, "McMahan et al. 2017 CNN (28x28)"),
    "mcmahan_2nn": ModelSpec(McMahan2NN, "McMahan et al. 2017 2NN, an MLP (any size)",
                             fixed_size=False),
    "simple_cnn": ModelSpec(SimpleCNN, "NIID-Bench simple-cnn (any size from 16x16)",
                            fixed_size=False),
    "cifar_cnn": ModelSpec(CifarCNN, "a small CIFAR-10 CNN (32x32)", image_size=32),
    "vgg11": ModelSpec(VGG, "VGG-11 with batch norm (32x32)", image_size=32, options={"depth": 11}),
    "vgg16": ModelSpec(VGG, "VGG-16 with batch norm (32x32)", image_size=32, options={"depth": 16}),
    "vgg19": ModelSpec(VGG, "VGG-19 with batch norm (32x32)", image_size=32, options={"depth": 19}),
}


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def get_model(name: str, *, in_channels: int = 1, num_classes: int = 10,
              image_size: int | None = None) -> nn.Module:
    """Build a model of :data:`MODELS` by name for ``in_channels`` x ``image_size`` images.

    Parameters
    ----------
    name: a key of :data:`MODELS` (``classic_cnn``, ``mcmahan_cnn``, ``mcmahan_2nn``,
        ``simple_cnn``, ``cifar_cnn``, ``vgg11``, ``vgg16``, ``vgg19``).
    in_channels: image channels (1 for MNIST, 3 for CIFAR-10).
    num_classes: output classes.
    image_size: the side of the square input images; ``None``: the size the model is built
        for (28 for the MNIST models, 32 for ``cifar_cnn`` and VGG). A model whose fully
        connected layer is sized for one input size refuses any other.

    Example
    -------
    >>> count_parameters(get_model("mcmahan_2nn"))
    199210
    >>> model_name(get_model("vgg11", in_channels=3))
    'vgg11'
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    spec = MODELS[name]
    in_channels = _check_positive_int("in_channels", in_channels)
    num_classes = _check_positive_int("num_classes", num_classes)
    size = spec.image_size if image_size is None else _check_positive_int("image_size", image_size)
    if spec.fixed_size and size != spec.image_size:
        fits = [n for n, s in MODELS.items() if not s.fixed_size or s.image_size == size]
        raise ValueError(f"{name} is built for {spec.image_size}x{spec.image_size} images"
                         f"{' (MNIST)' if spec.image_size == 28 else ' (CIFAR-10)'}, got "
                         f"image_size={size}; models for {size}x{size}: {', '.join(fits)}.")
    if spec.cls is SimpleCNN and ((size - 4) // 2 - 4) // 2 < 1:
        raise ValueError(f"simple_cnn needs images of at least 16x16, got image_size={size}.")
    return spec.build(in_channels=in_channels, num_classes=num_classes, image_size=size)


def model_name(model: nn.Module) -> str | None:
    """The :data:`MODELS` name that builds a model of this architecture, or ``None``.

    Looks at the exact class (a subclass may change the architecture) and, for families,
    at the member (VGG's depth). Input size and class count are not part of the name: pass
    them to :func:`get_model` again.

    Example
    -------
    >>> model_name(ClassicCNN())
    'classic_cnn'
    >>> model_name(torch.nn.Linear(2, 2)) is None
    True
    """
    for name, spec in MODELS.items():
        if type(model) is spec.cls and all(getattr(model, k, None) == v for k, v in spec.options.items()):
            return name
    return None


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
