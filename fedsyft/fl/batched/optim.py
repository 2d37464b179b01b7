"""Per-client optimizers on stacked tensors: :class:`torch.optim.SGD` and
:class:`torch.optim.Adam`, the same arithmetic in the same order, for K clients at once.

Each update is elementwise, so applying torch's per-tensor formula to a ``(K, ...)`` stack
updates every client exactly as its own optimizer would. :meth:`StackedOptimizer.step_` updates
the stacked parameters and optimizer state in place (the engine hands it either the
stacks themselves or a gathered subset of clients that it writes back, see
:func:`fedsyft.fl.batched.stack.put`).

- SGD (``torch.optim.SGD``, no dampening, no Nesterov): ``g <- g + wd * w``;
  ``buf <- g`` at the first step, ``buf <- momentum * buf + g`` after; ``w <- w - lr * buf``.
  The first step is ``momentum * 0 + g``, which equals ``g`` exactly, so the buffer starts at
  zero and every step has the same form (what a captured CUDA graph needs).
- Adam (``torch.optim.Adam``, betas (0.9, 0.999), eps 1e-8, L2 weight decay, no amsgrad).

Example
-------
>>> w, g = {"w": torch.ones(2, 3)}, {"w": torch.full((2, 3), 0.5)}
>>> opt = StackedOptimizer(lr=0.1, momentum=0.9)
>>> opt.step_(w, g, opt.init(w), step=1)
>>> w["w"][0, 0].item()
0.949999988079071
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

BETAS = (0.9, 0.999)
EPS = 1e-8


class StackedOptimizer:
    """SGD (momentum, weight decay) or Adam for stacked per-client parameters.

    Parameters
    ----------
    kind: ``"sgd"`` or ``"adam"`` (as :class:`~fedsyft.fl.client.ClientConfig.optimizer`).
    lr, momentum, weight_decay: as in :class:`~fedsyft.fl.client.ClientConfig`.
    """

    def __init__(self, kind: str = "sgd", *, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        if kind not in ("sgd", "adam"):
            raise ValueError(f"kind must be 'sgd' or 'adam', got {kind!r}.")
        self.kind, self.lr, self.momentum, self.weight_decay = kind, lr, momentum, weight_decay

    @classmethod
    def from_config(cls, config) -> StackedOptimizer:
        return cls(config.optimizer, lr=config.lr, momentum=config.momentum,
                   weight_decay=config.weight_decay)

    def init(self, params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Zero optimizer state for the stacked ``params``, keyed ``"<slot>/<name>"``."""
        slots: tuple[str, ...]
        if self.kind == "adam":
            slots = ("exp_avg", "exp_avg_sq")
        elif self.momentum:
            slots = ("momentum_buffer",)
        else:
            slots = ()
        return {f"{s}/{n}": torch.zeros_like(p) for s in slots for n, p in params.items()}

    def step_(self, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor],
              state: Mapping[str, torch.Tensor], *, step: int | torch.Tensor) -> None:
        """One step, in place: updates ``params`` and ``state`` for every name in ``grads``.

        ``grads`` may be modified (weight decay is added to it in place, as torch's ``grad``
        is a fresh tensor here). ``step`` is the 1-based step number (Adam's bias
        correction); a 0-d tensor is accepted so that a captured CUDA graph can read it from
        the device.
        """
        wd, lr = self.weight_decay, self.lr
        if self.kind == "sgd":
            for n, g in grads.items():
                w = params[n]
                if wd != 0:
                    g = g.add_(w, alpha=wd)
                if self.momentum != 0:
                    g = state[f"momentum_buffer/{n}"].mul_(self.momentum).add_(g)
                w.add_(g, alpha=-lr)
            return
        b1, b2 = BETAS
        bc1: float | torch.Tensor
        bc2_sqrt: float | torch.Tensor
        if isinstance(step, torch.Tensor):
            bc1 = 1 - torch.pow(b1, step)
            bc2_sqrt = (1 - torch.pow(b2, step)).sqrt()
        else:
            bc1 = 1 - b1 ** step
            bc2_sqrt = (1 - b2 ** step) ** 0.5
        for n, g in grads.items():
            w = params[n]
            if wd != 0:
                g = g.add_(w, alpha=wd)
            m = state[f"exp_avg/{n}"].lerp_(g, 1 - b1)
            v = state[f"exp_avg_sq/{n}"].mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bc2_sqrt).add_(EPS)
            if isinstance(bc1, torch.Tensor):
                w.sub_((m / denom) * (lr / bc1))
            else:
                w.addcdiv_(m, denom, value=-(lr / bc1))
