"""SHA256 verification of the shipped dataset files (done once per file per process)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ChecksumError, DatasetNotFoundError

_VERIFIED: set[tuple[str, float, int, float, int]] = set()


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


_HEX = frozenset("0123456789abcdef")


def _damaged(sums_file: Path, what: str) -> ChecksumError:
    return ChecksumError(
        f"The checksum list {sums_file} is damaged: {what}. fedsyft cannot verify the dataset "
        f"files without it. {restore_hint('SHA256SUMS')} (A fresh download of the datasets "
        f"comes with it too.)")


def read_sums(sums_file: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into {relative path: hex digest}.

    Each non-empty line is ``<64 hex digits> <space> [*]<relative path>``; lines starting
    with ``#`` are comments.

    Raises
    ------
    ChecksumError
        the file is damaged (not text, a line without a name, a digest that is not 64 hex
        digits, one name listed twice with different digests, or no entry at all); the
        message names the file and the line and says how to restore it.
    """
    try:
        text = sums_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(sums_file, "it is not a text file") from None
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or not fields[1].lstrip("*").strip():
            raise _damaged(sums_file, f"line {lineno} ({line.strip()[:60]!r}) has no file name "
                                      f"after the digest")
        digest, name = fields[0].lower(), fields[1].lstrip("*").strip()
        if len(digest) != 64 or not set(digest) <= _HEX:
            raise _damaged(sums_file, f"line {lineno} has a digest of {len(digest)} characters "
                                      f"({digest[:16]!r}...); a SHA256 digest is 64 hex digits")
        if sums.get(name, digest) != digest:
            raise _damaged(sums_file, f"{name} is listed twice with different digests (line {lineno})")
        sums[name] = digest
    if not sums:
        raise _damaged(sums_file, "it lists no files (empty)")
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
    stat, sums_stat = path.stat(), sums_file.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size, sums_stat.st_mtime, sums_stat.st_size)
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
