"""Fixed-precision encoding: real numbers as integers of a ring, the ground floor of secret sharing.

Secret sharing works on integers modulo some number, not on floats. The *fixed-precision*
encoding turns a real ``x`` into the integer ``round(x * base**precision_fractional)``: with
the classic PySyft defaults ``base=10, precision_fractional=3``, ``3.14159`` becomes
``3142`` and decodes back to ``3.142``.

The ring
--------
fedsyft computes in the ring :math:`\\mathbb{Z}_{2^{64}}` of 64-bit integers: a value is a
``torch.int64`` tensor and every ``+``, ``-``, ``*`` and ``@`` simply *wraps around* like
int64 arithmetic does on every platform PyTorch runs on (two's complement). An element of
the ring is read back as a signed number in ``[-2**63, 2**63)``, so the encoding of ``-x`` is
``-encode(x)``.

The safe range
--------------
A product of two encoded numbers carries the scale twice (``scale**2``) before it is
rescaled, so both factors must be small enough that their product fits in 63 bits. The
encoder therefore refuses inputs whose encoding would exceed :data:`MAX_ENCODED` = ``2**31``
(headroom for one multiplication): with the defaults that is ``|x| <= 2_147_483.647``.
Code that only adds (secure aggregation) may ask for less headroom with ``headroom_bits``.
Multiplication and matrix products of plaintext fixed-precision tensors check their bound
before they compute; once values are secret-shared nobody can see them, so the bound is the
caller's responsibility there (see :mod:`fedsyft.privacy.sharing`).

Example
-------
>>> import torch
>>> x = fix_precision(torch.tensor([3.14159, -2.0]))
>>> x.child
tensor([ 3142, -2000])
>>> (x * x).float_precision()   # the dtype that was encoded (float32), as in classic PySyft
tensor([9.8720, 4.0000])
"""

from __future__ import annotations

from typing import Any

import torch

from ..workers import PointerTensor, send
from .ring import (
    DEFAULT_HEADROOM_BITS,
    MAX_ENCODED,
    RING_BITS,
    RingEncoded,
    _check_product,
    decode,
    encode,
    truncate,
)
from .sharing import AdditiveSharingTensor, share

__all__ = [
    "RING_BITS", "MAX_ENCODED", "DEFAULT_HEADROOM_BITS", "encode", "decode", "truncate",
    "FixedPrecisionTensor", "fix_precision", "float_precision",
]


