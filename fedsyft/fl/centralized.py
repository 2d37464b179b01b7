"""The centralized baseline: the same model trained on the pooled data."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..device import resolve_device
from .client import ClientConfig, local_train
from .evaluate import evaluate
from .history import History, RoundRecord


def train_centralized(model: nn.Module, train_set: Any, test_set: Any, *, epochs: int = 1,
                      config: ClientConfig | None = None, seed: int = 0,
                      max_steps_per_epoch: int | None = None, progress: bool = True,
                      device: str | torch.device | None = "auto") -> History:
    """Train on all the data in one place, one "round" per epoch, and evaluate each epoch.

    ``max_steps_per_epoch`` matches a federated run's budget of gradient steps. ``device``
    (``"auto"``: CUDA, then MPS, then the CPU): the model and both datasets move there once.
    """
    config = config or ClientConfig()
    dev = resolve_device(device)
    model.to(dev)
    data, targets = (train_set if isinstance(train_set, tuple) else (train_set.data, train_set.targets))
    tdata, ttargets = (test_set if isinstance(test_set, tuple) else (test_set.data, test_set.targets))
    data, targets, tdata, ttargets = (t.to(dev) for t in (data, targets, tdata, ttargets))
    cfg = ClientConfig(**{**config.as_dict(), "epochs": 1, "max_steps": max_steps_per_epoch})
    hist = History(config={"centralized": True, "epochs": epochs, "client": cfg.as_dict(), "seed": seed})
    for e in tqdm(range(1, epochs + 1), desc="centralized epochs", disable=not progress):
        t0 = time.perf_counter()
        stats = local_train(model, data, targets, cfg, seed=seed * 7919 + e)
        acc, loss = evaluate(model, tdata, ttargets)
        hist.append(RoundRecord(e, acc, loss, stats["loss"], ["central"], 0, 0, time.perf_counter() - t0))
    return hist

