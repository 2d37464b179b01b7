"""Additive secret sharing over the ring Z_(2^64), with Beaver-triple multiplication.

To share a secret integer tensor ``x`` among ``n`` parties, draw ``n - 1`` uniformly random
ring elements ``r_1 ... r_(n-1)`` and hand out the shares ``x - sum(r), r_1, ..., r_(n-1)``.
Any ``n - 1`` of them are independent uniform noise: they say nothing about ``x``. Adding all
``n`` (modulo ``2**64``, which int64 arithmetic does by wrapping around) gives ``x`` back.

What parties can do without talking to each other
-------------------------------------------------
* add or subtract two shared tensors: each party adds its own shares;
* add a public value: one party (the first) adds it to its share;
* multiply by a public integer: each party multiplies its share.

Multiplying two shared tensors needs help: a **Beaver triple** ``(a, b, c = a*b)`` made by
the *crypto provider* (a party trusted to make random triples, and nothing else). The
provider shares ``a``, ``b`` and ``c``; the parties open ``e = x - a`` and ``f = y - b``
(random-looking, because ``a`` and ``b`` are uniform) and compute locally
``z = c + e*b + a*f + e*f`` (the public ``e*f`` is added by one party), which is a sharing of
``x*y``. Matrix products work the same way with ``@`` and a triple ``c = a @ b``.

Fixed precision
---------------
Shared fixed-precision values carry the scale twice after a product, so the product is
rescaled (*truncated*) by ``base**precision_fractional``. Two parties do it locally (the
SecureML trick: party 0 floors its share, party 1 ceils its share; the result is off by at
most one unit in the last place, and wrong with probability about ``|x| / 2**64``). With
more parties the shares are first folded onto two parties (each other party splits its share
with a fresh random mask between parties 0 and 1), truncated there, and then re-randomised
among all parties with a fresh sharing of zero. During that step parties 0 and 1 together
could reconstruct the value: the trust assumption of a multiplication with ``n > 2`` parties
is "0 and 1 do not collude".

Randomness
----------
Masks come from the operating system's CSPRNG (:func:`os.urandom`), uniform over the whole
int64 range, and never from torch's seeded generator: seeding a notebook must not make the
masks predictable. Results do not depend on the masks (they cancel exactly), so results are
still deterministic.

Example
-------
>>> import torch
>>> from fedsyft.workers import VirtualWorker
>>> from fedsyft.privacy import fix_precision
>>> bob, alice, james = (VirtualWorker(id=n) for n in ("bob_sh_doc", "alice_sh_doc", "james_sh_doc"))
>>> x = share(fix_precision(torch.tensor([1.5, -2.0])), bob, alice, crypto_provider=james)
>>> y = share(fix_precision(torch.tensor([2.0, 3.0])), bob, alice, crypto_provider=james)
>>> (x * y + x).get().float_precision()
tensor([ 4.5000, -8.0000])
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..workers import BaseWorker, ObjectNotFoundError, PointerTensor, WorkerNotFoundError, send
from ..workers.worker import resolve_worker
from .ring import RingEncoded, encode


class ShareHolderGoneError(WorkerNotFoundError):
    """A worker holding a share has shut down: the secret cannot be reconstructed."""


# -- ring randomness and splitting (these run *at* a worker through worker.execute) ----
def random_ring(shape: Sequence[int] | torch.Size) -> torch.Tensor:
    """Uniform int64 ring elements from the OS CSPRNG (:func:`os.urandom`).

    Example
    -------
    >>> random_ring((2, 3)).dtype
    torch.int64
    """
    shape = tuple(shape)
    n = math.prod(shape)
    if n == 0:
        return torch.zeros(shape, dtype=torch.int64)
    return torch.frombuffer(bytearray(os.urandom(8 * n)), dtype=torch.int64).reshape(shape)


def random_like(x: torch.Tensor) -> torch.Tensor:
    """Uniform ring elements with the shape of ``x``."""
    return random_ring(x.shape)


def split(secret: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
    """Split an int64 tensor into ``n`` additive shares (their sum mod 2**64 is ``secret``).

    Example
    -------
    >>> s = split(torch.tensor([5, -7]), 3)
    >>> torch.stack(s).sum(0)
    tensor([ 5, -7])
    """
    if secret.dtype != torch.int64:
        raise TypeError(f"split() works on int64 ring elements, got {secret.dtype}.")
    masks = [random_ring(secret.shape) for _ in range(n - 1)]
    first = secret.clone()
    for m in masks:
        first = first - m
    return (first, *masks)


def _floor_div(x: torch.Tensor, d: int) -> torch.Tensor:
    return torch.div(x, d, rounding_mode="floor")


def _ceil_div(x: torch.Tensor, d: int) -> torch.Tensor:
    return -torch.div(-x, d, rounding_mode="floor")


def _make_triple(op: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...]):
    a, b = random_ring(shape_a), random_ring(shape_b)
    return a, b, (a @ b if op == "matmul" else a * b)


_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mul": lambda u, v: u * v,
    "matmul": lambda u, v: u @ v,
}


def _workers(workers: Sequence[BaseWorker | str]) -> list[BaseWorker]:
    if len(workers) == 1 and isinstance(workers[0], (list, tuple)):
        workers = workers[0]  # share((bob, alice)) is accepted too
    ws = [resolve_worker(w) for w in workers]
    if len(ws) < 2:
        raise ValueError(f"Secret sharing needs at least two share holders, got {len(ws)}: "
                         f"share(bob, alice, crypto_provider=james).")
    ids = [w.id for w in ws]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Each share holder must be a different worker, got {ids}.")
    return ws


def _share_pointer(ptr: PointerTensor, workers: list[BaseWorker]) -> list[PointerTensor]:
    """Split the int64 tensor behind ``ptr`` *at its worker* and move one share to each holder."""
    parts = ptr.location.execute(split, ptr, len(workers))
    return [p.move(w) for p, w in zip(parts, workers)]


class AdditiveSharingTensor:
    """A tensor split into additive shares, one held at each worker (as a pointer).

    Use :func:`share` (or ``x.fix_precision().share(bob, alice, crypto_provider=james)``
    with the hook) to make one. Supports ``+``, ``-`` (with shared tensors and public values),
    ``*`` (public numbers, or shared tensors through Beaver triples), ``@`` (Beaver),
    ``sum``, ``get()`` and ``float_precision()``.

    Parameters
    ----------
    shares: one pointer per holder, in holder order.
    crypto_provider: the worker that makes Beaver triples (needed for ``*`` and ``@``
        between shared tensors).
    base, precision_fractional: the fixed-precision encoding, or ``None`` for plain integers.
    encoded_type, dtype: for fixed-precision sharings, the class ``get()`` rebuilds (the
        :class:`~fedsyft.privacy.FixedPrecisionTensor` that was shared) and the dtype it
        decodes to.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> b, a = VirtualWorker(id="b_ast_doc"), VirtualWorker(id="a_ast_doc")
    >>> x = share(torch.tensor([3, 4]), b, a)
    >>> x
    [AdditiveSharingTensor int64 shape=(2,) holders=(b_ast_doc, a_ast_doc)]
    >>> (x + x).sum().get()
    tensor(14)
    """

    __array_priority__ = 1000

    def __init__(self, shares: Sequence[PointerTensor], *, crypto_provider: BaseWorker | None = None,
                 base: int | None = None, precision_fractional: int | None = None,
                 encoded_type: type[RingEncoded] = RingEncoded, dtype: torch.dtype | None = None) -> None:
        self.share_list = list(shares)
        self.crypto_provider = crypto_provider
        self.base = base
        self.precision_fractional = precision_fractional
        self.encoded_type = encoded_type
        self.dtype = dtype

    # -- description --------------------------------------------------------------------
    @property
    def shares(self) -> dict[str, PointerTensor]:
        """The pointers to the shares, by holder id."""
        return {p.location.id: p for p in self.share_list}

    @property
    def workers(self) -> list[BaseWorker]:
        return [p.location for p in self.share_list]

    @property
    def is_fixed_precision(self) -> bool:
        return self.precision_fractional is not None

    @property
    def scale(self) -> int:
        return 1 if not self.is_fixed_precision else self.base**self.precision_fractional

    @property
    def shape(self) -> torch.Size:
        return self.share_list[0].shape

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        kind = (f"fixed precision (base {self.base}, precision {self.precision_fractional})"
                if self.is_fixed_precision else "int64")
        holders = ", ".join(w.id for w in self.workers)
        cp = f" crypto_provider={self.crypto_provider.id}" if self.crypto_provider is not None else ""
        return f"[AdditiveSharingTensor {kind} shape={tuple(self.shape)} holders=({holders}){cp}]"

    def _meta(self) -> dict[str, Any]:
        return {"crypto_provider": self.crypto_provider, "base": self.base,
                "precision_fractional": self.precision_fractional,
                "encoded_type": self.encoded_type, "dtype": self.dtype}

    def _new(self, shares: Sequence[PointerTensor]) -> AdditiveSharingTensor:
        return AdditiveSharingTensor(shares, **self._meta())

    def _check_alive(self, action: str) -> None:
        for p in self.share_list:
            if not p.location.alive:
                raise ShareHolderGoneError(
                    f"Cannot {action}: share holder '{p.location.id}' has shut down and its "
                    f"share is lost. Additive secret sharing needs every share (n-out-of-n); "
                    f"share the value again among live workers.")

    def _check_same_holders(self, other: AdditiveSharingTensor) -> None:
        if [w.id for w in self.workers] != [w.id for w in other.workers]:
            raise ValueError(
                f"Shared tensors have different holders ({[w.id for w in self.workers]} vs "
                f"{[w.id for w in other.workers]}); share both among the same workers, in the "
                f"same order.")
        if self.is_fixed_precision != other.is_fixed_precision or (
                self.is_fixed_precision and (self.base, self.precision_fractional)
                != (other.base, other.precision_fractional)):
            raise ValueError("Shared tensors use different encodings; fix_precision both with the "
                             "same base and precision_fractional (or neither).")

    def _public_ring(self, other: Any) -> torch.Tensor | None:
        """A public value as a local int64 ring tensor at this tensor's scale, or None."""
        if isinstance(other, RingEncoded):
            if not self.is_fixed_precision:
                raise TypeError("Cannot combine an integer sharing with a fixed-precision tensor.")
            if (other.base, other.precision_fractional) != (self.base, self.precision_fractional):
                raise ValueError("The fixed-precision tensor uses a different encoding.")
            return other.get().child
        if isinstance(other, bool):
            return None
        if isinstance(other, (int, float)):
            other = torch.tensor(other)
        if isinstance(other, torch.Tensor) and not isinstance(other, PointerTensor):
            if torch.is_floating_point(other):
                if not self.is_fixed_precision:
                    raise TypeError("Cannot add a float to an integer sharing; fix_precision first.")
                return encode(other, base=self.base, precision_fractional=self.precision_fractional,
                              headroom_bits=1)
            return other.to(torch.int64) * self.scale
        return None

    # -- linear operations: local at every holder -----------------------------------------
    def __add__(self, other: Any) -> AdditiveSharingTensor:
        if isinstance(other, AdditiveSharingTensor):
            self._check_same_holders(other)
            return self._new([p + q for p, q in zip(self.share_list, other.share_list)])
        pub = self._public_ring(other)
        if pub is None:
            return NotImplemented
        return self._add_ring(pub)

    __radd__ = __add__

    def __neg__(self) -> AdditiveSharingTensor:
        return self._new([-p for p in self.share_list])

    def __sub__(self, other: Any) -> AdditiveSharingTensor:
        if isinstance(other, AdditiveSharingTensor):
            self._check_same_holders(other)
            return self._new([p - q for p, q in zip(self.share_list, other.share_list)])
        pub = self._public_ring(other)
        if pub is None:
            return NotImplemented
        return self._add_ring(-pub)

    def __rsub__(self, other: Any) -> AdditiveSharingTensor:
        return (-self) + other

    def _add_ring(self, pub: torch.Tensor) -> AdditiveSharingTensor:
        first = self.share_list[0]
        return self._new([first + send(pub, first.location), *self.share_list[1:]])

    def sum(self, dim: int | None = None, keepdim: bool = False) -> AdditiveSharingTensor:
        """Sum of the shared values (each holder sums its share)."""
        if dim is None:
            return self._new([p.sum() for p in self.share_list])
        return self._new([p.sum(dim, keepdim=keepdim) for p in self.share_list])

    # -- multiplication -------------------------------------------------------------------
    def __mul__(self, other: Any) -> AdditiveSharingTensor:
        if isinstance(other, AdditiveSharingTensor):
            self._check_same_holders(other)
            return self._beaver(other, "mul")
        if isinstance(other, bool):
            return NotImplemented
        if isinstance(other, int):  # exact, no rescale
            return self._new([p * other for p in self.share_list])
        if isinstance(other, torch.Tensor) and not isinstance(other, PointerTensor) \
                and not torch.is_floating_point(other):
            return self._new([p * send(other.to(torch.int64), p.location) for p in self.share_list])
        if isinstance(other, (float, torch.Tensor, RingEncoded)):
            if not self.is_fixed_precision:
                raise TypeError("Multiplying an integer sharing by a float needs fixed precision: "
                                "share x.fix_precision() instead.")
            pub = (other.get().child if isinstance(other, RingEncoded)
                   else encode(torch.as_tensor(other, dtype=torch.float64), base=self.base,
                               precision_fractional=self.precision_fractional))
            prod = self._new([p * send(pub, p.location) for p in self.share_list])
            return prod._truncate()
        return NotImplemented

    __rmul__ = __mul__

    def __matmul__(self, other: Any) -> AdditiveSharingTensor:
        if isinstance(other, AdditiveSharingTensor):
            self._check_same_holders(other)
            return self._beaver(other, "matmul")
        if isinstance(other, RingEncoded) or (isinstance(other, torch.Tensor)
                                              and not isinstance(other, PointerTensor)):
            pub = other.get().child if isinstance(other, RingEncoded) else (
                encode(other, base=self.base, precision_fractional=self.precision_fractional)
                if self.is_fixed_precision else other.to(torch.int64))
            prod = self._new([p @ send(pub, p.location) for p in self.share_list])
            return prod._truncate() if self.is_fixed_precision else prod
        return NotImplemented

    def mm(self, other: Any) -> AdditiveSharingTensor:
        return self @ other

    matmul = mm

    def _open(self) -> torch.Tensor:
        """Reveal the value to the coordinator (only used for the masked e and f)."""
        self._check_alive("open a masked value")
        total = None
        for p in self.share_list:
            v = p.get()
            total = v if total is None else total + v
        return total

    def _beaver(self, other: AdditiveSharingTensor, op: str) -> AdditiveSharingTensor:
        cp = self.crypto_provider or other.crypto_provider
        if cp is None:
            raise ValueError(
                "Multiplying two shared tensors needs a crypto provider to make Beaver triples: "
                "share(..., crypto_provider=james).")
        holders = self.workers
        if cp in holders:
            raise ValueError(f"The crypto provider '{cp.id}' must not hold shares itself: it "
                             f"knows the triples, so it would learn the inputs.")
        self._check_alive("multiply")
        other._check_alive("multiply")
        a_ptr, b_ptr, c_ptr = cp.execute(_make_triple, op, tuple(self.shape), tuple(other.shape))
        meta = {**self._meta(), "crypto_provider": cp}
        a = AdditiveSharingTensor(_share_pointer(a_ptr, holders), **meta)
        b = AdditiveSharingTensor(_share_pointer(b_ptr, holders), **meta)
        c = AdditiveSharingTensor(_share_pointer(c_ptr, holders), **meta)
        e = (self - a)._open()   # x - a: uniformly random, safe to reveal
        f = (other - b)._open()  # y - b
        fn = _OPS[op]
        shares = []
        for i, (ai, bi, ci) in enumerate(zip(a.share_list, b.share_list, c.share_list)):
            w = ai.location
            e_w, f_w = send(e, w), send(f, w)
            z = ci + fn(e_w, bi) + fn(ai, f_w)
            if i == 0:
                z = z + fn(e_w, f_w)
            shares.append(z)
        out = self._new(shares)
        out.crypto_provider = cp
        return out._truncate() if self.is_fixed_precision else out

    def _truncate(self) -> AdditiveSharingTensor:
        """Divide the shared value by the scale (after a fixed-precision product)."""
        scale = self.scale
        shares = list(self.share_list)
        n = len(shares)
        w0, w1 = shares[0].location, shares[1].location
        if n > 2:  # fold onto parties 0 and 1 with fresh masks
            for i in range(2, n):
                wi = shares[i].location
                r = wi.execute(random_like, shares[i])
                d = shares[i] - r
                shares[0] = shares[0] + d.move(w0)
                shares[1] = shares[1] + r.move(w1)
                shares[i] = wi.execute(torch.zeros_like, shares[i])
        shares[0] = w0.execute(_floor_div, shares[0], scale)
        shares[1] = w1.execute(_ceil_div, shares[1], scale)
        if n > 2:  # re-randomise among all parties with a sharing of zero
            masks = [s.location.execute(random_like, s) for s in shares]
            for i in range(n):
                nxt = (i + 1) % n
                shares[i] = shares[i] + masks[i]
                shares[nxt] = shares[nxt] - masks[i].copy().move(shares[nxt].location)
        return self._new(shares)

    # -- reconstruction -------------------------------------------------------------------
    def get(self) -> RingEncoded | torch.Tensor:
        """Reconstruct: fetch every share and add them (the shares leave the workers).

        Returns a :class:`FixedPrecisionTensor` for fixed-precision sharings (call
        ``.float_precision()`` on it), else the int64 tensor.

        Raises
        ------
        ShareHolderGoneError: a holder has shut down (the message names it).
        """
        self._check_alive("reconstruct the shared tensor")
        try:
            total = None
            for p in self.share_list:
                v = p.get()
                total = v if total is None else total + v
        except ObjectNotFoundError as err:
            raise ObjectNotFoundError(
                "A share is no longer at its holder: .get() was probably already called on this "
                "shared tensor (get() consumes the shares).") from err
        if self.is_fixed_precision:
            return self.encoded_type(total, base=self.base, precision_fractional=self.precision_fractional,
                                     dtype=self.dtype)
        return total

    def float_precision(self) -> torch.Tensor:
        """Shortcut for ``.get().float_precision()``."""
        out = self.get()
        if not isinstance(out, RingEncoded) or not hasattr(out, "float_precision"):
            raise TypeError("This sharing holds plain integers; use .get().")
        return out.float_precision()


