"""Flattening update dicts into one vector and back (shared by the privacy aggregators)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def flatten_update(update: Mapping[str, torch.Tensor], keys: Sequence[str] | None = None) -> torch.Tensor:
    """Concatenate the entries of ``update`` (in ``keys`` order) into one float64 vector."""
    keys = list(update) if keys is None else keys
    if not keys:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([update[k].detach().reshape(-1).to(torch.float64) for k in keys])


def unflatten_update(vec: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut ``vec`` back into tensors shaped (and typed) like the entries of ``like``."""
    out, pos = {}, 0
    for k, t in like.items():
        n = t.numel()
        out[k] = vec[pos:pos + n].reshape(t.shape).to(t.dtype)
        pos += n
    if pos != vec.numel():
        raise ValueError(f"Vector has {vec.numel()} entries, the update needs {pos}.")
    return out


def check_updates(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> list[str]:
    """Validate a round's inputs; returns the keys (from the first update)."""
    if not updates:
        raise ValueError("Cannot aggregate zero client updates.")
    if len(updates) != len(weights):
        raise ValueError(f"{len(updates)} updates but {len(weights)} weights.")
    keys = list(updates[0])
    for i, u in enumerate(updates[1:], 1):
        if list(u) != keys:
            raise ValueError(f"Update {i} has keys {sorted(u)} but update 0 has {sorted(keys)}.")
    return keys
