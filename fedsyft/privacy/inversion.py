"""Gradient inversion: what a server can reconstruct from one client's update.

"Deep Leakage from Gradients" (Zhu, Liu and Han, NeurIPS 2019,
https://arxiv.org/abs/1906.08935) showed that a shared gradient often determines the
training images it was computed on: start from random noise, and optimize a *dummy* image
until its gradient matches the shared one. With the label first read off the last layer's
gradient ("iDLG", Zhao, Mopuri and Bilen 2020, https://arxiv.org/abs/2001.02610) only the
image has to be found.

In federated learning the server receives model *updates*; after one local SGD step on one
batch the update is ``-lr * gradient`` (:func:`update_to_gradient` undoes that), which is what
a per-batch model return amounts to.

==========================  ===================================================================
``DLGNet``                  the small sigmoid CNN of Zhu et al. (twice differentiable)
``model_gradient``          the gradient a client would share for ``(x, y)``
``update_to_gradient``      ``-update / lr``: the gradient behind a one-step update
``infer_label``             the label of a single-sample gradient (iDLG)
``invert_gradient``         the attack: L-BFGS on the gradient-matching loss
``image_mse``, ``image_ssim``  reconstruction quality (lower / higher is a better attack)
==========================  ===================================================================

Everything follows the model's device and dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DLGNet", "InversionResult", "model_gradient", "update_to_gradient", "infer_label",
    "invert_gradient", "image_mse", "image_ssim", "best_match",
]


class DLGNet(nn.Module):
    """The small CNN of Zhu et al. 2019 (sigmoid activations, strided convolutions).

    Sigmoid instead of ReLU keeps the gradient-matching loss twice differentiable, which is
    what makes the attack work so well; it is the attack's showcase model, not a recipe for
    accuracy. ``forward`` returns log-probabilities, like every fedsyft model.

    Example
    -------
    >>> DLGNet()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 width: int = 12) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(width, width, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(width, width, 5, padding=2, stride=1), nn.Sigmoid(),
        )
        side = (image_size + 3) // 4
        self.fc = nn.Linear(width * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.fc(self.body(x).flatten(1)), dim=1)


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def model_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The gradient of the mean NLL loss of ``model`` on ``(x, y)``, one tensor per parameter.

    This is what a client that trains on the batch ``(x, y)`` reveals (directly, or as
    ``-lr * gradient`` after one SGD step).

    Example
    -------
    >>> g = model_gradient(DLGNet(), torch.zeros(1, 1, 28, 28), torch.tensor([3]))
    >>> len(g) == len(list(DLGNet().parameters()))
    True
    """
    loss = F.nll_loss(model(x), y)
    return [g.detach() for g in torch.autograd.grad(loss, _params(model))]


def update_to_gradient(update: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], lr: float,
                       model: nn.Module | None = None) -> list[torch.Tensor]:
    """``-update / lr``: the gradient behind an update made by one plain SGD step.

    ``update`` is a list in ``model.parameters()`` order, or a ``{name: tensor}`` dict (then
    ``model`` gives the order; buffers in the dict are ignored).

    Example
    -------
    >>> update_to_gradient([torch.tensor([0.2])], lr=0.1)
    [tensor([-2.])]
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0 (the client's learning rate), got {lr!r}.")
    if isinstance(update, Mapping):
        if model is None:
            raise ValueError("update is a dict: pass model= so its parameters give the order.")
        missing = [k for k, p in model.named_parameters() if p.requires_grad and k not in update]
        if missing:
            raise ValueError(f"update has no entry for the parameters {missing}.")
        update = [update[k] for k, p in model.named_parameters() if p.requires_grad]
    return [-u.detach() / lr for u in update]


def infer_label(gradient: Sequence[torch.Tensor]) -> int:
    """The label of a *single-sample* gradient, read off the last linear layer (iDLG).

    With cross-entropy, the last layer's weight gradient is ``(p - onehot(y)) h^T``; when the
    features ``h`` are non-negative (sigmoid, ReLU) only the true class's row sums to a
    negative number. For a batch or a sum of several clients' gradients the answer is just
    the most negative row, not a reliable label.

    Example
    -------
    >>> m = DLGNet()
    >>> infer_label(model_gradient(m, torch.rand(1, 1, 28, 28), torch.tensor([7])))
    7
    """
    weights = [g for g in gradient if g.dim() == 2]
    if not weights:
        raise ValueError("infer_label needs the gradient of a model whose last layer is nn.Linear "
                         "(a 2-D weight gradient); pass label= to invert_gradient instead.")
    return int(weights[-1].sum(dim=1).argmin())


@dataclass
class InversionResult:
    """What :func:`invert_gradient` found."""

    image: torch.Tensor          # the reconstruction, shape (1, *input_shape), clamped to [lo, hi]
    label: int                   # the label used (inferred or given)
    loss: float                  # the final gradient-matching loss
    losses: list[float] = field(default_factory=list)   # after each L-BFGS outer step


def invert_gradient(model: nn.Module, gradient: Sequence[torch.Tensor], *,
                    input_shape: Sequence[int] = (1, 28, 28), label: int | None = None,
                    steps: int = 30, lr: float = 1.0, seed: int = 0,
                    bounds: tuple[float, float] | None = None) -> InversionResult:
    """Reconstruct the single input behind ``gradient`` (Deep Leakage from Gradients).

    A dummy input starts as seeded noise; L-BFGS minimises
    ``sum_layers ||grad(dummy) - gradient||^2``. The model's weights are the ones the
    gradient was computed at (the global model the server sent). The label is inferred with
    :func:`infer_label` unless given. The loss matches the gradient's *scale* as well as its
    direction, so the attacker must know the learning rate (and any clipping factor) that
    turned the gradient into the update; scale-invariant variants (Geiping et al. 2020,
    https://arxiv.org/abs/2003.14053) need image priors and many more steps.

    Parameters
    ----------
    model: the model at the point where the client computed its gradient.
    gradient: the shared gradient, one tensor per parameter (``model.parameters()`` order).
    input_shape: the shape of one input (without the batch dimension).
    label: the label, if known; ``None`` infers it (iDLG).
    steps: L-BFGS outer steps (each runs up to 20 inner iterations).
    lr: L-BFGS step size.
    seed: seeds the initial noise, so an attack is reproducible.
    bounds: if given, ``(lo, hi)`` the image is clamped to at the end (e.g. the
        normalised pixel range).

    Example
    -------
    >>> _ = torch.manual_seed(0); m = DLGNet(image_size=8)
    >>> x = torch.rand(1, 1, 8, 8); g = model_gradient(m, x, torch.tensor([2]))
    >>> r = invert_gradient(m, g, input_shape=(1, 8, 8), steps=10)
    >>> r.label, image_mse(r.image, x) < 0.01
    (2, True)
    """
    params = _params(model)
    if len(gradient) != len(params):
        raise ValueError(f"gradient has {len(gradient)} tensors but the model has {len(params)} "
                         f"trainable parameters; pass one gradient per parameter, in "
                         f"model.parameters() order.")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}.")
    device, dtype = params[0].device, params[0].dtype
    target = [g.detach().to(device=device, dtype=dtype) for g in gradient]
    y = torch.tensor([infer_label(target) if label is None else int(label)], device=device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    dummy = torch.randn((1, *input_shape), generator=gen).to(device=device, dtype=dtype)
    dummy.requires_grad_(True)
    opt = torch.optim.LBFGS([dummy], lr=lr, max_iter=20, history_size=100,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.nll_loss(model(dummy), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        match = sum(((g - t) ** 2).sum() for g, t in zip(grads, target))
        match.backward()
        return match

    losses = []
    for _ in range(steps):
        loss = float(opt.step(closure).detach())
        losses.append(loss)
        if loss < 1e-12:
            break
    image = dummy.detach()
    if bounds is not None:
        image = image.clamp(*bounds)
    final = losses[-1] if losses else float("nan")
    return InversionResult(image=image, label=int(y.item()), loss=final, losses=losses)


def image_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error between two images (or batches) of the same shape.

    Example
    -------
    >>> image_mse(torch.zeros(1, 4), torch.ones(1, 4))
    1.0
    """
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}.")
    return float(((a.detach().float() - b.detach().float()) ** 2).mean())


def image_ssim(a: torch.Tensor, b: torch.Tensor, *, data_range: float | None = None,
               window: int = 7) -> float:
    """Structural similarity (Wang et al. 2004) of two single-channel images, mean over windows.

    A uniform ``window x window`` filter, the usual constants ``K1=0.01``, ``K2=0.03``.
    1 means identical; values near 0 mean unrelated structure. ``data_range`` defaults to the
    range of ``b`` (the reference image).

    Example
    -------
    >>> x = torch.rand(1, 1, 28, 28)
    >>> round(image_ssim(x, x), 6)
    1.0
    """
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}.")
    x = a.detach().double().reshape(-1, 1, *a.shape[-2:])
    y = b.detach().double().reshape(-1, 1, *b.shape[-2:])
    rng = float(y.max() - y.min()) if data_range is None else float(data_range)
    if rng <= 0:
        raise ValueError("the reference image is constant: pass data_range= explicitly.")
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    mu_x, mu_y = F.avg_pool2d(x, window, 1), F.avg_pool2d(y, window, 1)
    var_x = F.avg_pool2d(x * x, window, 1) - mu_x ** 2
    var_y = F.avg_pool2d(y * y, window, 1) - mu_y ** 2
    cov = F.avg_pool2d(x * y, window, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(ssim.mean())


def best_match(reconstruction: torch.Tensor, candidates: torch.Tensor) -> tuple[int, float, float]:
    """The candidate image closest to ``reconstruction``: ``(index, mse, ssim)``.

    Used to score an attack on an aggregate (whose images could any of the clients' be?): the
    attack is given the benefit of the doubt.

    Example
    -------
    >>> c = torch.stack([torch.zeros(1, 8, 8), torch.eye(8).unsqueeze(0)])
    >>> i, mse, ssim = best_match(torch.eye(8).reshape(1, 1, 8, 8), c)
    >>> i, mse, round(ssim, 6)
    (1, 0.0, 1.0)
    """
    scores = [image_mse(reconstruction.reshape(c.shape), c) for c in candidates]
    i = int(torch.tensor(scores).argmin())
    ref = candidates[i]
    return i, scores[i], image_ssim(reconstruction.reshape(ref.shape), ref)
