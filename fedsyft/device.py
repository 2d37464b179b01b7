"""Choosing the compute device once: ``auto`` picks CUDA, then Apple's MPS, then the CPU.

Every engine (the virtual-worker loop, the batched engine, the Flower bridge, the CLI) calls
:func:`resolve_device` once and moves the model and the data there once.

What may differ between devices: with the same seed, partitions, client sampling and batch
order are identical everywhere (they are drawn on the CPU with seeded generators). The
floating-point results of training may differ in the last bits on CUDA, because cuDNN picks
convolution algorithms whose summation order differs from the CPU's, and some of them are not
deterministic run to run. Accuracy agrees to within noise; weights are not bit-identical.
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` to run on.

    Parameters
    ----------
    device: ``"auto"`` (or ``None``): CUDA if available, then MPS, then CPU. ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a :class:`torch.device` are taken as they are,
        after checking that this machine has them.

    Example
    -------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be one of {DEVICES} (or a torch.device), got {device!r}.")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must be one of {DEVICES} (e.g. 'cuda:0'), got {device!r}.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but this machine has no CUDA GPU that PyTorch can use "
                         f"(torch {torch.__version__}); use device='auto' or 'cpu'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} but MPS is not available here; use device='auto' or 'cpu'.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}.")
    return dev
