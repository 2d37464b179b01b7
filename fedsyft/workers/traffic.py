"""Communication accounting: bytes and messages in and out of every worker.

Communication is the cost that federated learning pays for keeping data at home, so every
send, get, move and remote command is counted here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn


def nbytes_of(obj) -> int:
    """Approximate serialized size of ``obj`` in bytes (tensor payloads dominate).

    Example
    -------
    >>> nbytes_of(torch.zeros(10, dtype=torch.float32))
    40
    """
    if isinstance(obj, torch.Tensor):
        if obj.device.type == "meta":
            return 0
        return obj.numel() * obj.element_size()
    if isinstance(obj, nn.Module):
        return sum(nbytes_of(t) for t in obj.parameters()) + sum(nbytes_of(b) for b in obj.buffers())
    if isinstance(obj, dict):
        return sum(nbytes_of(k) + nbytes_of(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)):
        return sum(nbytes_of(v) for v in obj)
    if hasattr(obj, "nbytes") and isinstance(obj.nbytes, int):  # numpy arrays
        return int(obj.nbytes)
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, str):
        return len(obj.encode())
    if obj is None:
        return 0
    return 8


@dataclass
class TrafficStats:
    """Counters of one worker. ``in`` is towards the worker, ``out`` is from it."""

    bytes_in: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    msgs_out: int = 0
    commands: int = 0

    def record_in(self, nbytes: int) -> None:
        self.bytes_in += int(nbytes)
        self.msgs_in += 1

    def record_out(self, nbytes: int) -> None:
        self.bytes_out += int(nbytes)
        self.msgs_out += 1

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def copy(self) -> TrafficStats:
        return TrafficStats(**self.as_dict())

    def __sub__(self, other: TrafficStats) -> TrafficStats:
        return TrafficStats(**{k: v - getattr(other, k) for k, v in self.as_dict().items()})


def human_bytes(n: float) -> str:
    """Bytes in decimal units, as the whole series counts them (1 kB = 10^3 B, 1 MB = 10^6 B).

    Example
    -------
    >>> human_bytes(999), human_bytes(2_500_000)
    ('999 B', '2.50 MB')
    """
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def traffic_report(workers) -> str:
    """A readable table of the traffic of ``workers``.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> print(traffic_report([VirtualWorker(id="doc_w")]).splitlines()[0].split())
    ['worker', 'sent', 'to', 'it', 'got', 'from', 'it', 'msgs', 'in', 'msgs', 'out', 'commands']
    """
    head = f"{'worker':<10} {'sent to it':>12} {'got from it':>12} {'msgs in':>8} {'msgs out':>8} {'commands':>8}"
    rows = [head]
    for w in workers:
        s = w.traffic
        rows.append(
            f"{w.id:<10} {human_bytes(s.bytes_in):>12} {human_bytes(s.bytes_out):>12} "
            f"{s.msgs_in:>8} {s.msgs_out:>8} {s.commands:>8}"
        )
    return "\n".join(rows)
