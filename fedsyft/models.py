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
``vgg11/16/19``     VGG with batch norm for 32x32 inputs (seed: 19)  see tests
==================  ==============================================  ==========
"""

from __future__ import annotations

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


_VGG_CFG = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG with batch norm for 32x32 images (the seed article used VGG19 on CIFAR-10).

    Batch-norm buffers (running mean and variance) are averaged by FedAvg like weights;
    see :func:`fedsyft.fl.aggregate.fedavg`.
    """

    def __init__(self, depth: int = 19, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        if depth not in _VGG_CFG:
            raise ValueError(f"depth must be one of {sorted(_VGG_CFG)}, got {depth}.")
        layers: list[nn.Module] = []
        c = in_channels
        for v in _VGG_CFG[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.classifier(self.features(x).flatten(1)), dim=1)


MODELS = {
    "classic_cnn": ClassicCNN,
    "mcmahan_cnn": McMahanCNN,
    "mcmahan_2nn": McMahan2NN,
    "simple_cnn": SimpleCNN,
    "cifar_cnn": CifarCNN,
    "vgg11": lambda in_channels=3, num_classes=10: VGG(11, in_channels, num_classes),
    "vgg16": lambda in_channels=3, num_classes=10: VGG(16, in_channels, num_classes),
    "vgg19": lambda in_channels=3, num_classes=10: VGG(19, in_channels, num_classes),
}


def get_model(name: str, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    """Build a model by name for images of ``in_channels`` x ``image_size`` x ``image_size``.

    Example
    -------
    >>> count_parameters(get_model("mcmahan_2nn"))
    199210
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}.")
    if name == "mcmahan_2nn":
        return McMahan2NN(in_channels * image_size * image_size, num_classes)
    if name == "simple_cnn":
        return SimpleCNN(in_channels, num_classes, image_size)
    if name in ("classic_cnn", "mcmahan_cnn") and image_size != 28:
        raise ValueError(f"{name} is built for 28x28 images (MNIST); use cifar_cnn or vgg for {image_size}x{image_size}.")
    return MODELS[name](in_channels=in_channels, num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
