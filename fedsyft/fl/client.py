"""Local training: what runs *at the worker*, on the worker's own data.

:func:`local_train` is plain PyTorch: it knows nothing of pointers, so it runs unchanged
inside a virtual worker (``worker.execute``) and inside a real PySyft 0.9.5 datasite
(:mod:`fedsyft.syft_bridge`). :func:`client_update` is the virtual-worker round trip:
send a copy of the global model to the data, train there, get it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_float, check_int

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class ClientConfig:
    """How each client trains locally.

    Parameters
    ----------
    epochs: local epochs E over the client's data.
    batch_size: local batch size B.
    lr, momentum, weight_decay: optimizer settings.
    optimizer: ``"sgd"`` or ``"adam"``.
    max_steps: optional cap on local steps per round (to bound simulation time).

    Integers must be ``int`` (not bool or float); ``lr`` (> 0), ``momentum`` (in [0, 1)) and
    ``weight_decay`` (>= 0) must be finite.

    Example
    -------
    >>> ClientConfig(lr=float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0.0; got inf.
    """

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    max_steps: int | None = None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_int("max_steps", self.max_steps, low=1, optional=True)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(params, config: ClientConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


def local_train(
    model: nn.Module,
    data: torch.Tensor,
    targets: torch.Tensor,
    config: ClientConfig,
    *,
    seed: int = 0,
    prox_mu: float = 0.0,
    control: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``(data, targets)``; returns statistics.

    Training runs on the model's device. Data elsewhere is moved there once per call (engines
    move each client's data to the device once, beforehand). Batch order and dropout are
    seeded the same way on every device.

    Parameters
    ----------
    model: a model whose forward returns log-probabilities.
    data, targets: the client's samples (all of them; batches are drawn here).
    config: local epochs, batch size and optimizer.
    seed: seeds the batch order and any dropout, so a round is reproducible.
    prox_mu: FedProx's proximal weight mu: adds ``mu/2 * ||w - w_global||^2`` to the loss.
    control: SCAFFOLD's ``(c_global, c_client)`` control variates, keyed by parameter name.
        Each step is corrected by ``-lr * (c_global - c_client)`` (after the optimizer step,
        as in NIID-Bench, so momentum does not amplify it), and the result holds
        ``control_delta``, the change of the client's control variate (option II).

    Returns
    -------
    ``{"num_samples", "loss" (mean training loss), "steps"}``, plus ``"control_delta"``
    with SCAFFOLD.

    Example
    -------
    >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    >>> out = local_train(m, torch.randn(8, 4), torch.randint(0, 2, (8,)), ClientConfig(batch_size=4))
    >>> out["num_samples"], out["steps"]
    (8, 2)
    """
    n = len(targets)
    if n == 0:
        return {"num_samples": 0, "loss": float("nan"), "steps": 0}
    gen = torch.Generator().manual_seed(int(seed))  # batch order: drawn on the CPU everywhere
    params = dict(model.named_parameters())
    device = next((p.device for p in params.values()), data.device)
    if data.device != device or targets.device != device:
        data, targets = data.to(device), targets.to(device)
    start: dict[str, torch.Tensor] = ({k: p.detach().clone() for k, p in params.items()}
                                      if (prox_mu or control) else {})
    opt = make_optimizer(params.values(), config)
    model.train()
    steps, loss_sum, seen = 0, 0.0, 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seed))
        for _ in range(config.epochs):
            order = torch.randperm(n, generator=gen)
            if device.type != "cpu":
                order = order.to(device)
            for b in range(0, n, config.batch_size):
                if config.max_steps is not None and steps >= config.max_steps:
                    break
                idx = order[b:b + config.batch_size]
                x, y = data[idx], targets[idx]
                opt.zero_grad(set_to_none=True)
                loss = F.nll_loss(model(x), y)
                loss.backward()
                if prox_mu:  # the gradient of mu/2 * ||w - w_global||^2, added directly
                    for k, p in params.items():
                        if p.grad is not None:
                            p.grad.add_(p.detach() - start[k], alpha=prox_mu)
                opt.step()
                if control is not None:
                    # y <- y - lr * (c - c_i), applied after the optimizer step (as NIID-Bench
                    # does), so momentum does not amplify the correction: with plain SGD this
                    # equals adding (c - c_i) to the gradient; with momentum 0.9 adding it to
                    # the gradient made SCAFFOLD diverge (c_i then already includes momentum).
                    c_global, c_client = control
                    with torch.no_grad():
                        for k, p in params.items():
                            p.sub_(config.lr * (c_global[k] - c_client[k]))
                steps += 1
                loss_sum += loss.item() * len(y)
                seen += len(y)
    out: dict[str, Any] = {"num_samples": n, "loss": loss_sum / max(seen, 1), "steps": steps}
    if control is not None and steps > 0:
        c_global, c_client = control
        scale = 1.0 / (steps * config.lr)
        out["control_delta"] = {
            k: (-c_global[k] + (start[k] - p.detach()) * scale) for k, p in params.items()
        }  # c_i+ - c_i = -c + (x - y_i) / (K * lr)
    return out
