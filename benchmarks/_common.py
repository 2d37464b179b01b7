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
