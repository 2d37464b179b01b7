import shutil

import numpy as np
import pytest
import torch

from fedsyft.data import (
    MNIST,
    ChecksumError,
    DatasetNotFoundError,
    FashionMNIST,
    data_root,
    load_fashion_mnist,
    load_mnist,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_train_shapes_and_class_counts():
    x, y = load_mnist("train")
    assert x.shape == (60000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert np.bincount(y.numpy(), minlength=10).tolist() == MNIST_TRAIN_COUNTS


def test_mnist_test_counts_and_first_label():
    x, y = load_mnist("test")
    assert x.shape == (10000, 28, 28)
    assert np.bincount(y.numpy(), minlength=10).tolist() == MNIST_TEST_COUNTS
    assert y[:5].tolist() == [7, 2, 1, 0, 4]


def test_fashion_mnist_loads_balanced():
    x, y = load_fashion_mnist("train")
    assert x.shape == (60000, 28, 28)
    assert np.bincount(y.numpy()).tolist() == [6000] * 10


def test_dataset_is_normalised_and_indexable():
    ds = MNIST("test")
    assert len(ds) == 10000 and ds.data.shape == (10000, 1, 28, 28)
    assert abs(ds.data.mean().item()) < 0.05 and abs(ds.data.std().item() - 1) < 0.05
    img, label = ds[0]
    assert img.shape == (1, 28, 28) and label.item() == 7
    raw = MNIST("test", normalize=False)
    assert 0.0 <= raw.data.min().item() and raw.data.max().item() <= 1.0
    assert FashionMNIST("test").classes[9] == "Ankle boot"


def test_torch_dataloader_works_on_fedsyft_dataset():
    loader = torch.utils.data.DataLoader(MNIST("test"), batch_size=100)
    x, y = next(iter(loader))
    assert x.shape == (100, 1, 28, 28) and y.shape == (100,)


def _copy_data(tmp_path):
    src = data_root()
    dst = tmp_path / "data"
    (dst / "MNIST").mkdir(parents=True)
    shutil.copytree(src / "MNIST" / "raw", dst / "MNIST" / "raw")
    shutil.copy(src / "SHA256SUMS", dst / "SHA256SUMS")
    return dst


def test_corrupted_file_raises_checksum_error_naming_file(tmp_path):
    root = _copy_data(tmp_path)
    target = root / "MNIST/raw/t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as err:
        load_mnist("test", root=root)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "git checkout" in msg


def test_truncated_file_raises_checksum_error(tmp_path):
    root = _copy_data(tmp_path)
    target = root / "MNIST/raw/t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ChecksumError, match="t10k-images"):
        load_mnist("test", root=root)


def test_missing_file_error_names_file_and_fix(tmp_path):
    root = _copy_data(tmp_path)
    (root / "MNIST/raw/train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist("train", root=root)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte.gz" in msg and "Restore" in msg


def test_missing_checksum_list_is_an_error(tmp_path):
    root = _copy_data(tmp_path)
    (root / "SHA256SUMS").unlink()
    with pytest.raises(DatasetNotFoundError, match="SHA256SUMS"):
        load_mnist("test", root=root)


def test_fedsyft_data_env_var(tmp_path, monkeypatch):
    root = _copy_data(tmp_path)
    monkeypatch.setenv("FEDSYFT_DATA", str(root))
    assert data_root() == root
    _, y = load_mnist("test")
    assert len(y) == 10000


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
