"""Sending whole models: ``model.send(bob)``, ``model.get()``, ``move``, ``copy``.

``send`` moves every parameter and buffer to the worker (a real ``nn.Module`` twin holding
them is stored there) and leaves pointers in the local module, so calling the model on a
pointer runs the forward pass at the worker. The parameter *objects* themselves travel:
an optimizer created before ``send`` keeps stepping them, at the worker, exactly as in the
classic PySyft tutorials. Their *storage* does not: every transfer gives each parameter and
buffer fresh memory, so no view or state-dict entry taken on one side of the transfer can
change what is on the other side.

An optimizer created *while* the model is at a worker holds the model's pointers; once the
model comes back (``get``), moves or is discarded, those pointers point to nothing and using
them raises an error that says to rebuild the optimizer over the local parameters (or to step
before ``get``).
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterator

import torch
from torch import nn

from .errors import ObjectNotFoundError, TensorsNotCollocatedError
from .pointer import PointerTensor
from .traffic import nbytes_of
from .worker import BaseWorker, resolve_worker

_LOC = "_fedsyft_location"
_ID = "_fedsyft_twin_id"


def is_sent(module: nn.Module) -> bool:
    return module.__dict__.get(_LOC) is not None


def module_location(module: nn.Module) -> BaseWorker | None:
    """The worker a sent model is at, or ``None`` for a local model."""
    return module.__dict__.get(_LOC)


def _pairs(local: nn.Module, twin: nn.Module) -> Iterator[tuple[nn.Module, nn.Module]]:
    yield local, twin
    for name, child in local._modules.items():
        twin_child = twin._modules[name]
        if child is not None and twin_child is not None:
            yield from _pairs(child, twin_child)


def _shallow_twin(module: nn.Module) -> nn.Module:
    twin = _copy.copy(module)
    twin._parameters = dict(module._parameters)
    twin._buffers = dict(module._buffers)
    twin._modules = {k: (None if m is None else _shallow_twin(m)) for k, m in module._modules.items()}
    for k in (_LOC, _ID, "__deepcopy__"):
        twin.__dict__.pop(k, None)
    return twin


def _point_at(local: nn.Module, twin: nn.Module, worker: BaseWorker) -> None:
    """Replace the local module's tensors by pointers to the twin's tensors at ``worker``."""
    for loc, rem in _pairs(local, twin):
        for store in ("_parameters", "_buffers"):
            for name, t in getattr(rem, store).items():
                if t is not None:
                    getattr(loc, store)[name] = PointerTensor(worker, worker.register_obj(t), t)


def _mark(local: nn.Module, worker: BaseWorker | None, twin_id: int | None) -> None:
    if worker is None:
        for k in (_LOC, _ID, "__deepcopy__"):
            local.__dict__.pop(k, None)
        return
    local.__dict__[_LOC] = worker
    local.__dict__[_ID] = twin_id
    local.__dict__["__deepcopy__"] = lambda memo, _m=local: copy_module(_m)


def _own_storage(module: nn.Module) -> None:
    """Give every parameter and buffer fresh memory, keeping the tensor *objects* (an
    optimizer holding them keeps working): views taken before a transfer stay behind."""
    with torch.no_grad():
        for m in module.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is not None and not isinstance(t, PointerTensor):
                        t.data = t.data.clone()


def _gone_message(worker: BaseWorker, how: str) -> str:
    return (f"This pointer was a parameter or buffer of a model that {how} worker "
            f"'{worker.id}', so it points to nothing now. An optimizer built over "
            f"model.parameters() while the model was at '{worker.id}' holds such pointers: "
            f"call opt.step() before model.get(), or build the optimizer again over the local "
            f"parameters after get(), e.g. `opt = torch.optim.SGD(model.parameters(), lr=0.01)`. "
            f"(An optimizer built before model.send() keeps working: it holds the parameters "
            f"themselves.)")


def _release_pointers(local: nn.Module, how: str) -> None:
    for m in local.modules():
        for store in ("_parameters", "_buffers"):
            for t in getattr(m, store).values():
                if isinstance(t, PointerTensor):
                    t._fs_location._forget(t._fs_id)
                    t._detach_from_store(_gone_message(t._fs_location, how))


def remote_module(module: nn.Module) -> nn.Module:
    """The real module at the worker behind a sent model (for code running *there*)."""
    worker = module_location(module)
    if worker is None:
        raise ObjectNotFoundError("This model is local; it has no remote twin.")
    return worker.get_obj(module.__dict__[_ID])


def send_module(module: nn.Module, worker: BaseWorker | str) -> nn.Module:
    """Send ``module`` to ``worker``; returns the (now pointing) module itself.

    Example
    -------
    >>> import torch
    >>> from fedsyft.workers import VirtualWorker, send
    >>> bob = VirtualWorker(id="bob_mod_doc")
    >>> model = send_module(nn.Linear(2, 1), bob)
    >>> module_location(model).id, type(model.weight).__name__
    ('bob_mod_doc', 'PointerTensor')
    """
    dest = resolve_worker(worker)
    here = module_location(module)
    if here is not None:
        if here is dest:
            return module
        raise TensorsNotCollocatedError(
            f"This model is already at worker '{here.id}'. Call .get() first, or "
            f".move({dest.id}) to transfer it."
        )
    twin = _shallow_twin(module)
    _own_storage(twin)
    dest.traffic.record_in(nbytes_of(twin))
    _point_at(module, twin, dest)
    _mark(module, dest, dest.register_obj(twin))
    return module


def get_module(module: nn.Module) -> nn.Module:
    """Bring a sent model back: its tensors return and leave the worker."""
    worker = module_location(module)
    if worker is None:
        raise ObjectNotFoundError(
            "This model is not at any worker: .get() was probably already called on it "
            "(or it was never sent)."
        )
    twin = worker.rm_obj(module.__dict__[_ID])
    worker.traffic.record_out(nbytes_of(twin))
    _own_storage(twin)
    _release_pointers(module, "was brought back (model.get()) from")
    for loc, rem in _pairs(module, twin):
        loc._parameters.update(rem._parameters)
        loc._buffers.update(rem._buffers)
    _mark(module, None, None)
    return module


def discard_module(module: nn.Module) -> None:
    """Delete a sent model at its worker without bringing it back (nothing travels)."""
    worker = module_location(module)
    if worker is None:
        raise ObjectNotFoundError("This model is not at any worker; there is nothing to discard.")
    worker._forget(module.__dict__[_ID])
    _release_pointers(module, "was discarded at")
    _mark(module, None, None)


def move_module(module: nn.Module, worker: BaseWorker | str) -> nn.Module:
    """Transfer a sent model from its worker to ``worker`` (counted on both)."""
    dest = resolve_worker(worker)
    src = module_location(module)
    if src is None:
        return send_module(module, dest)
    if src is dest:
        return module
    twin = src.rm_obj(module.__dict__[_ID])
    n = nbytes_of(twin)
    src.traffic.record_out(n)
    dest.traffic.record_in(n)
    _own_storage(twin)
    _release_pointers(module, f"moved to '{dest.id}' from")
    _point_at(module, twin, dest)
    _mark(module, dest, dest.register_obj(twin))
    return module


def copy_module(module: nn.Module) -> nn.Module:
    """A copy of ``module``: local if it is local, a new model at the same worker if sent."""
    src = module_location(module)
    if src is None:
        return _copy.deepcopy(module)
    twin = _copy.deepcopy(remote_module(module))
    src.traffic.commands += 1
    shell = _shallow_twin(twin)
    _point_at(shell, twin, src)
    _mark(shell, src, src.register_obj(twin))
    return shell
