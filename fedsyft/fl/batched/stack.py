"""Stacked client states: one tensor per entry, with a leading client dimension.

K copies of a model become, for every parameter and buffer name, one tensor of shape
``(K, *shape)``; client ``k`` is slice ``[k]``. A *state* here is a flat ``{name: tensor}``
dict of such stacks (parameters, buffers, optimizer state alike), so that taking a subset of
clients, writing it back, or keeping a client's old values where a mask says so is one
function each, whatever the entry.

Example
-------
>>> s = replicate({"w": torch.zeros(2)}, 3)
>>> s["w"].shape
torch.Size([3, 2])
>>> put(s, torch.tensor([1]), {"w": torch.ones(1, 2)})
>>> s["w"].sum(1).tolist()
[0.0, 2.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

State = dict[str, torch.Tensor]


def replicate(entries: Mapping[str, torch.Tensor], k: int) -> State:
    """``k`` contiguous copies of every entry, stacked along a new first dimension."""
    return {name: v.detach().unsqueeze(0).expand(k, *v.shape).clone() for name, v in entries.items()}


def stack(states: list[Mapping[str, torch.Tensor]]) -> State:
    """Stack per-client dicts (same keys) into one dict of ``(K, ...)`` tensors."""
    return {name: torch.stack([s[name].detach() for s in states]) for name in states[0]}


def unstack(state: Mapping[str, torch.Tensor], k: int) -> State:
    """Client ``k``'s entries, as independent tensors (clones, not views of the stack)."""
    return {name: v[k].clone() for name, v in state.items()}


def take(state: Mapping[str, torch.Tensor], index: torch.Tensor | None) -> State:
    """The entries of the clients in ``index`` (``None``: all of them, no copy)."""
    if index is None:
        return dict(state)
    return {name: v.index_select(0, index) for name, v in state.items()}


def put(state: Mapping[str, torch.Tensor], index: torch.Tensor | None,
        new: Mapping[str, torch.Tensor], mask: torch.Tensor | None = None) -> None:
    """Write ``new`` into ``state`` in place (the stacks keep their storage).

    ``index``: the clients ``new`` holds (``None``: all). ``mask`` (only with ``index=None``):
    a boolean ``(K,)`` tensor; clients where it is False keep their old values.
    """
    for name, v in new.items():
        dst = state[name]
        if index is not None:
            dst.index_copy_(0, index, v.to(dst.dtype))
        elif mask is not None:
            m = mask.view(-1, *([1] * (dst.dim() - 1)))
            dst.copy_(torch.where(m, v.to(dst.dtype), dst))
        else:
            dst.copy_(v)
