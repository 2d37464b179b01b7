"""Virtual workers: in-process parties with their own object store.

A :class:`VirtualWorker` is a simulation of a remote machine. What it "holds" lives in its
``_objects`` store (id -> object); the rest of the program reaches those objects only through
pointers, and every transfer is counted in :attr:`VirtualWorker.traffic`.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from .errors import GetNotPermittedError, ObjectNotFoundError, WorkerNotFoundError
from .traffic import TrafficStats, nbytes_of

_ids = itertools.count(1)
_KNOWN: weakref.WeakValueDictionary[str, BaseWorker] = weakref.WeakValueDictionary()


def new_object_id() -> int:
    """A fresh id for an object at a worker (increasing, so notebooks print stable ids)."""
    return next(_ids)


class BaseWorker:
    """A party that stores objects and runs commands on them.

    Parameters
    ----------
    hook:
        the :class:`~fedsyft.workers.hook.TorchHook`, accepted for compatibility with the
        classic API (``VirtualWorker(hook, id="bob")``); it may be ``None``.
    id:
        the worker's name. Workers are equal when their ids are equal.
    """

    def __init__(self, hook=None, id: str = "worker", *, verbose: bool = False) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"id must be a non-empty string, got {id!r}.")
        self.hook = hook
        self.id = id
        self.verbose = verbose
        self._objects: dict[int, Any] = {}
        self._private: set[int] = set()
        self.traffic = TrafficStats()
        self.alive = True
        _KNOWN[id] = self

    # -- identity -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseWorker) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("fedsyft-worker", self.id))

    def __repr__(self) -> str:
        state = "" if self.alive else " (shut down)"
        return f"<{type(self).__name__} id:{self.id} #objects:{len(self._objects)}{state}>"

    # -- the object store ---------------------------------------------------------------
    def _check_alive(self) -> None:
        if not self.alive:
            raise WorkerNotFoundError(
                f"Worker '{self.id}' has shut down and its objects are gone. "
                f"Create a new VirtualWorker(id='{self.id}') and send the data again."
            )

    def register_obj(self, obj: Any, *, private: bool = False, obj_id: int | None = None) -> int:
        """Store ``obj`` here (no copy, no traffic counted) and return its id."""
        self._check_alive()
        oid = new_object_id() if obj_id is None else obj_id
        self._objects[oid] = obj
        if private:
            self._private.add(oid)
        return oid

    def get_obj(self, obj_id: int) -> Any:
        """The object stored under ``obj_id`` (stays here)."""
        self._check_alive()
        try:
            return self._objects[obj_id]
        except KeyError:
            raise ObjectNotFoundError(
                f"Object {obj_id} is not stored at worker '{self.id}'. .get() was probably "
                f"already called on this pointer (get() removes the object from the worker), "
                f"or the object was moved or deleted."
            ) from None

    def is_private(self, obj_id: int) -> bool:
        return obj_id in self._private

    def check_permitted(self, obj_id: int, action: str) -> None:
        if obj_id in self._private:
            raise GetNotPermittedError(
                f"Object {obj_id} at worker '{self.id}' is private: {action} is not permitted. "
                f"Compute on it remotely (send the model to the data) and get() only results."
            )

    def get_permitted(self, obj_id: int, action: str) -> Any:
        """The object under ``obj_id`` if it exists and is not private (else raise)."""
        obj = self.get_obj(obj_id)
        self.check_permitted(obj_id, action)
        return obj

    def send_back(self, obj_id: int) -> Any:
        """``get()``: remove a (non-private) object and count its bytes as leaving this worker."""
        self.get_permitted(obj_id, "get()")
        obj = self.rm_obj(obj_id)
        self.traffic.record_out(nbytes_of(obj))
        return obj

    def transfer(self, obj_id: int, dest: BaseWorker) -> int:
        """``move()``: hand a (non-private) object to ``dest``; returns its id there."""
        self.get_permitted(obj_id, "move()")
        obj = self.rm_obj(obj_id)
        n = nbytes_of(obj)
        self.traffic.record_out(n)
        dest.traffic.record_in(n)
        return dest.register_obj(obj)

    def rm_obj(self, obj_id: int) -> Any:
        """Remove and return the object under ``obj_id``."""
        obj = self.get_obj(obj_id)
        del self._objects[obj_id]
        self._private.discard(obj_id)
        return obj

    def _forget(self, obj_id: int) -> None:
        """Drop an object whose last pointer was garbage collected (silent if gone)."""
        self._objects.pop(obj_id, None)
        self._private.discard(obj_id)

    def clear_objects(self) -> BaseWorker:
        """Delete every object stored here."""
        self._objects.clear()
        self._private.clear()
        return self

    def shutdown(self) -> None:
        """Simulate the worker going away: its objects are lost and pointers to it fail."""
        self.clear_objects()
        self.alive = False
        if _KNOWN.get(self.id) is self:
            del _KNOWN[self.id]

    # -- remote execution -----------------------------------------------------------------
    def execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        """Run ``fn`` *at this worker* and return a pointer to its result.

        Pointer arguments (tensors or sent modules) must be located here and are replaced by
        the objects they point to; plain arguments travel with the command (and are
        counted). The result stays here: call ``.get()`` on the returned pointer to fetch it.
        This is how a whole local training loop runs where the data is.

        Example
        -------
        >>> import torch
        >>> from fedsyft.workers import VirtualWorker, send
        >>> w = VirtualWorker(id="exec_doc")
        >>> p = send(torch.ones(3), w)
        >>> w.execute(lambda t: t * 2, p).get()
        tensor([2., 2., 2.])
        """
        from .pointer import pointer_to, resolve_for_execution

        self._check_alive()
        real_args, real_kwargs, shipped = resolve_for_execution(self, args, kwargs)
        self.traffic.commands += 1
        self.traffic.record_in(shipped)
        result = fn(*real_args, **real_kwargs)
        return pointer_to(self, result)


class VirtualWorker(BaseWorker):
    """An in-process worker, the classic PySyft simulation of a remote party.

    Example
    -------
    >>> bob = VirtualWorker(id="bob_doc")
    >>> bob
    <VirtualWorker id:bob_doc #objects:0>
    """


class LocalWorker(BaseWorker):
    """The local party (``me``): the owner of every pointer."""


local_worker = LocalWorker(id="me")


def known_workers() -> dict[str, BaseWorker]:
    """The live workers by id."""
    return dict(_KNOWN)


def resolve_worker(worker: BaseWorker | str) -> BaseWorker:
    """Turn a worker or a worker id into a live worker, or raise :class:`WorkerNotFoundError`."""
    if isinstance(worker, BaseWorker):
        worker._check_alive()
        return worker
    if isinstance(worker, str):
        found = _KNOWN.get(worker)
        if found is not None and found.alive:
            return found
        names = sorted(k for k in _KNOWN if k != "me")
        raise WorkerNotFoundError(
            f"No worker with id '{worker}'. Known workers: {names or 'none'}. "
            f"Create it first: VirtualWorker(hook, id='{worker}')."
        )
    raise WorkerNotFoundError(
        f"Expected a VirtualWorker or a worker id string, got {type(worker).__name__}."
    )


def transfer_cost(obj: Any) -> int:
    return nbytes_of(obj)