class FixedPrecisionTensor(RingEncoded):
    """Reals encoded as integers of the ring Z_(2^64) with ``base**precision_fractional`` scale.

    A small wrapper, not a ``torch.Tensor``: ``child`` holds the int64 encoding, either here
    (a plain tensor) or at a worker (a :class:`~fedsyft.workers.PointerTensor`, when a pointer
    was encoded where its data lives). Supports ``+``, ``-``, ``*`` (by a number or another
    fixed-precision tensor, rescaled after the product), ``@``, ``sum``, ``float_precision()``
    and ``share(...)``.

    Parameters
    ----------
    child: the int64 encoding (local tensor or pointer).
    base, precision_fractional: the encoding's scale ``base**precision_fractional``.
    dtype: the floating dtype ``float_precision()`` returns: the dtype that was encoded
        (``fix_precision`` records it), float32 when not given, as in classic PySyft.

    Example
    -------
    >>> a = FixedPrecisionTensor.encode(torch.tensor([1.5, 2.0]))
    >>> (a + a * 2).float_precision()
    tensor([4.5000, 6.0000])
    """

    __array_priority__ = 1000  # so numpy scalars defer to us

    @classmethod
    def encode(cls, x: torch.Tensor, *, base: int = 10, precision_fractional: int = 3,
               headroom_bits: int = DEFAULT_HEADROOM_BITS) -> FixedPrecisionTensor:
        """Encode a local float tensor (see :func:`encode`); remembers its floating dtype."""
        return cls(encode(x, base=base, precision_fractional=precision_fractional,
                          headroom_bits=headroom_bits),
                   base=base, precision_fractional=precision_fractional, dtype=_decoded_dtype(x))

    # -- helpers ------------------------------------------------------------------------

    def _same_encoding(self, other: FixedPrecisionTensor) -> None:
        if (other.base, other.precision_fractional) != (self.base, self.precision_fractional):
            raise ValueError(
                f"Cannot combine fixed-precision tensors with different encodings "
                f"(base {self.base}, precision {self.precision_fractional} vs base {other.base}, "
                f"precision {other.precision_fractional}). Encode both with the same settings.")

    def _public(self, other: Any) -> torch.Tensor | int:
        """``other`` as a ring element at this scale (for + and -)."""
        if isinstance(other, FixedPrecisionTensor):
            self._same_encoding(other)
            return other.child
        if isinstance(other, bool):
            raise TypeError("Cannot add a bool to a FixedPrecisionTensor.")
        if isinstance(other, (int, float)):
            return int(round(other * self.scale))
        if isinstance(other, torch.Tensor) and not isinstance(other, PointerTensor):
            return encode(other.to(torch.float64), base=self.base,
                          precision_fractional=self.precision_fractional, headroom_bits=1)
        return NotImplemented

    @property
    def shape(self) -> torch.Size:
        return self.child.shape

    def size(self, dim: int | None = None):
        return self.child.shape if dim is None else self.child.shape[dim]

    def __len__(self) -> int:
        return len(self.child)

    @property
    def location(self):
        """The worker holding the encoding, or ``None`` when it is local."""
        return None if self.is_local else self.child.location

    # -- arithmetic ---------------------------------------------------------------------
    def __add__(self, other: Any) -> FixedPrecisionTensor:
        o = self._public(other)
        if o is NotImplemented:
            return NotImplemented
        return self._new(self.child + o)

    __radd__ = __add__

    def __sub__(self, other: Any) -> FixedPrecisionTensor:
        o = self._public(other)
        if o is NotImplemented:
            return NotImplemented
        return self._new(self.child - o)

    def __rsub__(self, other: Any) -> FixedPrecisionTensor:
        o = self._public(other)
        if o is NotImplemented:
            return NotImplemented
        return self._new(o - self.child)

    def __neg__(self) -> FixedPrecisionTensor:
        return self._new(-self.child)

    def __mul__(self, other: Any) -> FixedPrecisionTensor:
        if isinstance(other, bool):
            raise TypeError("Cannot multiply a FixedPrecisionTensor by a bool.")
        if isinstance(other, int):  # exact: no rescale needed
            return self._new(self.child * other)
        if isinstance(other, float):
            other = self._new(torch.tensor(int(round(other * self.scale))))
        elif isinstance(other, torch.Tensor) and not isinstance(other, PointerTensor):
            if not torch.is_floating_point(other):
                return self._new(self.child * other.to(torch.int64))
            other = FixedPrecisionTensor.encode(other, base=self.base,
                                                precision_fractional=self.precision_fractional)
        if not isinstance(other, FixedPrecisionTensor):
            return NotImplemented
        self._same_encoding(other)
        if self.is_local and other.is_local:
            _check_product(self.child, other.child, 1, "The product")
        return self._new(truncate(self.child * other.child, self.scale))

    __rmul__ = __mul__

    def __matmul__(self, other: FixedPrecisionTensor) -> FixedPrecisionTensor:
        if not isinstance(other, FixedPrecisionTensor):
            return NotImplemented
        self._same_encoding(other)
        if self.is_local and other.is_local:
            _check_product(self.child, other.child, self.child.shape[-1], "The matrix product")
        return self._new(truncate(self.child @ other.child, self.scale))

    def mm(self, other: FixedPrecisionTensor) -> FixedPrecisionTensor:
        return self @ other

    matmul = mm

    def sum(self, dim: int | None = None, keepdim: bool = False) -> FixedPrecisionTensor:
        """Sum of the encodings (exact in the ring; the scale is unchanged)."""
        if dim is None:
            return self._new(self.child.sum())
        return self._new(self.child.sum(dim, keepdim=keepdim))

    # -- leaving the ring ---------------------------------------------------------------
    def float_precision(self) -> torch.Tensor:
        """Decode (``child / base**precision_fractional``) to :attr:`dtype`: the dtype that
        was encoded, float32 by default (classic PySyft's behaviour)."""
        if not self.is_local:
            raise TypeError(f"This fixed-precision tensor is at worker '{self.location.id}'. "
                            f"Call .get() first, then .float_precision().")
        out = decode(self.child, base=self.base, precision_fractional=self.precision_fractional)
        return out.to(self.dtype)

    def send(self, worker) -> FixedPrecisionTensor:
        return self._new(send(self.child, worker))

    def share(self, *workers, crypto_provider=None) -> AdditiveSharingTensor:
        """Secret-share the encoding among ``workers`` (see :func:`fedsyft.privacy.share`)."""
        return share(self, *workers, crypto_provider=crypto_provider)

    def __repr__(self) -> str:
        where = "" if self.is_local else f" at {self.location.id}"
        head = (f"FixedPrecisionTensor(base={self.base}, precision_fractional="
                f"{self.precision_fractional}{where})")
        if self.is_local:
            return f"{head}\n{self.child}"
        return head


