"""The storage class of a worker: an object store, an identity and traffic counters.

:class:`BaseWorker` is the bottom of the worker runtime: it stores objects (``_objects``,
id -> object), refuses private ones, counts bytes, and knows nothing about pointers. The
worker that *runs code* on what it stores, :class:`~fedsyft.workers.VirtualWorker`, lives one
layer up in :mod:`fedsyft.workers.runtime`, above pointers and sent modules.

One live worker per id
----------------------
Workers are distinct by id, and a registry maps each id to its one live worker (that is
what :func:`resolve_worker` and ``send(x, "bob")`` look up). Creating a worker whose id is
already live **replaces** the old one: the new worker is registered, and the old one is
*retired*: its objects are dropped, and using it (or a pointer to it) raises
:class:`~fedsyft.workers.WorkerNotFoundError` saying that it was replaced and what to do.
Re-running a notebook cell ``bob = VirtualWorker(hook, id="bob")`` therefore gives a fresh,
empty ``bob``, like restarting that machine; the cells that send data to it must run again.
The id ``"me"`` belongs to the local worker and cannot be taken.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from .errors import GetNotPermittedError, ObjectNotFoundError, WorkerNotFoundError
from .isolation import detached_copy
from .traffic import TrafficStats, nbytes_of

_ids = itertools.count(1)
_KNOWN: weakref.WeakValueDictionary[str, BaseWorker] = weakref.WeakValueDictionary()
LOCAL_ID = "me"


def new_object_id() -> int:
    """A fresh id for an object at a worker (increasing, so notebooks print stable ids)."""
    return next(_ids)


class BaseWorker:
    """A party that stores objects (the storage class; :class:`VirtualWorker` runs code).

    Parameters
    ----------
    hook:
        the :class:`~fedsyft.workers.hook.TorchHook`, accepted for compatibility with the
        classic API (``VirtualWorker(hook, id="bob")``); it may be ``None``.
    id:
        the worker's name, a non-empty string. Workers are equal when their ids are equal;
        creating a worker with the id of a live one retires the old one (see the module
        docstring).
    """

    def __init__(self, hook=None, id: str = "worker") -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"id must be a non-empty string, got {id!r}.")
        previous = _KNOWN.get(id)
        if previous is not None and isinstance(previous, LocalWorker):
            raise ValueError(f"id {id!r} is the local worker's (fedsyft.local_worker); "
                             f"choose another id for a worker.")
        self.hook = hook
        self.id = id
        self._objects: dict[int, Any] = {}
        self._private: set[int] = set()
        self._cleared_before = 0  # objects with smaller ids were dropped by clear_objects()
        self.traffic = TrafficStats()
        self.alive = True
        self._gone_reason = ""
        if previous is not None and previous.alive:
            previous._retire(
                f"Worker '{id}' was replaced: a new worker with id '{id}' was created (for "
                f"example by re-running the cell that creates it), and the old one's objects "
                f"are gone. Use the new worker and send the data or model to it again.")
        _KNOWN[id] = self

    # -- identity -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseWorker) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("fedsyft-worker", self.id))

    def __repr__(self) -> str:
        state = "" if self.alive else (" (replaced)" if "replaced" in self._gone_reason else " (shut down)")
        return f"<{type(self).__name__} id:{self.id} #objects:{len(self._objects)}{state}>"

    # -- the object store ---------------------------------------------------------------
    def _check_alive(self) -> None:
        if not self.alive:
            raise WorkerNotFoundError(self._gone_reason)

    def _retire(self, reason: str) -> None:
        self.clear_objects()
        self.alive = False
        self._gone_reason = reason

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
            raise ObjectNotFoundError(self._missing_message(obj_id)) from None

    def _missing_message(self, obj_id: int) -> str:
        if obj_id < self._cleared_before:
            why = (f"worker '{self.id}' was cleared (clear_objects()) after it was stored, or "
                   f".get() was already called on this pointer")
        else:
            why = (".get() was probably already called on this pointer (get() removes the "
                   "object from the worker), or the object was moved or deleted")
        return (f"Object {obj_id} is not stored at worker '{self.id}': {why}. What to do: keep "
                f"and use the value the first .get() returned (`x = ptr.get()` once, then use "
                f"x), or send the tensor again (`ptr = x.send({self.id})`) to get a new pointer.")

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
        """``get()``: remove a (non-private) object and count its bytes as leaving this worker.

        What comes back is a copy (:func:`~fedsyft.workers.isolation.detached_copy`): it may
        have been a view of something that stays here, and changing it must not reach here.
        """
        self.get_permitted(obj_id, "get()")
        obj = self.rm_obj(obj_id)
        self.traffic.record_out(nbytes_of(obj))
        return detached_copy(obj)

    def transfer(self, obj_id: int, dest: BaseWorker) -> int:
        """``move()``: hand a copy of a (non-private) object to ``dest``; returns its id there."""
        self.get_permitted(obj_id, "move()")
        dest._check_alive()
        obj = self.rm_obj(obj_id)
        n = nbytes_of(obj)
        self.traffic.record_out(n)
        dest.traffic.record_in(n)
        return dest.register_obj(detached_copy(obj))

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
        self._cleared_before = new_object_id()
        return self

    def shutdown(self) -> None:
        """Simulate the worker going away: its objects are lost and pointers to it fail."""
        self._retire(f"Worker '{self.id}' has shut down and its objects are gone. Create a "
                     f"new VirtualWorker(id='{self.id}') and send the data again.")
        if _KNOWN.get(self.id) is self:
            del _KNOWN[self.id]

    # -- remote execution (implemented by VirtualWorker in fedsyft.workers.runtime) ------
    def execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` at this worker; see :meth:`fedsyft.workers.VirtualWorker.execute`.

        The storage class only declares the method: running code needs pointers, which live
        one layer up (:mod:`fedsyft.workers.runtime`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} '{self.id}' cannot run code remotely; use a VirtualWorker "
            f"(fedsyft.VirtualWorker(id=...)) for worker.execute(fn, ...)."
        )


class LocalWorker(BaseWorker):
    """The local party (``me``): the owner of every pointer. Code "runs here" by calling it."""


local_worker = LocalWorker(id=LOCAL_ID)


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
        names = sorted(k for k in _KNOWN if k != LOCAL_ID)
        raise WorkerNotFoundError(
            f"No worker with id '{worker}'. Known workers: {names or 'none'}. "
            f"Create it first: VirtualWorker(hook, id='{worker}')."
        )
    raise WorkerNotFoundError(
        f"Expected a VirtualWorker or a worker id string, got {type(worker).__name__}."
    )

