"""Test-set evaluation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, targets: torch.Tensor | None = None, *,
             batch_size: int = 2000) -> tuple[float, float]:
    """Accuracy (in [0, 1]) and mean NLL loss of ``model`` on a dataset or tensors.

    ``data`` is a dataset with ``.data``/``.targets`` tensors (fedsyft's) or a tensor with
    ``targets`` given separately. It runs on the model's device; batches are moved there
    when the data is elsewhere (move the test set there once to avoid that).

    Example
    -------
    >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    >>> acc, loss = evaluate(m, torch.randn(10, 4), torch.zeros(10, dtype=torch.long))
    >>> 0.0 <= acc <= 1.0
    True
    """
    if targets is None:
        data, targets = data.data, data.targets
    was_training = model.training
    model.eval()
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    correct, loss_sum = 0, 0.0
    for b in range(0, len(targets), batch_size):
        x, y = data[b:b + batch_size].to(device), targets[b:b + batch_size].to(device)
        out = model(x)
        loss_sum += F.nll_loss(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    model.train(was_training)
    n = max(len(targets), 1)
    return correct / n, loss_sum / n
