"""Remote execution: the worker that runs code where its data is.

This module sits above the storage class (:mod:`~fedsyft.workers.worker`), pointers
(:mod:`~fedsyft.workers.pointer`) and sent models (:mod:`~fedsyft.workers.module`):
:class:`VirtualWorker` is a :class:`~fedsyft.workers.BaseWorker` whose :meth:`execute`
replaces pointer arguments by the objects they point to (:func:`resolve_for_execution`), runs
the function there, and keeps the result there behind a pointer (:func:`pointer_to`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from .errors import TensorsNotCollocatedError
from .isolation import detached_copy
from .module import is_sent, module_location, remote_module
from .pointer import ObjectPointer, PointerTensor, wrap_result
from .traffic import nbytes_of
from .worker import BaseWorker


def _tensor_payload(obj: Any) -> int:
    """Bytes of the tensors inside an argument (containers searched); scalars count as 0."""
    return sum(nbytes_of(t) for t in tree_flatten(obj)[0] if isinstance(t, torch.Tensor))


def resolve_for_execution(worker: BaseWorker, args: tuple, kwargs: dict[str, Any]
                          ) -> tuple[tuple, dict[str, Any], int]:
    """Replace pointers (tensors, objects, sent modules) by the objects they point to.

    Plain arguments travel with the command: tensors inside them arrive as copies (as they
    would over a network) and their bytes are counted. Returns ``(args, kwargs, bytes)``.
    """
    shipped = 0

    def resolve(a: Any) -> Any:
        nonlocal shipped
        if isinstance(a, (PointerTensor, ObjectPointer)):
            if a.location is not worker:
                raise TensorsNotCollocatedError(
                    f"execute at '{worker.id}' got a pointer to worker '{a.location.id}'. "
                    f"Move it first: `ptr.move({worker.id})`."
                )
            return a._real() if isinstance(a, PointerTensor) else worker.get_obj(a.id_at_location)
        if isinstance(a, torch.nn.Module) and is_sent(a):
            where = module_location(a)
            if where is not worker:
                raise TensorsNotCollocatedError(
                    f"execute at '{worker.id}' got a model located at "
                    f"'{where.id if where is not None else '?'}'. Send or move the model to "
                    f"'{worker.id}'."
                )
            return remote_module(a)
        payload = _tensor_payload(a)  # tensors travel with the command (e.g. SCAFFOLD controls)
        if payload:
            shipped += payload
            return detached_copy(a)
        return a

    r_args = tuple(resolve(a) for a in args)
    r_kwargs = {k: resolve(v) for k, v in kwargs.items()}
    return r_args, r_kwargs, shipped


def pointer_to(location: BaseWorker, result: Any) -> Any:
    """What ``worker.execute`` returns: the result stays at the worker, whatever it is (a
    tensor, a dict of statistics, ciphertext bytes, ...), until ``.get()`` fetches it."""
    if isinstance(result, torch.Tensor) or (
            isinstance(result, (list, tuple)) and any(isinstance(r, torch.Tensor) for r in result)):
        return wrap_result(location, result, {})  # a pointer per tensor
    return ObjectPointer(location, location.register_obj(result))


def execute(worker: BaseWorker, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` at ``worker`` on the objects behind the pointer arguments; the result stays
    there (a pointer comes back). See :meth:`VirtualWorker.execute`."""
    worker._check_alive()
    real_args, real_kwargs, shipped = resolve_for_execution(worker, args, kwargs)
    worker.traffic.commands += 1
    worker.traffic.record_in(shipped)
    result = fn(*real_args, **real_kwargs)
    return pointer_to(worker, result)


class VirtualWorker(BaseWorker):
    """An in-process worker, the classic PySyft simulation of a remote party.

    It stores objects (see :class:`~fedsyft.workers.BaseWorker`) and runs code on them with
    :meth:`execute`. Creating a second worker with the same id retires this one (see
    :mod:`fedsyft.workers.worker`).

    Example
    -------
    >>> bob = VirtualWorker(id="bob_doc")
    >>> bob
    <VirtualWorker id:bob_doc #objects:0>
    """

    def execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` *at this worker* and return a pointer to its result.

        Pointer arguments (tensors or sent modules) must be located here and are replaced by
        the objects they point to; plain arguments travel with the command (copied, and
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
        return execute(self, fn, *args, **kwargs)
