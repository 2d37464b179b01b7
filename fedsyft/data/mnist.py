"""MNIST and Fashion-MNIST from the shipped, checksummed IDX files (fully offline)."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch

from .checksums import verify_file
from .idx import read_idx
from .paths import data_root
from .vision import TensorImageDataset

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def _check_split(split: str) -> None:
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")


@lru_cache(maxsize=8)
def _load_idx_pair(folder: str, split: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    base = data_root(root)
    img_name, lbl_name = _FILES[split]
    img = read_idx(verify_file(base, f"{folder}/raw/{img_name}"))
    lbl = read_idx(verify_file(base, f"{folder}/raw/{lbl_name}"))
    img.setflags(write=False)
    lbl.setflags(write=False)
    return img, lbl


def _load(folder: str, split: str, root) -> tuple[torch.Tensor, torch.Tensor]:
    _check_split(split)
    img, lbl = _load_idx_pair(folder, split, str(data_root(root)))
    return torch.from_numpy(img.copy()), torch.from_numpy(lbl.astype(np.int64))


def load_mnist(split: str = "train", root: str | os.PathLike | None = None):
    """MNIST as raw tensors: ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    Files are read from ``data/MNIST/raw`` and checked against ``data/SHA256SUMS``
    the first time they are loaded in a process.

    Parameters
    ----------
    split:
        ``"train"`` (60,000) or ``"test"`` (10,000).
    root:
        folder holding ``MNIST/raw`` and ``SHA256SUMS``; defaults to ``$FEDSYFT_DATA``
        or the repository's ``data/``.

    Example
    -------
    >>> x, y = load_mnist("test")
    >>> tuple(x.shape), x.dtype, int(y[0])
    ((10000, 28, 28), torch.uint8, 7)
    """
    return _load("MNIST", split, root)


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None):
    """Fashion-MNIST as raw tensors; same layout and checks as :func:`load_mnist`."""
    return _load("FashionMNIST", split, root)


def MNIST(split: str = "train", *, root=None, normalize: bool = True) -> TensorImageDataset:
    """MNIST as a torch Dataset, normalised with mean 0.1307 and std 0.3081.

    Example
    -------
    >>> ds = MNIST("test")
    >>> ds[0][0].shape, ds[0][1].item()
    (torch.Size([1, 28, 28]), 7)
    """
    x, y = load_mnist(split, root)
    return TensorImageDataset(x, y, mean=MNIST_MEAN, std=MNIST_STD, classes=MNIST_CLASSES,
                              normalize=normalize, name=f"MNIST-{split}")


def FashionMNIST(split: str = "train", *, root=None, normalize: bool = True) -> TensorImageDataset:
    """Fashion-MNIST as a torch Dataset, normalised with mean 0.2860 and std 0.3530."""
    x, y = load_fashion_mnist(split, root)
    return TensorImageDataset(x, y, mean=FASHION_MEAN, std=FASHION_STD, classes=FASHION_CLASSES,
                              normalize=normalize, name=f"FashionMNIST-{split}")