def _decoded_dtype(x: torch.Tensor) -> torch.dtype:
    """What the encoding of ``x`` decodes to: its own floating dtype, else float32."""
    return x.dtype if x.dtype.is_floating_point else torch.float32


def fix_precision(x: torch.Tensor, *, base: int = 10, precision_fractional: int = 3,
                  headroom_bits: int = DEFAULT_HEADROOM_BITS) -> FixedPrecisionTensor:
    """Encode ``x`` in fixed precision; works on local tensors and on pointers.

    On a :class:`~fedsyft.workers.PointerTensor` the encoding runs *at its worker* and the
    result stays there (``FixedPrecisionTensor`` whose ``child`` is a pointer). Integer
    tensors are encoded too (multiplied by the scale).

    Parameters
    ----------
    x: a tensor or a pointer to one.
    base, precision_fractional: the scale ``base**precision_fractional`` (defaults 10, 3).
    headroom_bits: see :func:`encode` (default: room for one multiplication).

    Example
    -------
    >>> fix_precision(torch.tensor([0.1234]), precision_fractional=2).child
    tensor([12])
    """
    if isinstance(x, FixedPrecisionTensor):
        return x
    if isinstance(x, PointerTensor):
        child = x.location.execute(encode, x, base=base, precision_fractional=precision_fractional,
                                   headroom_bits=headroom_bits)
        return FixedPrecisionTensor(child, base=base, precision_fractional=precision_fractional,
                                    dtype=_decoded_dtype(x))
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x, dtype=torch.get_default_dtype())
    return FixedPrecisionTensor.encode(x, base=base, precision_fractional=precision_fractional,
                                       headroom_bits=headroom_bits)


def float_precision(x: Any, *, base: int = 10, precision_fractional: int = 3) -> torch.Tensor:
    """Decode a :class:`FixedPrecisionTensor` (or a raw int64 encoding with the given scale).

    Example
    -------
    >>> float_precision(fix_precision(torch.tensor([2.5])))
    tensor([2.5000])
    """
    if hasattr(x, "float_precision") and not isinstance(x, torch.Tensor):
        return x.float_precision()
    if isinstance(x, PointerTensor):
        return x.location.execute(decode, x, base=base, precision_fractional=precision_fractional)
    if isinstance(x, torch.Tensor):
        if x.dtype != torch.int64:
            raise TypeError(f"float_precision() decodes int64 encodings, got {x.dtype}.")
        return decode(x, base=base, precision_fractional=precision_fractional)
    raise TypeError(f"float_precision() takes a FixedPrecisionTensor, got {type(x).__name__}.")
