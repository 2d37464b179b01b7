"""Differential privacy and secure aggregation together: distributed DP-FedAvg.

:class:`~fedsyft.privacy.DPFedAvgAggregator` adds the noise *at the server*, so the server
must see every clipped update in the clear; :class:`~fedsyft.privacy.SecureAggregator` hides
the updates but adds no noise, so their exact sum (and the model) can still reveal a client.
Together, following DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018) and the "distributed DP"
arrangement used with secure aggregation (Bonawitz et al. 2017; Kairouz, Liu, Steinke 2021),
each round:

1. every selected client, **at its worker**, flattens its update, clips it to L2 norm ``C``
   and adds its *share of the noise*: Gaussian with standard deviation
   ``sigma * C / sqrt(m - t)`` for ``m`` clients in the round and ``t`` tolerated colluders;
2. the noisy clipped vectors are encoded in fixed precision and **secret-shared** among the
   share holders (by default the clients themselves); the holders add their shares;
3. only the sum is reconstructed: ``sum_k clip(delta_k) + N(0, (sigma*C)^2 * m/(m-t))``; the
   server divides by the fixed denominator ``m`` (the expected clients per round).

The sum carries at least the noise of central DP-FedAvg with noise multiplier ``sigma``, so
the privacy loss is that of the sampled Gaussian mechanism with ``sigma`` and sampling rate
``q``, from opacus's RDP accountant (as in :class:`~fedsyft.privacy.DPFedAvgAggregator`).

Trust model. The server is honest-but-curious: it runs the protocol but looks at what it
receives, which is only the noisy sum. Privacy then rests on the clients: every client
adds its noise share honestly. A client colluding with the server reveals its own noise, so
``t`` colluders remove ``t`` shares; with ``tolerated_colluders=t`` each client adds
``sigma*C/sqrt(m-t)`` so that the remaining ``m - t`` honest shares still sum to ``sigma*C``.
Clients that drop out after selection take their noise with them (this simple protocol then
cannot finish at all: additive shares are n-out-of-n). The secret sharing hides individual
updates unless *all* share holders collude. Caveats shared with DPFedAvgAggregator: the
accountant assumes Poisson sampling of clients while the loop samples exactly
``num_selected``; the noise comes from a seeded ``torch.Generator`` (``secure_rng=True``
seeds it from :mod:`secrets`); rounding the noisy values to the fixed-precision grid is
post-processing at the client (Kairouz et al. 2021 discuss discrete noise instead).

Example
-------
>>> import torch
>>> from fedsyft.workers import VirtualWorker
>>> ws = [VirtualWorker(id=f"dpsa_doc_{i}") for i in range(2)]
>>> agg = DistributedDPSecureAggregator(clip_norm=1.0, noise_multiplier=0.0, sample_rate=0.5,
...                                     holders=ws)
>>> agg([{"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 0.5])}], [0.5, 0.5], round=1)["w"]
tensor([0.3000, 0.6500])
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..fl.aggregator import Aggregator
from ..workers import BaseWorker, ObjectPointer, resolve_worker
from .fixed_precision import fix_precision


def _flat(update: Mapping[str, torch.Tensor], keys: Sequence[str]) -> torch.Tensor:
    return torch.cat([update[k].detach().reshape(-1).double() for k in keys])


def _update_norm(update: Mapping[str, torch.Tensor], keys: Sequence[str]) -> float:
    """Runs at the client: the L2 norm of its update (a diagnostic; see ``report_clipping``)."""
    return float(_flat(update, keys).norm())


def clip_and_noise(update: Mapping[str, torch.Tensor], keys: Sequence[str], *, clip_norm: float,
                   noise_std: float, seed: int) -> torch.Tensor:
    """One client's contribution: its update flattened, clipped to ``clip_norm`` and noised.

    Runs at the client's worker (``worker.execute(clip_and_noise, update_ptr, ...)``); the
    result stays there until it is secret-shared.

    Parameters
    ----------
    update: ``{name: tensor}``, the client's model update.
    keys: the entries to use, in order (the float entries of the model).
    clip_norm: ``C``; the flattened update is scaled by ``min(1, C / ||update||)``.
    noise_std: the standard deviation of this client's share of the Gaussian noise.
    seed: seeds this client's noise generator.

    Example
    -------
    >>> clip_and_noise({"a": torch.tensor([3.0, 4.0])}, ["a"], clip_norm=1.0, noise_std=0.0, seed=0)
    tensor([0.6000, 0.8000], dtype=torch.float64)
    """
    vec = _flat(update, keys)
    norm = float(vec.norm())
    if norm > clip_norm:
        vec = vec * (clip_norm / norm)
    if noise_std > 0:
        gen = torch.Generator(device=vec.device).manual_seed(int(seed))
        vec = vec + torch.normal(0.0, noise_std, vec.shape, generator=gen, dtype=vec.dtype,
                                 device=vec.device)
    return vec


class DistributedDPSecureAggregator(Aggregator):
    """DP-FedAvg whose noise is added by the clients and whose sum is secret-shared.

    Plugs into :class:`~fedsyft.fl.FederatedTrainer` as its aggregator (use
    ``FLConfig(weighting="uniform")``: every client weighs the same, as in DP-FedAvg; the
    loop's weights are ignored).

    Parameters
    ----------
    clip_norm: ``C``, the bound on each client update's L2 norm (finite).
    noise_multiplier: ``sigma``; the noise on the sum has standard deviation at least
        ``sigma * C``, split among the clients.
    sample_rate: ``q = num_selected / num_clients``, for the accountant.
    delta: the ``delta`` at which ``epsilon`` is reported.
    holders: the share holders (at least two). ``None``: the round's clients.
    tolerated_colluders: ``t``; each client adds ``sigma*C/sqrt(m - t)`` so that the noise
        of the ``m - t`` honest clients alone reaches ``sigma*C``. Must be ``< m``.
    expected_clients: the fixed denominator (default: the number of updates in the round).
    seed: seeds the clients' noise, per round and client. secure_rng: seed from :mod:`secrets`.
    base, precision_fractional: the fixed-precision encoding of the shares (``1e-10``).
    report_clipping: ask each client for its update norm to report ``clipped_fraction``
        and ``mean_update_norm`` (a teaching diagnostic that a private deployment would not
        collect: the norms are not covered by the DP guarantee).

    ``last_round_info`` holds ``epsilon``, ``delta``, ``noise_std`` (on the average),
    ``noise_std_per_client``, ``num_clients``, ``holders``, ``seconds`` and, with
    ``report_clipping``, ``clipped_fraction`` and ``mean_update_norm``.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> ws = [VirtualWorker(id=f"dpsa_cls_doc_{i}") for i in range(3)]
    >>> agg = DistributedDPSecureAggregator(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.1,
    ...                                     holders=ws)
    >>> _ = agg([{"w": torch.zeros(3)}] * 4, [0.25] * 4, round=1)
    >>> agg.last_round_info["noise_std_per_client"], agg.epsilon > 0
    (0.5, True)
    """

    name = "dp_secagg"
    remote_updates = True  # in FederatedTrainer, each update is clipped and noised at its client

    def __init__(self, *, clip_norm: float, noise_multiplier: float, sample_rate: float,
                 delta: float = 1e-5, holders: Sequence[BaseWorker | str] | None = None,
                 tolerated_colluders: int = 0, expected_clients: float | None = None,
                 seed: int = 0, secure_rng: bool = False, base: int = 10,
                 precision_fractional: int = 10, report_clipping: bool = False) -> None:
        if not (clip_norm > 0 and math.isfinite(clip_norm)):
            raise ValueError(f"clip_norm must be finite and > 0 (it bounds each client's "
                             f"contribution), got {clip_norm!r}.")
        if not noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}.")
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1] (num_selected / num_clients), got {sample_rate!r}.")
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}.")
        if holders is not None and len(holders) < 2:
            raise ValueError("holders must name at least two share holders, or be None to let "
                             "the round's clients hold the shares.")
        if tolerated_colluders < 0:
            raise ValueError(f"tolerated_colluders must be >= 0, got {tolerated_colluders!r}.")
        if expected_clients is not None and not expected_clients > 0:
            raise ValueError(f"expected_clients must be > 0, got {expected_clients!r}.")
        from opacus.accountants import RDPAccountant

        self.clip_norm = float(clip_norm)
        self.noise_multiplier = float(noise_multiplier)
        self.sample_rate = float(sample_rate)
        self.delta = float(delta)
        self.holders = list(holders) if holders is not None else None
        self.tolerated_colluders = int(tolerated_colluders)
        self.expected_clients = expected_clients
        self.seed = int(seed)
        self.secure_rng = secure_rng
        self.base = base
        self.precision_fractional = precision_fractional
        self.report_clipping = report_clipping
        self.accountant = RDPAccountant()
        self.rounds = 0
        self.last_round_info: dict[str, Any] = {}

    @property
    def epsilon(self) -> float:
        """Privacy spent so far (opacus's RDP accountant, sigma and q per round, at delta)."""
        if self.rounds == 0:
            return 0.0
        if self.noise_multiplier == 0:
            return math.inf
        return float(self.accountant.get_epsilon(delta=self.delta))

    def noise_std_per_client(self, num_clients: int) -> float:
        """The standard deviation of one client's noise share in a round of ``num_clients``."""
        honest = num_clients - self.tolerated_colluders
        if honest < 1:
            raise ValueError(f"tolerated_colluders ({self.tolerated_colluders}) must be smaller "
                             f"than the clients per round ({num_clients}); lower it or select "
                             f"more clients.")
        return self.noise_multiplier * self.clip_norm / math.sqrt(honest)

    def _seed(self, round: int, index: int) -> int:
        if self.secure_rng:
            return secrets.randbits(63)
        return ((self.seed * 1_000_003 + round) * 10_007 + index) % 2**63

    def _aggregate(self, vectors: list, workers: Sequence[BaseWorker | None], like: Mapping[str, torch.Tensor],
                   norms: list[float] | None, t0: float, round: int, noise_std: float) -> dict[str, torch.Tensor]:
        holders = self.holders if self.holders is not None else [w for w in workers if w is not None]
        if len(holders) < 2:
            raise ValueError("Secure aggregation needs at least two share holders: pass holders=[...] "
                             "or let two or more clients with workers take part.")
        hs = [resolve_worker(h) for h in holders]
        headroom = max(1, math.ceil(math.log2(max(len(vectors), 1))) + 1)
        total: Any = None
        for vec in vectors:  # encoded and shared where the vector is (at the client)
            shared = fix_precision(vec, base=self.base, precision_fractional=self.precision_fractional,
                                   headroom_bits=headroom).share(*hs)
            total = shared if total is None else total + shared  # each holder adds its shares
        summed = total.get().float_precision()  # only the noisy sum is reconstructed
        denom = float(self.expected_clients) if self.expected_clients is not None else len(vectors)
        avg = summed / denom
        out, i = {}, 0
        for k, v in like.items():
            out[k] = avg[i:i + v.numel()].reshape(v.shape).to(dtype=v.dtype, device=v.device)
            i += v.numel()
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.rounds += 1
        info: dict[str, Any] = {
            "epsilon": self.epsilon, "delta": self.delta, "round": round,
            "noise_multiplier": self.noise_multiplier, "clip_norm": self.clip_norm,
            "sample_rate": self.sample_rate,
            "noise_std": self.noise_multiplier * self.clip_norm
                         * math.sqrt(len(vectors) / (len(vectors) - self.tolerated_colluders)) / denom,
            "noise_std_per_client": noise_std, "num_clients": len(vectors),
            "holders": [h.id for h in hs], "seconds": time.perf_counter() - t0,
        }
        if norms is not None:
            info["clipped_fraction"] = sum(n > self.clip_norm for n in norms) / len(norms)
            info["mean_update_norm"] = sum(norms) / len(norms)
        self.last_round_info = info
        return out

    def __call__(self, updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                 round: int = 0, clients: Sequence[BaseWorker | str | None] | None = None
                 ) -> dict[str, torch.Tensor]:
        """Aggregate update dicts held by the caller (each is clipped and noised here, as its
        client would; with ``clients`` the shares are made from those workers)."""
        if not updates or len(updates) != len(weights):
            raise ValueError(f"{len(updates)} updates but {len(weights)} weights: pass one weight per update.")
        t0 = time.perf_counter()
        keys = [k for k, v in updates[0].items() if v.is_floating_point()]
        workers = [resolve_worker(c) if c is not None else None for c in (clients or [None] * len(updates))]
        std = self.noise_std_per_client(len(updates))
        vectors = []
        for i, (u, w) in enumerate(zip(updates, workers)):
            vec = clip_and_noise(u, keys, clip_norm=self.clip_norm, noise_std=std, seed=self._seed(round, i))
            vectors.append(vec if w is None else _place(vec, w))
        norms = [float(_flat(u, keys).norm()) for u in updates] if self.report_clipping else None
        return self._aggregate(vectors, workers, {k: updates[0][k] for k in keys}, norms, t0, round, std)

    def aggregate_remote(self, updates: Sequence[ObjectPointer], weights: Sequence[float], *,
                         template: Mapping[str, torch.Tensor], round: int = 0,
                         clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The loop's path: ``updates`` are pointers to updates still at their clients."""
        if not updates or len(updates) != len(weights):
            raise ValueError(f"{len(updates)} updates but {len(weights)} weights: pass one weight per update.")
        t0 = time.perf_counter()
        keys = list(template)
        workers = [u.location for u in updates]
        std = self.noise_std_per_client(len(updates))
        vectors = [w.execute(clip_and_noise, u, keys, clip_norm=self.clip_norm, noise_std=std,
                             seed=self._seed(round, i))
                   for i, (u, w) in enumerate(zip(updates, workers))]
        norms = ([w.execute(_update_norm, u, keys).get() for u, w in zip(updates, workers)]
                 if self.report_clipping else None)
        for u, w in zip(updates, workers):  # the clients delete their plain updates
            w.rm_obj(u.id_at_location)
        return self._aggregate(vectors, workers, template, norms, t0, round, std)

    def __repr__(self) -> str:
        return (f"DistributedDPSecureAggregator(clip_norm={self.clip_norm}, noise_multiplier="
                f"{self.noise_multiplier}, sample_rate={self.sample_rate}, delta={self.delta}, "
                f"tolerated_colluders={self.tolerated_colluders})")


def _place(vec: torch.Tensor, worker: BaseWorker):
    """Put a vector computed on the caller's side at ``worker`` (as if computed there)."""
    from ..workers import PointerTensor

    return PointerTensor(worker, worker.register_obj(vec), vec)
