"""Pointers to objects held by workers.

A :class:`PointerTensor` looks like a tensor (it *is* a ``torch.Tensor`` subclass, so
optimizers and ``nn.Module`` accept it) but holds no data: only the worker (``location``) and
the id of the real tensor there (``id_at_location``). Every torch operation on pointers is
intercepted by ``__torch_function__`` and executed *at the worker* on the real tensors; the
result stays there and a new pointer comes back. Calls that would read a value locally
(``item()``, ``bool()``, ``numpy()``...) raise and point to ``.get()``.
"""

from __future__ import annotations

import copy as _copy
import weakref
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from .errors import ObjectNotFoundError, RemoteValueError, TensorsNotCollocatedError
from .traffic import nbytes_of
from .worker import BaseWorker, local_worker, new_object_id, resolve_worker

_T = torch.Tensor

# Calls that only read metadata: allowed to return plain Python values.
_METADATA_PROPS = ("shape", "ndim", "dtype", "device", "requires_grad", "is_leaf", "layout",
                   "is_sparse", "is_cuda", "is_quantized", "is_meta", "retains_grad",
                   "is_nested", "itemsize", "nbytes", "is_mkldnn", "is_sparse_csr", "is_cpu",
                   "_version", "grad_fn")
_METADATA_METHODS = ("size", "dim", "numel", "nelement", "element_size", "is_contiguous",
                     "stride", "is_floating_point", "is_complex", "__len__", "ndimension",
                     "get_device", "is_inference", "storage_offset", "backward",
                     "register_hook", "retain_grad", "is_set_to", "is_shared", "_is_view")
_METADATA = {getattr(_T, n).__get__ for n in _METADATA_PROPS if hasattr(_T, n)}
_METADATA |= {getattr(_T, n) for n in _METADATA_METHODS if hasattr(_T, n)}
_METADATA |= {torch.is_tensor, torch.is_floating_point, torch.numel}
# Calls that read values: refused with advice.
_VALUE_READS = {
    _T.item: "item()", _T.tolist: "tolist()", _T.numpy: "numpy()", _T.__bool__: "bool()",
    _T.__float__: "float()", _T.__int__: "int()", _T.__index__: "an index",
    _T.__complex__: "complex()", _T.__array__: "numpy.asarray()", _T.data_ptr: "data_ptr()",
    _T.untyped_storage: "untyped_storage()", _T.storage: "storage()",
    _T.__reduce_ex__: "pickling", _T.__contains__: "`in`", torch.is_nonzero: "is_nonzero()",
    torch.equal: "torch.equal()", torch.allclose: "torch.allclose()",
    _T.__dlpack__: "__dlpack__()",
}


def _value_read_error(what: str, ptr: PointerTensor | None = None) -> RemoteValueError:
    where = f" (it is at worker '{ptr.location.id}')" if ptr is not None else ""
    return RemoteValueError(
        f"Cannot read the value of a pointer with {what}{where}: the data is not here. "
        f"Call .get() first to bring the tensor back, e.g. `value = ptr.get().item()`."
    )


_SHELLS: dict[tuple[torch.Size, torch.dtype], torch.Tensor] = {}


