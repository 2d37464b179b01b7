"""Offline datasets (MNIST, Fashion-MNIST, CIFAR-10) and federated data."""

from .cifar import CIFAR10, CIFAR10_MD5, download_cifar10, load_cifar10
from .errors import ChecksumError, DatasetNotFoundError
from .federated import (
    FederatedDataLoader,
    FederatedDataset,
    InMemoryDataset,
    WorkerShard,
    classic_split,
    dataset_labels,
    dataset_tensors,
    federate,
)
from .mnist import MNIST, FashionMNIST, load_fashion_mnist, load_mnist
from .paths import data_root
from .vision import TensorImageDataset

__all__ = [
    "MNIST", "FashionMNIST", "CIFAR10", "load_mnist", "load_fashion_mnist", "load_cifar10",
    "download_cifar10", "CIFAR10_MD5", "TensorImageDataset", "data_root",
    "federate", "FederatedDataset", "InMemoryDataset", "FederatedDataLoader", "WorkerShard", "classic_split",
    "dataset_labels", "dataset_tensors", "ChecksumError", "DatasetNotFoundError",
]
