"""Homomorphically encrypted aggregation with CKKS (TenSEAL): the server adds ciphertexts.

CKKS encrypts vectors of real numbers so that ciphertexts can be added (and multiplied)
without decrypting; results are approximate, like floating point. The protocol here:

1. The **key holder** (a party trusted by the clients, not the server) creates a CKKS
   context with a secret key. A copy with the secret key dropped
   (``context.make_context_public()``) is published to the clients and the server.
2. Each client encrypts its weighted update ``w_k * delta_k`` (all float entries flattened)
   with the public context, in chunks of ``poly_modulus_degree / 2`` slots, and uploads the
   serialized ciphertexts.
3. The **server** adds the ciphertexts chunk by chunk. It holds only the public context: it
   cannot decrypt anything.
4. The key holder decrypts the sum, the weighted mean, and nothing else.

Parameters follow TenSEAL's tutorials: ``poly_modulus_degree=8192``,
``coeff_mod_bit_sizes=[60, 40, 40, 60]``, ``global_scale=2**40`` (about 128-bit security);
additions keep the scale, so the error is about ``1e-7`` for updates of size ``1e-2``. The
price: a ciphertext of 4096 values is about 330 kB serialized, roughly 20 times the 16 kB of
the same values in float32.

Example
-------
>>> import torch
>>> agg = CKKSAggregator()
>>> out = agg([{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}], [0.5, 0.5])
>>> torch.allclose(out["w"], torch.tensor([2.0, 3.0]), atol=1e-4)
True
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..fl.aggregate import weighted_mean
from ..fl.aggregator import Aggregator, check_remote_updates, on_devices, release_remote_updates
from ..workers import ObjectPointer
from ._flat import check_updates, flatten_update, unflatten_update


def _tenseal():
    try:
        import tenseal as ts
    except ImportError as err:  # pragma: no cover - tenseal is in the teaching environment
        raise ImportError("CKKS aggregation needs TenSEAL: pip install tenseal "
                          "(or pip install 'fedsyft[privacy]').") from err
    return ts


_CONTEXTS: dict[int, Any] = {}


def _encrypt_at_client(update: Mapping[str, torch.Tensor], keys: Sequence[str], weight: float,
                       public_context: bytes, slots: int) -> list[bytes]:
    """Runs at the client: encrypt ``weight * update`` with the public context, in chunks."""
    ts = _tenseal()
    key = hash(public_context)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _CONTEXTS[key] = ts.context_from(public_context)
        if ctx.is_private():
            raise ValueError("Clients must get the public context (make_context_public()).")
    arr = (flatten_update(update, keys).cpu() * weight).numpy()
    return [ts.ckks_vector(ctx, arr[i:i + slots]).serialize() for i in range(0, max(len(arr), 1), slots)]


class CKKSAggregator(Aggregator):
    """An aggregator of :class:`~fedsyft.fl.FederatedTrainer` that sums CKKS ciphertexts.

    Parameters
    ----------
    poly_modulus_degree: CKKS ring dimension N (``N/2`` values per ciphertext).
    coeff_mod_bit_sizes: the coefficient modulus primes' bit sizes.
    global_scale: the CKKS encoding scale.
    report_error: also compute the plaintext mean and report ``max_abs_error`` (diagnostic).

    Attributes
    ----------
    public_context: the key-free context given to clients and the server (``is_private()``
        is False); the secret context stays with the key holder (this object).
    last_round_info: ``ckks_bytes_up`` (clients' ciphertexts), ``ckks_bytes_down`` (the
        encrypted sum sent to the key holder), ``plain_bytes`` (float32 updates in the
        clear), ``encrypt_seconds``, ``aggregate_seconds``, ``decrypt_seconds``,
        ``ckks_seconds``, ``plain_seconds`` and ``max_abs_error``.

    Example
    -------
    >>> agg = CKKSAggregator(poly_modulus_degree=4096, coeff_mod_bit_sizes=(40, 20, 40),
    ...                      global_scale=2**20)
    >>> agg.slots
    2048
    """

    name = "ckks"
    remote_updates = True  # in FederatedTrainer, clients encrypt at their workers

    def __init__(self, *, poly_modulus_degree: int = 8192,
                 coeff_mod_bit_sizes: Sequence[int] = (60, 40, 40, 60),
                 global_scale: float = 2**40, report_error: bool = True) -> None:
        ts = _tenseal()
        self.poly_modulus_degree = int(poly_modulus_degree)
        self.coeff_mod_bit_sizes = list(coeff_mod_bit_sizes)
        self.global_scale = float(global_scale)
        self.report_error = report_error
        # the key holder's context (with the secret key)
        self._secret_context = ts.context(ts.SCHEME_TYPE.CKKS, self.poly_modulus_degree,
                                          -1, self.coeff_mod_bit_sizes)
        self._secret_context.global_scale = self.global_scale
        # a copy without the secret key, for the clients and the server
        public = ts.context_from(self._secret_context.serialize(save_secret_key=True))
        public.make_context_public()
        self.public_context_bytes = public.serialize()
        self.public_context = ts.context_from(self.public_context_bytes)

    @property
    def slots(self) -> int:
        """Values per ciphertext (``poly_modulus_degree / 2``)."""
        return self.poly_modulus_degree // 2

    # -- the three roles ----------------------------------------------------------------
    def encrypt(self, vec: torch.Tensor | np.ndarray) -> list[bytes]:
        """Client side: encrypt a flat vector with the *public* context; serialized chunks."""
        ts = _tenseal()
        arr = np.asarray(vec, dtype=np.float64).reshape(-1)
        return [ts.ckks_vector(self.public_context, arr[i:i + self.slots]).serialize()
                for i in range(0, max(len(arr), 1), self.slots)]

    def add_encrypted(self, uploads: Sequence[Sequence[bytes]]) -> list[bytes]:
        """Server side: add the clients' ciphertexts chunk by chunk with the public context."""
        ts = _tenseal()
        sums: list[Any] = []
        for chunks in uploads:
            cts = [ts.ckks_vector_from(self.public_context, c) for c in chunks]
            if not sums:
                sums = cts
            else:
                for a, b in zip(sums, cts):
                    a += b
        return [s.serialize() for s in sums]

    def decrypt(self, chunks: Sequence[bytes], length: int) -> torch.Tensor:
        """Key-holder side: decrypt the summed chunks into a float64 vector of ``length``."""
        ts = _tenseal()
        out = np.concatenate([np.asarray(ts.ckks_vector_from(self._secret_context, c).decrypt())
                              for c in chunks]) if chunks else np.zeros(0)
        return torch.from_numpy(out[:length].astype(np.float64))

    # -- one round ----------------------------------------------------------------------
    def __call__(self, updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                 round: int = 0, clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Aggregate plain update dicts held by the caller (it encrypts on the clients' behalf)."""
        keys = check_updates(updates, weights)
        t0 = time.perf_counter()
        uploads = [self.encrypt((flatten_update(u, keys).cpu() * float(w)).numpy()) for u, w in zip(updates, weights)]
        return self._finish(uploads, {k: updates[0][k] for k in keys}, updates, weights, round, t0)

    def aggregate_remote(self, updates: Sequence[ObjectPointer], weights: Sequence[float], *,
                         template: Mapping[str, torch.Tensor], round: int = 0,
                         clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The loop's path: each client encrypts its update *at its worker* with the public
        context; only ciphertexts travel (counted), the server adds them, the key holder
        decrypts the sum.

        Parameters
        ----------
        updates: pointers to each client's update dict, at that client's worker.
        weights: the FedAvg weights.
        template: the global model's float entries (names, shapes, dtypes of the result).
        """
        keys = check_remote_updates(updates, weights, template)
        t0 = time.perf_counter()
        uploads = [u.location.execute(_encrypt_at_client, u, keys, float(w), self.public_context_bytes,
                                      self.slots).get() for u, w in zip(updates, weights)]
        plain = ([u.location.get_obj(u.id_at_location) for u in updates] if self.report_error else None)
        release_remote_updates(updates)  # the clients delete their plaintext updates
        return self._finish(uploads, dict(template), plain, weights, round, t0)

    def _finish(self, uploads: list[list[bytes]], like: Mapping[str, torch.Tensor],
                plain_updates, weights: Sequence[float], round: int, t0: float) -> dict[str, torch.Tensor]:
        n = sum(t.numel() for t in like.values())
        t1 = time.perf_counter()
        summed = self.add_encrypted(uploads)
        t2 = time.perf_counter()
        result = on_devices(unflatten_update(self.decrypt(summed, n), like), like)  # where the model is
        t3 = time.perf_counter()
        elem = next(iter(like.values())).element_size() if like else 4
        info: dict[str, Any] = {
            "round": round,
            "ckks_bytes_up": sum(len(c) for chunks in uploads for c in chunks),
            "ckks_bytes_down": sum(len(c) for c in summed),
            "plain_bytes": len(uploads) * n * elem,
            "public_context_bytes": len(self.public_context_bytes),
            "ciphertexts_per_client": len(uploads[0]),
            "encrypt_seconds": t1 - t0, "aggregate_seconds": t2 - t1, "decrypt_seconds": t3 - t2,
            "ckks_seconds": t3 - t0,
        }
        if plain_updates is not None:  # the plaintext mean, for comparison (a diagnostic)
            t4 = time.perf_counter()
            plain = weighted_mean(plain_updates, weights)
            info["plain_seconds"] = time.perf_counter() - t4
            if self.report_error:
                info["max_abs_error"] = max(
                    (float((result[k].double() - plain[k].double()).abs().max()) for k in like
                     if plain[k].numel()), default=0.0)
        self.last_round_info = info
        return result

    def __repr__(self) -> str:
        return (f"CKKSAggregator(poly_modulus_degree={self.poly_modulus_degree}, coeff_mod_bit_sizes="
                f"{self.coeff_mod_bit_sizes}, global_scale=2**{int(np.log2(self.global_scale))})")


def ckks_aggregate(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                   poly_modulus_degree: int = 8192, coeff_mod_bit_sizes: Sequence[int] = (60, 40, 40, 60),
                   global_scale: float = 2**40) -> dict[str, torch.Tensor]:
    """One CKKS-encrypted weighted mean (a fresh key pair for this call).

    Example
    -------
    >>> out = ckks_aggregate([{"b": torch.tensor([1.0])}, {"b": torch.tensor([2.0])}], [0.5, 0.5])
    >>> abs(float(out["b"]) - 1.5) < 1e-4
    True
    """
    agg = CKKSAggregator(poly_modulus_degree=poly_modulus_degree,
                         coeff_mod_bit_sizes=coeff_mod_bit_sizes, global_scale=global_scale,
                         report_error=False)
    return agg(updates, weights)