class PointerTensor(torch.Tensor):
    """A pointer to a tensor stored at a worker.

    Attributes
    ----------
    location: the worker holding the tensor.
    id_at_location: the id of the tensor in the worker's object store.
    owner: the local worker (``me``) that owns this pointer.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker, send
    >>> bob = VirtualWorker(id="bob_ptr_doc")
    >>> x = send(torch.tensor([1.0, 2.0]), bob)
    >>> y = x + x            # runs at bob
    >>> y.location.id, y.get()
    ('bob_ptr_doc', tensor([2., 4.]))
    """

    @staticmethod
    def __new__(cls, location: BaseWorker, id_at_location: int, real: torch.Tensor | None = None):
        if real is None:
            real = location.get_obj(id_at_location)
        key = (real.shape, real.dtype)
        shell = _SHELLS.get(key)
        if shell is None:  # a data-less tensor that carries shape and dtype
            shell = _SHELLS[key] = torch.empty(real.shape, dtype=real.dtype, device="meta")
            if len(_SHELLS) > 4096:
                _SHELLS.clear()
        ptr = torch.Tensor._make_subclass(cls, shell, False)
        ptr._attach(location, id_at_location)
        return ptr

    def __init__(self, *args, **kwargs) -> None:  # state set in __new__
        pass

    def _attach(self, location: BaseWorker, id_at_location: int) -> None:
        self._fs_location = location
        self._fs_id = id_at_location
        self._fs_own_id = new_object_id()
        self._fs_finalizer = weakref.finalize(self, location._forget, id_at_location)

    def _detach_from_store(self, gone: str = "") -> None:
        """Stop owning the object at the worker; ``gone`` says why, for later errors."""
        self._fs_finalizer.detach()
        if gone:
            self._fs_gone = gone

    # -- identity -----------------------------------------------------------------------
    @property
    def location(self) -> BaseWorker:
        """The worker that holds the tensor."""
        return self._fs_location

    @property
    def id_at_location(self) -> int:
        return self._fs_id

    @property
    def owner(self) -> BaseWorker:
        return local_worker

    @property
    def is_private(self) -> bool:
        return self._fs_location.is_private(self._fs_id)

    def _real(self) -> torch.Tensor:
        return _lookup(self, self._fs_location)

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]  # torch declares no types
        try:
            real = self._real()
            meta = f" shape={tuple(real.shape)} dtype={real.dtype}"
        except Exception:  # noqa: BLE001 - a repr must never raise
            meta = " (object gone)"
        private = " private" if self._fs_location.is_private(self._fs_id) else ""
        return (f"(Wrapper)>[PointerTensor | {local_worker.id}:{self._fs_own_id} -> "
                f"{self._fs_location.id}:{self._fs_id}]{meta}{private}")

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    __hash__ = object.__hash__

    def __deepcopy__(self, memo) -> PointerTensor:
        return self.copy()

    def __reduce_ex__(self, proto):
        raise _value_read_error("pickling", self)

    # -- the classic pointer API --------------------------------------------------------
    def get(self) -> torch.Tensor:
        """Bring the tensor back; it is removed from the worker.

        Raises ``ObjectNotFoundError`` if it is no longer there (``get()`` twice) and
        ``GetNotPermittedError`` if it is private.
        """
        try:
            obj = self._fs_location.send_back(self._fs_id)
        except ObjectNotFoundError:
            _lookup(self, self._fs_location)  # raises with this pointer's own story if it has one
            raise
        self._detach_from_store()
        return obj

    def move(self, worker: BaseWorker | str) -> PointerTensor:
        """Transfer the tensor from its worker to ``worker``; this pointer follows it."""
        dest = resolve_worker(worker)
        if dest is self._fs_location:
            return self
        new_id = self._fs_location.transfer(self._fs_id, dest)
        self._detach_from_store()
        self._attach(dest, new_id)
        return self

    def copy(self) -> PointerTensor:
        """A new object at the same worker, holding a copy of the tensor."""
        src = self._fs_location
        _lookup(self, src)
        real = src.get_permitted(self._fs_id, "copy()")
        dup = real.detach().clone().requires_grad_(real.requires_grad)
        src.traffic.commands += 1
        return PointerTensor(src, src.register_obj(dup), dup)

    def send(self, worker, **kwargs):
        raise TensorsNotCollocatedError(
            f"This tensor is already at worker '{self._fs_location.id}'. Use .move(worker) to "
            f"transfer it, or .get() it first and then send it."
        )

    def __iter__(self):
        return iter(self.unbind(0))

    # -- where torch operations go ------------------------------------------------------
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _VALUE_READS:
            ptrs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, PointerTensor)]
            raise _value_read_error(_VALUE_READS[func], ptrs[0] if ptrs else None)
        # Fast path (most calls): no nested containers, so no pytree round trip.
        nested = any(map(_holds_tensors, args)) or any(map(_holds_tensors, kwargs.values()))
        if nested:
            flat, spec = tree_flatten((args, kwargs))
        else:
            flat, spec = [*args, *kwargs.values()], None
        location = _common_location(func, flat)
        location._check_alive()
        inputs: dict[int, PointerTensor] = {}
        real_flat = []
        for a in flat:
            if isinstance(a, PointerTensor):
                real = _lookup(a, location)
                inputs[id(real)] = a
                real_flat.append(real)
            else:
                real_flat.append(a)
        if spec is not None:
            r_args, r_kwargs = tree_unflatten(real_flat, spec)
        else:
            r_args = real_flat[:len(args)]
            r_kwargs = dict(zip(kwargs, real_flat[len(args):]))
        location.traffic.commands += 1
        result = func(*r_args, **r_kwargs)
        if func not in _METADATA and _reads_values(result):
            raise _value_read_error(_name(func), next(iter(inputs.values()), None))
        return wrap_result(location, result, inputs)


def _lookup(ptr: PointerTensor, location: BaseWorker) -> torch.Tensor:
    """The tensor behind ``ptr``; if it is gone and the pointer knows why (its model was
    brought back, say), the error tells that story and what to do."""
    try:
        return location.get_obj(ptr._fs_id)
    except ObjectNotFoundError:
        gone = ptr.__dict__.get("_fs_gone")
        if gone:
            raise ObjectNotFoundError(gone) from None
        raise


