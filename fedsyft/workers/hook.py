"""``TorchHook(torch)``: the classic entry point that teaches torch the pointer methods.

The hook adds ``send``, ``get``, ``move``, ``copy`` and ``location`` to ``torch.Tensor`` and
``torch.nn.Module``, plus whatever higher layers register (``federate`` on datasets,
``fix_precision``/``share``/``float_precision`` on tensors). It is optional (every method is
also a plain function in :mod:`fedsyft.workers.functional`), idempotent, and removable
with :meth:`TorchHook.unhook` (tests use that).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from . import functional as F
from .worker import local_worker

_EXTENSIONS: dict[tuple[type, str], Callable] = {}
_MISSING = object()
_active: TorchHook | None = None


def register_extension(cls: type, name: str, fn: Callable) -> None:
    """Register ``fn`` to become ``cls.name`` while the hook is active.

    Higher layers use this (``fedsyft.data`` registers ``Dataset.federate``), so the
    workers layer never imports them.
    """
    _EXTENSIONS[(cls, name)] = fn
    if _active is not None:
        _active._install(cls, name, fn)


def _tensor_location(self):
    return None


def _base_methods() -> dict[tuple[type, str], Callable]:
    def t_send(self, worker, **kw):
        return F.send(self, worker, **kw)

    def t_get(self):
        return F.get(self)

    def t_move(self, worker):
        return F.move(self, worker)

    def t_copy(self):
        return F.copy(self)

    return {
        (torch.Tensor, "send"): t_send,
        (torch.Tensor, "location"): property(_tensor_location),
        (nn.Module, "send"): t_send,
        (nn.Module, "get"): t_get,
        (nn.Module, "move"): t_move,
        (nn.Module, "copy"): t_copy,
        (nn.Module, "location"): property(F.location),
    }


class TorchHook:
    """Extend torch with the classic PySyft methods. Idempotent; ``unhook()`` undoes it.

    Example
    -------
    >>> import torch, fedsyft as sy
    >>> hook = sy.TorchHook(torch)
    >>> bob = sy.VirtualWorker(hook, id="bob_hook_doc")
    >>> torch.tensor([1, 2]).send(bob).location.id
    'bob_hook_doc'
    >>> hook.unhook()
    """

    def __new__(cls, torch_module=torch, *args, **kwargs):
        global _active
        if _active is None:
            _active = super().__new__(cls)
            _active._saved = {}
            _active._hooked = False
        return _active

    def __init__(self, torch_module=torch, *args, **kwargs) -> None:
        if torch_module is not torch:
            raise TypeError("TorchHook expects the torch module: TorchHook(torch).")
        self.torch = torch
        self.local_worker = local_worker
        if not self._hooked:
            for (cls, name), fn in {**_base_methods(), **_EXTENSIONS}.items():
                self._install(cls, name, fn)
            self._hooked = True

    def _install(self, cls: type, name: str, fn) -> None:
        key = (cls, name)
        if key not in self._saved:
            self._saved[key] = cls.__dict__.get(name, _MISSING)
        setattr(cls, name, fn)

    def unhook(self) -> None:
        """Remove every method the hook added and restore what was there before."""
        global _active
        for (cls, name), old in self._saved.items():
            if old is _MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)
            else:
                setattr(cls, name, old)
        self._saved.clear()
        self._hooked = False
        _active = None

    @property
    def is_active(self) -> bool:
        return self._hooked

    def __repr__(self) -> str:
        return f"<TorchHook local_worker:{self.local_worker.id} active:{self._hooked}>"


def active_hook() -> TorchHook | None:
    return _active
