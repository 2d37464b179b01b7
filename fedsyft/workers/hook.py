"""``TorchHook(torch)``: the classic entry point that teaches torch the pointer methods.

The hook adds ``send``, ``get``, ``move``, ``copy`` and ``location`` to ``torch.Tensor`` and
``torch.nn.Module``, plus whatever higher layers register (``federate`` on datasets,
``fix_precision``/``share``/``float_precision`` on tensors). It is optional (every method is
also a plain function in :mod:`fedsyft.workers.functional`), idempotent, and removable
with :meth:`TorchHook.unhook` (tests use that).

Import order does not matter: the methods of the higher layers are registered when those
layers are imported, and ``import fedsyft`` (which Python runs before any ``fedsyft.xxx``
module) imports all of them; a hook made before a registration installs it at once.
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


_BASE_NAMES = frozenset({"send", "get", "move", "copy", "location"})


def _describe(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def register_extension(cls: type, name: str, fn: Callable, *, replace: bool = False) -> None:
    """Register ``fn`` to become ``cls.name`` while the hook is active.

    Higher layers use this (``fedsyft.data`` registers ``Dataset.federate``), so the
    workers layer never imports them.

    Parameters
    ----------
    cls, name: the class and the attribute name the method gets.
    fn: the function (its first argument is the object).
    replace: allow replacing a *different* function already registered under the same
        ``(cls, name)``. Without it such a registration raises ``ValueError`` naming both
        functions. Registering the same function again (or its re-imported twin, same module
        and name) is always allowed.

    Raises
    ------
    ValueError: ``name`` is one of the hook's own methods (send, get, move, copy, location),
        or another function is registered there and ``replace`` is False.
    """
    if name in _BASE_NAMES:
        raise ValueError(f"{name!r} is one of the hook's own methods ({sorted(_BASE_NAMES)}); "
                         f"register the extension under another name.")
    old = _EXTENSIONS.get((cls, name))
    if old is not None and old is not fn and _describe(old) != _describe(fn) and not replace:
        raise ValueError(
            f"{cls.__qualname__}.{name} is already registered as {_describe(old)}; registering "
            f"{_describe(fn)} would overwrite it. Choose another name, or pass replace=True "
            f"to replace it on purpose.")
    _EXTENSIONS[(cls, name)] = fn
    if _active is not None:
        _active._install(cls, name, fn)


def registered_extensions() -> dict[tuple[type, str], Callable]:
    """The methods higher layers registered, by ``(class, name)``."""
    return dict(_EXTENSIONS)


def _tensor_location(self):
    return None


def _base_methods() -> dict[tuple[type, str], Callable | property]:
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

    _saved: dict[tuple[type, str], object]
    _hooked: bool

    def __new__(cls, torch_module=torch, *args, **kwargs) -> TorchHook:
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

    def _install(self, cls: type, name: str, fn: Callable | property) -> None:
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

