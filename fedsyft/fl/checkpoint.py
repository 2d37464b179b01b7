"""Checkpoints of a federated run that cannot run code when loaded.

A checkpoint holds only tensors and plain Python values (``dict``, ``list``, ``tuple``,
``str``, ``int``, ``float``, ``bool``, ``None``): the round, the global model's state, the
configuration, the history, SCAFFOLD's control variates and the aggregator's state (e.g.
DP-FedAvg's accountant). It is written with ``torch.save`` and read back with
``torch.load(..., weights_only=True)``, PyTorch's restricted unpickler, which refuses any
other type, so a crafted file cannot execute code. Saving is atomic (a temporary file, then
a rename), so a crash mid-save leaves the previous checkpoint intact.

A file that cannot be read (truncated, emptied, overwritten, or not made by fedsyft) raises
one :class:`CheckpointError` that names the file and says what to do.

Example
-------
>>> import tempfile, torch
>>> path = save_checkpoint({"round": 1, "model": {"w": torch.ones(2)}}, tempfile.mkdtemp() + "/ck.pt")
>>> load_checkpoint(path, required=("round", "model"))["model"]["w"]
tensor([1., 1.])
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "to_plain"]

_WHAT_TO_DO = "Delete it (or restore it from a backup), or start without --resume."


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: damaged, not fedsyft's, or unsafe."""


def to_plain(obj: Any, where: str = "state") -> Any:
    """``obj`` with numpy values turned into Python ones, checked to hold only tensors and
    plain values (what ``weights_only=True`` loads). Raises ``TypeError`` naming the entry."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, Mapping):
        return {k: to_plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise TypeError(f"{where} is a {type(obj).__name__}; a checkpoint holds only tensors and plain "
                    f"values (dict, list, tuple, str, int, float, bool, None). Convert it first.")


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (tensors and plain values only) to ``path`` atomically; returns the path."""
    path = Path(path)
    plain = to_plain(dict(state))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(plain, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | os.PathLike[str], *, required: Sequence[str] = ()) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on the CPU).

    Parameters
    ----------
    path: the file.
    required: keys it must hold.

    Raises
    ------
    FileNotFoundError: no file at ``path``.
    CheckpointError: the file is damaged, unsafe (holds other objects than tensors and plain
        values: nothing in it was run), or lacks a ``required`` key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; run without --resume to start fresh.")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in str(exc).lower() or "unsupported global" in str(exc).lower():
            raise CheckpointError(
                f"Checkpoint {path} cannot be loaded safely: it holds objects other than tensors and "
                f"plain values, so it was not written by fedsyft or has been tampered with. Nothing "
                f"in it was run. {_WHAT_TO_DO}") from exc
        raise CheckpointError(f"Checkpoint {path} is damaged (truncated, emptied or overwritten: "
                              f"{first}). {_WHAT_TO_DO}") from exc
    except (EOFError, RuntimeError, OSError, ValueError, AttributeError, ImportError,
            IndexError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"Checkpoint {path} is damaged (truncated, emptied or overwritten: "
                              f"{first}). {_WHAT_TO_DO}") from exc
    if not isinstance(ck, dict):
        raise CheckpointError(f"{path} is not a fedsyft checkpoint (it holds a {type(ck).__name__}, "
                              f"not a dict). {_WHAT_TO_DO}")
    missing = [k for k in required if k not in ck]
    if missing:
        raise CheckpointError(f"{path} is not a fedsyft checkpoint of this kind (missing {missing}). "
                              f"{_WHAT_TO_DO}")
    return ck
