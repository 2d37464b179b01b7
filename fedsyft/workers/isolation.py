"""Isolation: what crosses the boundary of a worker is a copy.

Every transfer (``send``, ``get``, ``move``, ``copy``, and the plain arguments of
``worker.execute``) hands over a copy, so that nothing stored at a worker can change through
a tensor that lives outside it, and nothing outside aliases what is stored (views, slices,
module parameters and state-dict entries included). Real machines get this for free by
serializing; virtual workers share one process, so they copy.
"""

from __future__ import annotations

import copy as _copy
from typing import Any

import numpy as np
import torch
from torch import nn


def copy_tensor(t: torch.Tensor) -> torch.Tensor:
    """A tensor with its own storage and no autograd history; a leaf keeps
    ``requires_grad`` and a copy of its ``.grad`` (as serialization would).

    Example
    -------
    >>> x = torch.tensor([1.0, 2.0, 3.0])
    >>> y = copy_tensor(x[:2])
    >>> y.add_(100); x
    tensor([101., 102.])
    tensor([1., 2., 3.])
    """
    out = t.detach().clone()
    if t.requires_grad and t.is_leaf:
        out.requires_grad_(True)
        if t.grad is not None:
            out.grad = t.grad.detach().clone()
    return out


def detached_copy(obj: Any) -> Any:
    """``obj`` with every tensor inside copied (dicts, lists, tuples searched; modules and
    numpy arrays deep-copied); other objects (numbers, strings, bytes, ciphertexts) as they are."""
    if isinstance(obj, torch.Tensor):
        return copy_tensor(obj)
    if isinstance(obj, dict):
        out = _copy.copy(obj)  # keeps the mapping's type (OrderedDict, state dicts ...)
        for k, v in obj.items():
            out[k] = detached_copy(v)
        return out
    if isinstance(obj, list):
        return [detached_copy(v) for v in obj]
    if isinstance(obj, tuple):
        items = [detached_copy(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    if isinstance(obj, (nn.Module, np.ndarray)):
        return _copy.deepcopy(obj)
    return obj
