"""Errors raised by the data layer. Each message names the file and the fix."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is not where fedsyft looks for it."""


class ChecksumError(ValueError):
    """A dataset file exists but its bytes are not the published ones."""
