"""SHA256 verification of the shipped dataset files (done once per file per process)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ChecksumError, DatasetNotFoundError

_VERIFIED: set[tuple[str, float, int]] = set()


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_sums(sums_file: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into {relative path: hex digest}."""
    sums: dict[str, str] = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest
    return sums


def restore_hint(relative: str) -> str:
    return (
        f"Restore it from the fedsyft repository: `git checkout -- data/{relative}` "
        f"(or copy data/{relative} from a fresh clone), or point FEDSYFT_DATA / root= "
        f"at a folder that holds {relative} and SHA256SUMS."
    )


def verify_file(root: Path, relative: str) -> Path:
    """Check that ``root/relative`` exists and matches ``root/SHA256SUMS``.

    Raises
    ------
    DatasetNotFoundError
        the file (or SHA256SUMS) is missing; the message names it and says how to restore it.
    ChecksumError
        the file's SHA256 differs from the published one (a corrupted or truncated copy).
    """
    path = root / relative
    if not path.is_file():
        raise DatasetNotFoundError(f"Dataset file not found: {path}. {restore_hint(relative)}")
    sums_file = root / "SHA256SUMS"
    if not sums_file.is_file():
        raise DatasetNotFoundError(
            f"Checksum list not found: {sums_file}; fedsyft verifies every dataset file "
            f"against it. {restore_hint('SHA256SUMS')}"
        )
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key in _VERIFIED:
        return path
    expected = read_sums(sums_file).get(relative)
    if expected is None:
        raise ChecksumError(f"{relative} is not listed in {sums_file}. {restore_hint('SHA256SUMS')}")
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            f"The file is corrupted or truncated. {restore_hint(relative)}"
        )
    _VERIFIED.add(key)
    return path
