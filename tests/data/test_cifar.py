"""The CIFAR-10 loader on generated fixtures in the real pickle format (never called real data)."""

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest

import fedsyft.data.cifar as cifar
from fedsyft.data import CIFAR10, ChecksumError, DatasetNotFoundError, load_cifar10

PER_BATCH = 7


def _batch(seed: int, n: int = PER_BATCH) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"fixture batch {seed}".encode(),
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def _write_folder(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _batch(i) for i in range(1, 6)}
    batches["test_batch"] = _batch(99)
    for name, b in batches.items():
        (folder / name).write_bytes(pickle.dumps(b, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in cifar.CIFAR10_CLASSES]}))
    return batches


def _write_archive(root, batches):
    path = root / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, b in batches.items():
            raw = pickle.dumps(b, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_loads_extracted_folder_in_real_format(tmp_path):
    batches = _write_folder(tmp_path)
    x, y = load_cifar10("train", root=tmp_path)
    assert x.shape == (5 * PER_BATCH, 3, 32, 32) and str(x.dtype) == "torch.uint8"
    expected = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    assert np.array_equal(x.reshape(len(x), -1).numpy(), expected)
    assert y.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    xt, yt = load_cifar10("test", root=tmp_path)
    assert len(yt) == PER_BATCH


def test_loads_archive_with_md5_check(tmp_path, monkeypatch):
    batches = {f"data_batch_{i}": _batch(i) for i in range(1, 6)}
    batches["test_batch"] = _batch(99)
    archive = _write_archive(tmp_path, batches)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError, match="md5"):
        load_cifar10("test", root=tmp_path)  # the fixture is not the canonical archive
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5)
    ds = CIFAR10("test", root=tmp_path)
    assert ds.data.shape == (PER_BATCH, 3, 32, 32)
    assert ds.targets.tolist() == batches["test_batch"][b"labels"]


def test_offline_error_says_where_to_put_archive(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_cifar10("train", root=tmp_path)
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path) in msg and "c58f30108f718f92721af3b95e74349a" in msg


def test_download_verifies_md5_and_deletes_bad_file(tmp_path):
    batches = {"test_batch": _batch(1)}
    src = _write_archive(tmp_path / "src", batches) if (tmp_path / "src").mkdir() is None else None
    with pytest.raises(ChecksumError, match="expected c58f"):
        cifar.download_cifar10(tmp_path / "dest", url=src.as_uri())
    assert not (tmp_path / "dest" / "cifar-10-python.tar.gz").exists()


def test_download_failure_is_clear(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Could not download"):
        cifar.download_cifar10(tmp_path, url=(tmp_path / "nothing.tar.gz").as_uri())


def test_missing_batch_in_folder(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        load_cifar10("train", root=tmp_path)
