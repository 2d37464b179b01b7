"""What every benchmark prints about where it ran."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def machine_label() -> str:
    """CPU model, cores, torch version and threads, and the GPU if any."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    gpu = "no GPU" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}")


def apply_mode(args, modes: dict[str, dict], overrides: tuple[str, ...]) -> tuple[dict, str]:
    """Set torch's threads, take ``args.mode``'s preset and apply the CLI ``overrides``.

    Returns the settings and the mode's label (``"quick (custom)"`` when anything was overridden).
    """
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    mode = dict(modes[args.mode])
    custom = False
    for k in overrides:
        if getattr(args, k, None) is not None:
            mode[k] = getattr(args, k)
            custom = True
    return mode, args.mode + (" (custom)" if custom else "")


def write_results(name: str, args, payload: dict) -> Path:
    """Write ``payload`` as JSON to ``args.out`` or ``benchmarks/results/<name>_<mode>.json``."""
    import json

    out = args.out or Path(__file__).resolve().parent / "results" / f"{name}_{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {out}")
    return out
