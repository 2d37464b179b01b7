"""The classic API as plain functions, usable without :class:`TorchHook`.

``send(obj, worker)``, ``get(obj)``, ``move(obj, worker)``, ``copy(obj)`` and
``location(obj)`` accept tensors, pointers and ``nn.Module`` alike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .module import copy_module, get_module, module_location, move_module, send_module
from .pointer import ObjectPointer, PointerTensor, send_tensor
from .worker import BaseWorker


def send(obj: Any, worker: BaseWorker | str, *, private: bool = False):
    """Send a tensor (a copy; returns a pointer) or a model (returns the model) to ``worker``.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> p = send(torch.zeros(2), VirtualWorker(id="bob_fn_doc"))
    >>> p.location.id
    'bob_fn_doc'
    """
    if isinstance(obj, nn.Module):
        return send_module(obj, worker)
    if isinstance(obj, torch.Tensor):
        return send_tensor(obj, worker, private=private)
    raise TypeError(f"send() takes a tensor or an nn.Module, got {type(obj).__name__}.")


def get(obj: Any):
    """Bring back what a pointer or a sent model points to."""
    if isinstance(obj, nn.Module):
        return get_module(obj)
    if isinstance(obj, (PointerTensor, ObjectPointer)):
        return obj.get()
    raise TypeError(f"get() takes a pointer or a sent model, got {type(obj).__name__}.")


def move(obj: Any, worker: BaseWorker | str):
    """Transfer a pointed-to object (or a sent model) to ``worker``."""
    if isinstance(obj, nn.Module):
        return move_module(obj, worker)
    if isinstance(obj, (PointerTensor, ObjectPointer)):
        return obj.move(worker)
    raise TypeError(f"move() takes a pointer or a sent model, got {type(obj).__name__}.")


def copy(obj: Any):
    """A copy: local for local objects, at the same worker for pointers and sent models."""
    if isinstance(obj, nn.Module):
        return copy_module(obj)
    if isinstance(obj, (PointerTensor, ObjectPointer)):
        return obj.copy()
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    raise TypeError(f"copy() takes a tensor, a pointer or a model, got {type(obj).__name__}.")


def location(obj: Any) -> BaseWorker | None:
    """Where ``obj`` is: a worker for pointers and sent models, ``None`` for local objects."""
    if isinstance(obj, nn.Module):
        return module_location(obj)
    if isinstance(obj, (PointerTensor, ObjectPointer)):
        return obj.location
    return None
