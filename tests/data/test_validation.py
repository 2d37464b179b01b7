"""Bad input to the data layer gets one clear error that names the parameter (or the file)
and the fix: federate()'s workers and partition, FederatedDataLoader's options (issue 12.4),
and a damaged data/SHA256SUMS (issue 12.5)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fedsyft.data import ChecksumError, FederatedDataLoader, data_root, federate, load_mnist


@pytest.fixture
def small():
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(12, 3, generator=g), torch.arange(12) % 3)


BAD_WORKERS = [
    (None, TypeError, r"workers=None is invalid: expected a list or tuple of VirtualWorkers"),
    ("bob", TypeError, r"workers='bob' is invalid"),
    (3, TypeError, r"workers=3 is invalid"),
    ([], ValueError, r"workers is empty"),
]


@pytest.mark.parametrize("workers,exc,match", BAD_WORKERS)
def test_federate_names_workers(small, workers, exc, match):
    with pytest.raises(exc, match=match):
        federate(small, workers)


def test_federate_names_a_single_worker_and_duplicates(small, workers):
    bob = workers[0]
    with pytest.raises(TypeError, match=r"workers=<VirtualWorker id:bob.*e\.g\. federate\(dataset, \(bob, alice\)\)"):
        federate(small, bob)
    with pytest.raises(ValueError, match=r"workers has duplicates: \['bob', 'bob'\]"):
        federate(small, [bob, "bob"])


BAD_PARTITIONS = [
    ("dirichlet", TypeError, r"partition='dirichlet' is invalid: .*partitioner object such as "
                             r"fedsyft\.partition\.Dirichlet\(alpha=0\.5, seed=0\)"),
    (5, TypeError, r"partition=5 is invalid: pass None .*one index array per worker"),
    ([np.arange(6) * 1.0, np.arange(6, 12) * 1.0], ValueError,
     r"partition\[0\] has dtype float64: sample indices must be integers"),
    ([np.arange(12) < 6, np.arange(12) >= 6], ValueError,
     r"partition\[0\] has dtype bool: .*np\.flatnonzero\(mask\)"),
    ([[0.5, 1.5], [2.0]], ValueError, r"partition\[0\] has dtype float64"),
    ([np.arange(6).reshape(2, 3), np.arange(6, 12)], ValueError, r"partition\[0\] has shape \(2, 3\)"),
    ([np.arange(6)], ValueError, r"partition gave 1 index arrays for 2 workers"),
    ([np.arange(6), np.arange(6, 13)], ValueError, r"indices outside \[0, 12\) \(the dataset has 12 samples\)"),
]


@pytest.mark.parametrize("partition,exc,match", BAD_PARTITIONS)
def test_federate_names_partition(small, workers, partition, exc, match):
    bob, alice, _ = workers
    with pytest.raises(exc, match=match):
        federate(small, (bob, alice), partition)
    assert len(bob._objects) == 0  # nothing was sent


def test_integer_index_arrays_of_any_int_dtype_and_torch_are_accepted(small, workers):
    bob, alice, _ = workers
    fds = federate(small, (bob, alice), [np.arange(6, dtype=np.int32), torch.arange(6, 12)])
    assert fds.num_samples == {"bob": 6, "alice": 6}


BAD_OPTIONS = [
    ({"private": "yes"}, TypeError, r"private='yes' is invalid: expected True or False"),
    ({"client_transforms": "noise"}, TypeError, r"client_transforms='noise' is invalid"),
    ({"client_transforms": [None]}, ValueError, r"client_transforms has 1 entries for 2 workers"),
    ({"client_transforms": [None, 3]}, TypeError, r"client_transforms\[1\]=3 is invalid"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD_OPTIONS)
def test_federate_names_its_options(small, workers, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        federate(small, workers[:2], **kwargs)


BAD_LOADER = [
    ({"batch_size": True}, ValueError, r"batch_size=True is invalid: expected an integer >= 1"),
    ({"batch_size": 0}, ValueError, r"batch_size=0 is invalid"),
    ({"batch_size": 2.5}, ValueError, r"batch_size=2\.5 is invalid"),
    ({"shuffle": "yes"}, TypeError, r"shuffle='yes' is invalid: expected True or False"),
    ({"drop_last": 1}, TypeError, r"drop_last=1 is invalid"),
    ({"iter_per_worker": None}, TypeError, r"iter_per_worker=None is invalid"),
    ({"seed": -1}, ValueError, r"seed=-1 is invalid: expected None or an integer >= 0"),
    ({"seed": 1.5}, ValueError, r"seed=1\.5 is invalid"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD_LOADER)
def test_federated_data_loader_names_its_options(small, workers, kwargs, exc, match):
    fds = federate(small, workers[:2])
    with pytest.raises(exc, match=match):
        FederatedDataLoader(fds, **kwargs)


# -- a damaged SHA256SUMS (12.5) ---------------------------------------------------------
def _copy_mnist_test(tmp_path):
    src, dst = data_root(), tmp_path / "data"
    (dst / "MNIST" / "raw").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(src / "MNIST" / "raw" / name, dst / "MNIST" / "raw" / name)
    shutil.copy(src / "SHA256SUMS", dst / "SHA256SUMS")
    return dst


def _first_line_becomes(text: str, new: str) -> str:
    lines = text.splitlines()
    return "\n".join([new, *lines[1:]]) + "\n"


DAMAGES = {
    "a line without a name": (lambda t: _first_line_becomes(t, "d" * 64), r"line 1 .* has no file name"),
    "a digest too short": (lambda t: _first_line_becomes(t, "abc123  MNIST/raw/x.gz"),
                           r"line 1 has a digest of 6 characters .*64 hex digits"),
    "a digest too long": (lambda t: t.replace(t[:64], t[:64] + "00", 1), r"digest of 66 characters"),
    "not hex": (lambda t: t.replace(t[:64], "z" * 64, 1), r"digest of 64 characters"),
    "a lone word": (lambda t: "garbage\n" + t, r"line 1 \('garbage'\) has no file name"),
    "empty": (lambda t: "", r"it lists no files"),
    "binary": (None, r"it is not a text file"),
    "conflicting duplicate": (lambda t: t + ("0" * 64) + "  " + t.splitlines()[0].split()[1] + "\n",
                              r"is listed twice with different digests"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_sums_file_gives_one_clear_error(tmp_path, damage):
    root = _copy_mnist_test(tmp_path)
    sums = root / "SHA256SUMS"
    edit, match = DAMAGES[damage]
    if edit is None:
        sums.write_bytes(b"\xff\xfe\x00garbage\x80")
    else:
        sums.write_text(edit(sums.read_text()))
    with pytest.raises(ChecksumError, match=match) as err:
        load_mnist("test", root=root)
    msg = str(err.value)
    assert str(sums) in msg and "git checkout -- data/SHA256SUMS" in msg


def test_comments_and_binary_markers_in_sums_are_fine(tmp_path):
    root = _copy_mnist_test(tmp_path)
    sums = root / "SHA256SUMS"
    text = sums.read_text().replace("  MNIST/raw/t10k-images", " *MNIST/raw/t10k-images")
    sums.write_text("# sha256 of the shipped files\n\n" + text)
    x, y = load_mnist("test", root=root)
    assert len(y) == 10000
