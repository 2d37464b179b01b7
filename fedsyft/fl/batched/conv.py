"""A faster per-client convolution for the batched engine on the CPU.

``vmap`` over :func:`torch.nn.functional.conv2d` with per-client weights becomes one grouped
convolution (``groups=K``) in the NCHW layout, which oneDNN runs slowly on the CPU (measured
2-4x slower than K separate convolutions for NIID-Bench's simple-cnn). The same grouped
convolution in the channels-last layout is 2-4x *faster* than K separate ones. This module
defines the convolution and its backward as :class:`torch.autograd.Function` s whose
``vmap`` rules lay the K clients out channels-last and run one grouped convolution, and
:func:`use_fast_conv` switches the engine's private copy of the model to them. The result
is the same convolution (equal to float rounding); only the memory layout differs.

Only plain 2-d convolutions (``groups=1``, zero padding given as numbers) are switched; any
other module is left as it is.

Example
-------
>>> from torch import nn
>>> m = nn.Sequential(nn.Conv2d(1, 2, 3))
>>> use_fast_conv(m)
1
>>> x = torch.randn(2, 1, 5, 5)
>>> torch.allclose(m(x), torch.nn.functional.conv2d(x, m[0].weight, m[0].bias), atol=1e-6)
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CL = torch.channels_last


def _clients_first(t: Tensor, dim: int | None, k: int) -> Tensor:
    """``t`` with its client dimension first (an unbatched ``t`` is expanded to ``k`` clients)."""
    return t.movedim(dim, 0) if dim is not None else t.unsqueeze(0).expand(k, *t.shape)


def _grouped_input(x5: Tensor) -> Tensor:
    """``(K, B, C, H, W)`` -> ``(B, K*C, H, W)`` channels-last (client k = channel group k)."""
    k, b, c, h, w = x5.shape
    return x5.permute(1, 0, 2, 3, 4).reshape(b, k * c, h, w).contiguous(memory_format=_CL)


def _clients_contiguous(t: Tensor, k: int) -> Tensor:
    """``(B, K*C, H, W)`` (any layout) -> ``(K, B, C, H, W)`` contiguous: the layout the
    following pointwise and pooling ops run fastest on."""
    return t.unflatten(1, (k, -1)).transpose(0, 1).contiguous()


def _conv2d_vmap(info, in_dims, x, weight, bias, stride, padding, dilation):
    xd, wd, bd = in_dims[:3]
    k = info.batch_size
    if wd is None and bd is None:  # shared weights: the clients are just more samples
        x5 = x.movedim(xd, 0)
        out = F.conv2d(x5.flatten(0, 1), weight, bias, stride, padding, dilation)
        return out.unflatten(0, (k, x5.shape[1])), 0
    x5, w5 = _clients_first(x, xd, k), _clients_first(weight, wd, k)
    b5 = None if bias is None else _clients_first(bias, bd, k)
    o = w5.shape[1]
    out = F.conv2d(_grouped_input(x5), w5.reshape(k * o, *w5.shape[2:]),
                   None if b5 is None else b5.reshape(k * o), stride, padding, dilation, groups=k)
    return _clients_contiguous(out, k), 0


def _conv2d_backward_vmap(info, in_dims, grad_out, x, weight, stride, padding, dilation, mask):
    k = info.batch_size
    g5, x5, w5 = (_clients_first(t, d, k) for t, d in zip((grad_out, x, weight), in_dims[:3]))
    o = w5.shape[1]
    gi, gw, gb = torch.ops.aten.convolution_backward(
        _grouped_input(g5), _grouped_input(x5), w5.reshape(k * o, *w5.shape[2:]), [k * o],
        stride, padding, dilation, False, [0, 0], k, mask)
    empty = x.new_zeros(())
    outs = (_clients_contiguous(gi, k) if mask[0] else empty,
            gw.unflatten(0, (k, o)) if mask[1] else empty,
            gb.unflatten(0, (k, o)) if mask[2] else empty)
    return outs, tuple(0 if m else None for m in mask)


class Conv2dBackward(torch.autograd.Function):
    """The gradients of a 2-d convolution (``mask``: which of input, weight, bias)."""

    @staticmethod
    def forward(grad_out, x, weight, stride, padding, dilation, mask):
        gi, gw, gb = torch.ops.aten.convolution_backward(
            grad_out, x, weight, [weight.shape[0]], stride, padding, dilation, False, [0, 0], 1, mask)
        empty = x.new_zeros(())
        return (gi if mask[0] else empty, gw if mask[1] else empty, gb if mask[2] else empty)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("The batched engine's convolution does not support double backward.")

    vmap = staticmethod(_conv2d_backward_vmap)


class Conv2d(torch.autograd.Function):
    """``F.conv2d`` whose ``vmap`` rule runs one channels-last grouped convolution."""

    @staticmethod
    def forward(x, weight, bias, stride, padding, dilation):
        return F.conv2d(x, weight, bias, stride, padding, dilation)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, stride, padding, dilation = inputs
        ctx.save_for_backward(x, weight)
        ctx.conv_args = (stride, padding, dilation)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [bool(need[0]), bool(need[1]), bool(ctx.has_bias and need[2])]
        gi, gw, gb = Conv2dBackward.apply(grad, x, weight, *ctx.conv_args, mask)
        return (gi if mask[0] else None, gw if mask[1] else None, gb if mask[2] else None,
                None, None, None)

    vmap = staticmethod(_conv2d_vmap)


class _FastConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same names) that runs :class:`Conv2d`."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            return super().forward(x)
        return Conv2d.apply(x, self.weight, self.bias, list(self.stride), list(self.padding),
                            list(self.dilation))


def use_fast_conv(model: nn.Module) -> int:
    """Switch ``model``'s plain ``nn.Conv2d`` modules to the fast per-client convolution, in
    place; returns how many were switched."""
    n = 0
    for m in model.modules():
        if (type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros"
                and not isinstance(m.padding, str)):
            m.__class__ = _FastConv2d
            n += 1
    return n
