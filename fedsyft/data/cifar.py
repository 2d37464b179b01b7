"""CIFAR-10 from ``cifar-10-batches-py`` or ``cifar-10-python.tar.gz``.

CIFAR-10 is not shipped (no package registry carries it). Online users pass
``download=True``: fedsyft fetches the canonical archive and checks its md5 before
using it. Offline, the error says exactly where to put the archive.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from .checksums import md5_of
from .errors import ChecksumError, DatasetNotFoundError
from .paths import data_root
from .vision import TensorImageDataset

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _decode_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        entry = pickle.loads(raw, encoding="bytes")
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ChecksumError(f"CIFAR-10 batch {name} is not a readable pickle ({exc}).") from exc
    data = entry.get(b"data", entry.get("data"))
    labels = entry.get(b"labels", entry.get("labels"))
    if data is None or labels is None:
        raise ChecksumError(f"CIFAR-10 batch {name} lacks 'data' or 'labels'.")
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    return images, np.asarray(labels, dtype=np.int64)


def _where_to_put(base: Path) -> str:
    return (
        f"Put {CIFAR10_ARCHIVE} (md5 {CIFAR10_MD5}, from {CIFAR10_URL}) in {base}/ "
        f"or its extracted folder at {base / CIFAR10_FOLDER}/, or call "
        f"load_cifar10(download=True) on a machine with internet access."
    )


def download_cifar10(root: str | os.PathLike | None = None, *, url: str = CIFAR10_URL) -> Path:
    """Fetch the canonical archive into ``root`` and verify its md5; returns its path."""
    base = data_root(root)
    base.mkdir(parents=True, exist_ok=True)
    target = base / CIFAR10_ARCHIVE
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(partial, "wb") as out:
            while block := resp.read(1 << 20):
                out.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DatasetNotFoundError(f"Could not download CIFAR-10 ({exc}). {_where_to_put(base)}") from exc
    digest = md5_of(partial)
    if digest != CIFAR10_MD5:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"Downloaded CIFAR-10 archive has md5 {digest}, expected {CIFAR10_MD5}; "
            f"it was deleted. Try again, or {_where_to_put(base)}"
        )
    partial.replace(target)
    return target


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None, *,
                 download: bool = False, verify_md5: bool = True):
    """CIFAR-10 as raw tensors: ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    Looks for ``root/cifar-10-batches-py/`` first, then ``root/cifar-10-python.tar.gz``
    (whose md5 is checked). With ``download=True`` and neither present, fetches the
    archive first.

    Parameters
    ----------
    split: ``"train"`` (50,000) or ``"test"`` (10,000).
    root: folder holding the archive or the extracted folder.
    download: fetch the canonical archive if nothing is found (needs internet).
    verify_md5: check the archive's md5 before reading it.

    Example
    -------
    >>> load_cifar10("test", root="/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fedsyft.data.errors.DatasetNotFoundError: CIFAR-10 not found...
    """
    if split not in _BATCHES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    base = data_root(root)
    folder, archive = base / CIFAR10_FOLDER, base / CIFAR10_ARCHIVE
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    if folder.is_dir():
        for name in _BATCHES[split]:
            path = folder / name
            if not path.is_file():
                raise DatasetNotFoundError(f"CIFAR-10 batch file missing: {path}. {_where_to_put(base)}")
            parts.append(_decode_batch(path.read_bytes(), name))
    else:
        if not archive.is_file():
            if not download:
                raise DatasetNotFoundError(f"CIFAR-10 not found in {base}. {_where_to_put(base)}")
            download_cifar10(base)
        elif verify_md5:
            digest = md5_of(archive)
            if digest != CIFAR10_MD5:
                raise ChecksumError(
                    f"Checksum mismatch for {archive}: md5 {digest}, expected {CIFAR10_MD5}. "
                    f"The archive is corrupted or not the canonical one. {_where_to_put(base)}"
                )
        with tarfile.open(archive, "r:gz") as tar:
            for name in _BATCHES[split]:
                member = f"{CIFAR10_FOLDER}/{name}"
                try:
                    raw = tar.extractfile(member).read()
                except (KeyError, AttributeError) as exc:
                    raise DatasetNotFoundError(
                        f"{archive} has no member {member}. {_where_to_put(base)}") from exc
                parts.append(_decode_batch(raw, name))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def CIFAR10(split: str = "train", *, root=None, download: bool = False,
            normalize: bool = True, verify_md5: bool = True) -> TensorImageDataset:
    """CIFAR-10 as a torch Dataset with the usual per-channel normalisation."""
    x, y = load_cifar10(split, root, download=download, verify_md5=verify_md5)
    return TensorImageDataset(x, y, mean=CIFAR10_MEAN, std=CIFAR10_STD, classes=CIFAR10_CLASSES,
                              normalize=normalize, name=f"CIFAR10-{split}")
