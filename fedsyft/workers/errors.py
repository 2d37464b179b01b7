"""The error vocabulary of virtual workers. Every message says what to do instead."""

from __future__ import annotations


class WorkerError(Exception):
    """Base class of fedsyft worker errors."""


class ObjectNotFoundError(WorkerError, LookupError):
    """The object a pointer refers to is not (or no longer) stored at its worker."""


class TensorsNotCollocatedError(WorkerError, RuntimeError):
    """An operation mixed objects held by different workers (or a pointer and a local tensor)."""


class GetNotPermittedError(WorkerError, PermissionError):
    """The object is private at its worker: it cannot be fetched, moved or copied."""


class WorkerNotFoundError(WorkerError, LookupError):
    """No worker with that id is known (or it has shut down)."""


class RemoteValueError(WorkerError, RuntimeError):
    """A call that reads a value (``item()``, ``bool()``, ...) was made on a pointer."""
