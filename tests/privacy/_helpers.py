"""Shared fixtures-as-functions for the privacy tests."""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fedsyft.workers import VirtualWorker

_n = itertools.count()


def workers(*names: str) -> list[VirtualWorker]:
    """Fresh workers with unique ids (the registry is global)."""
    k = next(_n)
    return [VirtualWorker(id=f"{n}_p{k}") for n in names]


def random_updates(k: int, *, seed: int = 0, scale: float = 0.01) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{"fc.weight": torch.randn(4, 6, generator=g) * scale,
             "fc.bias": torch.randn(4, generator=g) * scale,
             "bn.running_mean": torch.randn(4, generator=g) * scale} for _ in range(k)]


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.LogSoftmax(dim=1))


def tiny_dataset(n: int = 120, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    return TensorDataset(x, y)


def chi2_top_bits(values: torch.Tensor, bits: int = 4) -> float:
    """Chi-square statistic of the top ``bits`` bits of int64 values against uniform."""
    top = ((values >> (64 - bits)) & (2**bits - 1)).long()
    counts = torch.bincount(top, minlength=2**bits).double()
    expected = values.numel() / 2**bits
    return float(((counts - expected) ** 2 / expected).sum())


#: chi-square critical value for 15 degrees of freedom at p = 1e-6 (flakes once in a million).
CHI2_15_CRITICAL = 56.49
