"""Capturing the batched step in a CUDA graph (with an eager fallback).

A step of K small clients is hundreds of tiny kernels; on a GPU the launch overhead, not
the arithmetic, dominates. :func:`capture` records one call of an in-place step function
into a :class:`torch.cuda.CUDAGraph` and returns its ``replay``: every later step re-launches
the recorded kernels at once, reading its inputs from the same (static) tensors.

Rules the step function follows so that it can be captured: it reads its inputs from
static tensors (batch, mask, step number), writes every result in place into the stacked
state (``copy_``), never synchronises with the host (no ``.item()``, no Python branching on
tensor values), and its Python scalars (learning rate, momentum) are constants.

This module only runs on CUDA; :func:`capture` returns ``None`` (with the reason) on any
other device or when capturing fails, and the engine then runs the same step eagerly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping

import torch


def capture(step: Callable[[], None], state: Iterable[MutableMapping[str, torch.Tensor]], *,
            device: torch.device, warmup: int = 2) -> tuple[Callable[[], None] | None, str]:
    """Record ``step()`` in a CUDA graph; ``(replay, "captured")`` or ``(None, reason)``.

    ``state``: the dicts of tensors ``step`` updates in place; they are restored after the
    warm-up runs (which execute the step for real), so capturing leaves no trace.
    """
    if device.type != "cuda":
        return None, f"CUDA graphs need a CUDA device, not {device.type}"
    dicts = list(state)
    saved = [{k: v.clone() for k, v in d.items()} for d in dicts]

    def restore() -> None:
        for d, s in zip(dicts, saved):
            for k, v in s.items():
                d[k].copy_(v)

    try:
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        torch.cuda.synchronize(device)
    except Exception as exc:  # noqa: BLE001  any failure means: run eagerly, and say why
        torch.cuda.synchronize(device)
        restore()
        return None, f"CUDA graph capture failed ({type(exc).__name__}: {exc}); running eagerly"
    restore()
    return graph.replay, "captured"