def _holds_tensors(a: Any) -> bool:
    """A container argument (e.g. the list of ``torch.cat``) with tensors inside."""
    if isinstance(a, dict):
        return True
    return isinstance(a, (list, tuple)) and any(isinstance(x, (torch.Tensor, list, tuple, dict)) for x in a)


def _common_location(func, flat: list) -> BaseWorker:
    """The one worker all pointers in ``flat`` point to; raise if they differ or a local
    tensor is mixed in."""
    location: BaseWorker | None = None
    for a in flat:
        if isinstance(a, PointerTensor):
            if location is None:
                location = a._fs_location
            elif a._fs_location is not location:
                raise TensorsNotCollocatedError(
                    f"{_name(func)} mixes a tensor at worker '{location.id}' with one at "
                    f"worker '{a._fs_location.id}'. Move them to one worker first, e.g. "
                    f"`ptr.move({location.id})`, or get() both."
                )
    if location is None:  # cannot happen: torch calls __torch_function__ only with a pointer
        raise TypeError(f"{_name(func)} got no pointer argument.")
    for a in flat:
        if isinstance(a, torch.Tensor) and not isinstance(a, PointerTensor):
            raise TensorsNotCollocatedError(
                f"{_name(func)} mixes a pointer to worker '{location.id}' with a local "
                f"tensor of shape {tuple(a.shape)}. Send the local tensor to the same "
                f"worker first (`t.send({location.id})`), or get() the pointer."
            )
    return location


def _name(func) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    return f"`{name}`"


def _reads_values(result: Any) -> bool:
    if isinstance(result, bool | int | float | complex) and not isinstance(result, torch.Size):
        return True
    if isinstance(result, list | tuple) and not isinstance(result, torch.Size):
        return any(_reads_values(r) for r in result)
    return False


def wrap_result(location: BaseWorker, result: Any, inputs: dict[int, PointerTensor]):
    """Store tensors of ``result`` at ``location`` and return pointers in their place."""
    if isinstance(result, torch.Tensor):
        existing = inputs.get(id(result))
        if existing is not None and location.get_obj(existing._fs_id) is result:
            return existing
        return PointerTensor(location, location.register_obj(result), result)
    if isinstance(result, (list, tuple)):
        if any(isinstance(r, torch.Tensor) for r in result):
            flat, spec = tree_flatten(result)
            return tree_unflatten([wrap_result(location, r, inputs) for r in flat], spec)
        return result  # sizes, strides, ...: values already checked by the caller
    if result is None or isinstance(result, (torch.dtype, torch.device, str, bool, int, float, complex)):
        return result
    if type(result).__module__.startswith("torch") and not isinstance(result, torch.nn.Module):
        return result  # e.g. hooks' RemovableHandle, grad_fn nodes
    return ObjectPointer(location, location.register_obj(result))


class ObjectPointer:
    """A pointer to any non-tensor object at a worker (a result dict, a model's state, ...)."""

    def __init__(self, location: BaseWorker, id_at_location: int) -> None:
        self.location = location
        self.id_at_location = id_at_location
        self._finalizer = weakref.finalize(self, location._forget, id_at_location)

    @property
    def owner(self) -> BaseWorker:
        return local_worker

    def get(self) -> Any:
        obj = self.location.send_back(self.id_at_location)
        self._finalizer.detach()
        return obj

    def move(self, worker) -> ObjectPointer:
        dest = resolve_worker(worker)
        if dest is not self.location:
            new_id = self.location.transfer(self.id_at_location, dest)
            self._finalizer.detach()
            self.location, self.id_at_location = dest, new_id
            self._finalizer = weakref.finalize(self, dest._forget, new_id)
        return self

    def copy(self) -> ObjectPointer:
        src = self.location
        dup = _copy.deepcopy(src.get_permitted(self.id_at_location, "copy()"))
        return ObjectPointer(src, src.register_obj(dup))

    def __repr__(self) -> str:
        try:
            what = type(self.location.get_obj(self.id_at_location)).__name__
        except Exception:  # noqa: BLE001
            what = "object gone"
        return (f"[ObjectPointer | {local_worker.id} -> {self.location.id}:"
                f"{self.id_at_location}] ({what})")


def send_tensor(tensor: torch.Tensor, worker: BaseWorker | str, *, private: bool = False) -> PointerTensor:
    """Store a *copy* of ``tensor`` at ``worker`` and return a pointer to it.

    The copy keeps ``requires_grad``; later changes to the local tensor do not reach the
    worker. With ``private=True`` the worker refuses ``get``, ``move`` and ``copy`` of it.
    """
    if isinstance(tensor, PointerTensor):
        return tensor.send(worker)
    dest = resolve_worker(worker)
    dup = tensor.detach().clone()
    if tensor.requires_grad:
        dup.requires_grad_(True)
    dest.traffic.record_in(nbytes_of(dup))
    return PointerTensor(dest, dest.register_obj(dup, private=private), dup)
