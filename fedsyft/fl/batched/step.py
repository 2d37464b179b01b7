"""The functional per-client step: one forward/backward for K clients at once.

``torch.func.functional_call`` runs the model with a given set of parameters and buffers,
``torch.func.grad`` differentiates the loss with respect to the parameters, and
``torch.func.vmap`` maps both over the leading client dimension of the stacked parameters,
buffers and batches. The loss is :func:`torch.nn.functional.nll_loss` (mean over the batch),
as in :func:`~fedsyft.fl.client.local_train`.

Buffers. In train mode batch norm updates ``running_mean``/``running_var`` in place and adds
one to ``num_batches_tracked``; the step hands each client a copy of its buffers and returns
the updated copies, so every client keeps its own statistics.

Randomness. ``vmap(..., randomness="different")`` gives every client its own dropout mask,
drawn from torch's global generator (seeded by the engine). The masks therefore differ from
the ones a client would draw alone with :func:`local_train`: with dropout the two paths agree
in distribution, not bit for bit.

Example
-------
>>> from torch import nn
>>> m = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))
>>> from fedsyft.fl.batched.stack import replicate
>>> params, buffers = replicate(dict(m.named_parameters()), 3), replicate(dict(m.named_buffers()), 3)
>>> grads, losses, new_buffers = make_grad_fn(m)(params, buffers, torch.randn(3, 5, 4), torch.zeros(3, 5, dtype=torch.long))
>>> grads["0.weight"].shape, losses.shape
(torch.Size([3, 2, 4]), torch.Size([3]))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

GradFn = Callable[..., tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]]


def make_grad_fn(model: nn.Module) -> GradFn:
    """``fn(params, buffers, x, y) -> (grads, losses, new_buffers)`` over stacked clients.

    ``params``/``buffers``: ``{name: (K, ...)}``; ``x``: ``(K, B, ...)``; ``y``: ``(K, B)``.
    ``losses`` is ``(K,)`` (each client's mean loss on its batch). ``model`` is the template
    whose ``forward`` is run (its own tensors are not used); it must be in train mode.
    """

    def loss_fn(params, buffers, x, y):
        own = {k: v.clone() for k, v in buffers.items()}  # batch norm updates these in place
        loss = F.nll_loss(functional_call(model, (params, own), (x,)), y)
        return loss, (loss.detach(), own)

    per_client = vmap(grad(loss_fn, has_aux=True), randomness="different")

    def fn(params, buffers, x, y):
        grads, (losses, new_buffers) = per_client(params, buffers, x, y)
        return grads, losses, new_buffers

    return fn
