"""The ring Z_(2^64) and the fixed-precision encoding of reals in it (pure functions), plus
:class:`RingEncoded`, what every fixed-precision value is (an int64 ``child`` at a scale).

This is the floor of :mod:`~fedsyft.privacy.fixed_precision` (the arithmetic) and of
:mod:`~fedsyft.privacy.sharing` (secret sharing): both import it, neither imports the other
to know what an encoded value is. See :mod:`fedsyft.privacy.fixed_precision` for the ring and
the safe range.

Example
-------
>>> import torch
>>> decode(encode(torch.tensor([3.14159])))
tensor([3.1420], dtype=torch.float64)
"""

from __future__ import annotations

import math

import torch

from ..workers import PointerTensor

#: Bits of the ring: values are int64 and arithmetic wraps modulo ``2**RING_BITS``.
RING_BITS = 64
#: The largest encoded magnitude :func:`fix_precision` accepts by default (room for one product).
MAX_ENCODED = 2**31
#: Default headroom in bits (``63 - 32 = 31``): an encoded value is below ``2**31``.
DEFAULT_HEADROOM_BITS = 32


def _scale(base: int, precision_fractional: int) -> int:
    if not isinstance(base, int) or base < 2:
        raise ValueError(f"base must be an integer >= 2, got {base!r}.")
    if not isinstance(precision_fractional, int) or precision_fractional < 0:
        raise ValueError(f"precision_fractional must be an integer >= 0, got {precision_fractional!r}.")
    scale = base**precision_fractional
    if scale >= 2**62:
        raise OverflowError(f"base**precision_fractional = {base}**{precision_fractional} does not fit "
                            f"the 64-bit ring; use a smaller precision_fractional.")
    return scale


def encode(x: torch.Tensor, *, base: int = 10, precision_fractional: int = 3,
           headroom_bits: int = DEFAULT_HEADROOM_BITS) -> torch.Tensor:
    """Encode a float tensor as int64 ring elements ``round(x * base**precision_fractional)``.

    Parameters
    ----------
    x: a floating-point tensor (finite values).
    base, precision_fractional: the scale is ``base**precision_fractional``.
    headroom_bits: the encoding must stay below ``2**(63 - headroom_bits)`` in magnitude;
        32 (the default) leaves room for one multiplication, ``ceil(log2(k)) + 1`` is enough
        to add ``k`` such values.

    Raises
    ------
    OverflowError: a value is outside the safe range (the message gives the limit).
    ValueError: a value is NaN or infinite.

    Example
    -------
    >>> encode(torch.tensor([0.5, -1.25]), precision_fractional=2)
    tensor([  50, -125])
    """
    scale = _scale(base, precision_fractional)
    if not 0 <= headroom_bits <= 62:
        raise ValueError(f"headroom_bits must be in [0, 62], got {headroom_bits!r}.")
    limit = 2 ** (63 - headroom_bits)
    x64 = x.detach().to(torch.float64)
    if x64.numel():
        if not torch.isfinite(x64).all():
            raise ValueError("Cannot fix_precision a tensor with NaN or infinite values.")
        biggest = float(x64.abs().max())
        if biggest * scale >= limit:
            raise OverflowError(
                f"|x| = {biggest:.6g} is outside the safe range of the fixed-precision ring: "
                f"|x| * {base}**{precision_fractional} must be < 2**{63 - headroom_bits} "
                f"(|x| < {limit / scale:.6g}), leaving {headroom_bits} bits of headroom so that "
                f"products/sums do not wrap around modulo 2**64. Rescale the data or lower "
                f"precision_fractional.")
    return torch.round(x64 * scale).to(torch.int64)


def decode(x: torch.Tensor, *, base: int = 10, precision_fractional: int = 3) -> torch.Tensor:
    """Decode int64 ring elements (read as signed) back to float64: ``x / base**precision``.

    Example
    -------
    >>> decode(torch.tensor([50, -125]), precision_fractional=2)
    tensor([ 0.5000, -1.2500], dtype=torch.float64)
    """
    scale = _scale(base, precision_fractional)
    return x.to(torch.float64) / scale


def truncate(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Divide int64 values by ``scale``, rounding to nearest (the rescale after a product)."""
    return torch.div(x + scale // 2, scale, rounding_mode="floor")


def _check_product(a: torch.Tensor, b: torch.Tensor, terms: int, what: str) -> None:
    if a.numel() == 0 or b.numel() == 0:
        return
    bound = float(a.abs().max()) * float(b.abs().max()) * max(terms, 1)
    if bound >= 2.0**63:
        raise OverflowError(
            f"{what} of fixed-precision tensors could exceed the ring (|a|*|b|*{terms} ~ "
            f"2**{math.log2(bound):.1f} >= 2**63) and wrap around. Use smaller values or a "
            f"smaller precision_fractional.")



class RingEncoded:
    """An int64 encoding ``child`` of reals at scale ``base**precision_fractional``.

    ``child`` is a local tensor or a :class:`~fedsyft.workers.PointerTensor`; ``dtype`` is the
    floating dtype the values decode to (the dtype that was encoded; float32 by default,
    as in classic PySyft).
    """

    def __init__(self, child: torch.Tensor, *, base: int = 10, precision_fractional: int = 3,
                 dtype: torch.dtype | None = None) -> None:
        if not isinstance(child, torch.Tensor) or child.dtype != torch.int64:
            what = child.dtype if isinstance(child, torch.Tensor) else type(child).__name__
            raise TypeError(f"{type(self).__name__} holds int64 ring elements, got {what}. "
                            f"Use fix_precision(x) to encode a float tensor.")
        dtype = torch.float32 if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch dtype (what float_precision() "
                            f"returns), got {dtype!r}.")
        self.child = child
        self.base = base
        self.precision_fractional = precision_fractional
        self.scale = _scale(base, precision_fractional)
        self.dtype = dtype

    def _new(self, child: torch.Tensor):
        """The same kind of value, same encoding, holding ``child``."""
        return type(self)(child, base=self.base, precision_fractional=self.precision_fractional,
                          dtype=self.dtype)

    @property
    def is_local(self) -> bool:
        return not isinstance(self.child, PointerTensor)

    def get(self):
        """Bring a remote encoding back (no-op when local)."""
        if self.is_local:
            return self
        return self._new(self.child.get())