def share(x: Any, *workers: BaseWorker | str, crypto_provider: BaseWorker | str | None = None
          ) -> AdditiveSharingTensor:
    """Secret-share ``x`` among ``workers``: one additive share per worker, held there.

    Parameters
    ----------
    x: a :class:`FixedPrecisionTensor` (from ``fix_precision``), an integer tensor, or a
        pointer to either (then the shares are made *at the pointer's worker* and sent from
        there).
    workers: the share holders (at least two, all different).
    crypto_provider: the worker that makes Beaver triples for ``*``/``@`` between shared
        tensors; not needed for additions.

    Raises
    ------
    TypeError: ``x`` is a float tensor: call ``.fix_precision()`` first.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> from fedsyft.privacy import fix_precision
    >>> b, a = VirtualWorker(id="b_share_doc"), VirtualWorker(id="a_share_doc")
    >>> share(fix_precision(torch.tensor([0.25])), b, a).get().float_precision()
    tensor([0.2500])
    """
    holders = _workers(workers)
    cp = resolve_worker(crypto_provider) if crypto_provider is not None else None
    if cp is not None and cp in holders:
        raise ValueError(f"The crypto provider '{cp.id}' must not also hold a share.")
    meta: dict[str, Any] = {"crypto_provider": cp}
    if isinstance(x, RingEncoded):
        meta.update(base=x.base, precision_fractional=x.precision_fractional,
                    encoded_type=type(x), dtype=x.dtype)
        x = x.child
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"share() takes a fixed-precision tensor or an integer tensor, got "
                        f"{type(x).__name__}.")
    if torch.is_floating_point(x) or x.is_complex():
        raise TypeError(
            f"Cannot secret-share a {x.dtype} tensor: shares live in a ring of integers. "
            f"Call .fix_precision() first, e.g. x.fix_precision().share(bob, alice, "
            f"crypto_provider=james).")
    if x.dtype != torch.int64:
        x = x.to(torch.int64)
    if isinstance(x, PointerTensor):
        return AdditiveSharingTensor(_share_pointer(x, holders), **meta)
    parts = split(x.detach(), len(holders))
    return AdditiveSharingTensor([send(p, w) for p, w in zip(parts, holders)], **meta)
