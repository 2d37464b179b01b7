"""Differential privacy for federated learning: DP-FedAvg at the server, DP-SGD at a client.

DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018, "Learning differentially private recurrent
language models") protects *clients*: whether any one client took part cannot be told from
the model, up to ``(epsilon, delta)``. Each round the server

1. clips every client update ``delta_k`` (all float entries flattened into one vector) to L2
   norm at most ``C``: ``delta_k * min(1, C / ||delta_k||)``;
2. adds the clipped updates and Gaussian noise of standard deviation ``sigma * C``
   (``sigma`` is the *noise multiplier*);
3. divides by a **fixed denominator** ``m``: the expected number of clients per round,
   ``q * N`` (McMahan 2018's fixed-denominator estimator). By default ``m`` is the number of
   updates received, which is the same thing in fedsyft's loop since it samples exactly
   ``num_selected`` clients; pass ``expected_clients`` to fix it.

Every client weighs the same (the loop's sample-count weights are ignored): with data-size
weights one client's contribution, hence the sensitivity, would not be bounded by ``C``.
With ``noise_multiplier=0`` and ``clip_norm=inf`` the result is FedAvg with uniform
weighting (``FLConfig(weighting="uniform")``).

Accounting. Each round is one step of the sampled Gaussian mechanism with sampling rate
``q = num_selected / num_clients``; the privacy loss over rounds comes from **opacus's RDP
accountant** (``opacus.accountants.RDPAccountant``), converted to ``epsilon`` at ``delta``.
The accountant assumes Poisson sampling of clients; the loop samples a fixed number, the
usual approximation (McMahan 2018 does the same).

Noise comes from a ``torch.Generator`` seeded by ``(seed, round)`` so that lessons are
reproducible; ``secure_rng=True`` seeds it from :mod:`secrets` instead, as a deployment must.

Example
-------
>>> import torch
>>> agg = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=1.1, sample_rate=0.1)
>>> out = agg([{"w": torch.ones(4)}, {"w": -torch.ones(4)}], [0.5, 0.5], round=1)
>>> round(agg.epsilon, 3) == round(agg.last_round_info["epsilon"], 3) > 0
True
"""

from __future__ import annotations

import math
import secrets
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..fl.aggregator import Aggregator
from ..fl.client import ClientConfig, make_optimizer
from ._flat import check_updates, flatten_update, unflatten_update


class PrivacyBudgetExhaustedError(RuntimeError):
    """Another round would spend more than the target epsilon."""


def _rdp_accountant():
    from opacus.accountants import RDPAccountant
    return RDPAccountant()


def clip_update(update: Mapping[str, torch.Tensor], clip_norm: float) -> tuple[dict[str, torch.Tensor], float]:
    """Scale ``update`` so that its global L2 norm (all entries flattened) is at most ``clip_norm``.

    Returns the clipped update and the norm it had before clipping.

    Example
    -------
    >>> u, n = clip_update({"a": torch.tensor([3.0]), "b": torch.tensor([4.0])}, 1.0)
    >>> n, u["a"], u["b"]
    (5.0, tensor([0.6000]), tensor([0.8000]))
    """
    if not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0, got {clip_norm!r}.")
    vec = flatten_update(update)
    norm = float(vec.norm())
    factor = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return unflatten_update(vec * factor, dict(update)), norm


class DPFedAvgAggregator(Aggregator):
    """DP-FedAvg as an aggregator of :class:`~fedsyft.fl.FederatedTrainer`.

    Parameters
    ----------
    clip_norm: ``C``, the bound on each client update's L2 norm (``math.inf``: no clipping,
        only allowed with ``noise_multiplier=0``).
    noise_multiplier: ``sigma``; the noise added to the sum has standard deviation ``sigma*C``.
    sample_rate: ``q``, the fraction of clients sampled per round (``num_selected / N``).
    delta: the ``delta`` at which ``epsilon`` is reported.
    target_epsilon: if given, :attr:`exhausted` turns true when one more round would exceed
        it; a round requested after that raises :class:`PrivacyBudgetExhaustedError`. Use
        ``trainer.run(stop=agg.should_stop)``.
    expected_clients: the fixed denominator ``q * N`` (default: the number of updates).
    seed: seeds the noise, per round (reproducible lessons; ``None`` means 0).
    secure_rng: seed the noise from :mod:`secrets` instead, as a deployment must. Then the
        noise cannot be reproduced, so passing a ``seed`` as well is refused (it would be
        ignored).

    The noise is drawn on the CPU from a seeded generator, then moved to the updates' device,
    so the same seed gives the same noise on every device.

    ``last_round_info`` holds ``epsilon``, ``delta``, ``noise_std``, ``clipped_fraction``,
    ``mean_update_norm``, ``seconds``.

    Example
    -------
    >>> agg = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=1.0, sample_rate=0.5,
    ...                          target_epsilon=5.0)
    >>> _ = agg([{"w": torch.ones(2)}], [1.0], round=1)
    >>> agg.rounds, agg.epsilon < 5.0
    (1, True)
    """

    name = "dp_fedavg"

    def __init__(self, *, clip_norm: float, noise_multiplier: float, sample_rate: float,
                 delta: float = 1e-5, target_epsilon: float | None = None,
                 expected_clients: float | None = None, seed: int | None = None,
                 secure_rng: bool = False) -> None:
        if secure_rng and seed is not None:
            raise ValueError(f"seed={seed!r} with secure_rng=True: the noise would be drawn from "
                             f"secrets and the seed silently ignored. Pass either seed (reproducible "
                             f"noise, for teaching) or secure_rng=True (for deployment), not both.")
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0 (math.inf for no clipping), got {clip_norm!r}.")
        if not noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}.")
        if math.isinf(clip_norm) and noise_multiplier > 0:
            raise ValueError("clip_norm=inf with noise_multiplier > 0 would add infinite noise; "
                             "choose a finite clip_norm (e.g. the median update norm).")
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1] (num_selected / num_clients), got {sample_rate!r}.")
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}.")
        if target_epsilon is not None and not target_epsilon > 0:
            raise ValueError(f"target_epsilon must be > 0, got {target_epsilon!r}.")
        if expected_clients is not None and not expected_clients > 0:
            raise ValueError(f"expected_clients must be > 0, got {expected_clients!r}.")
        self.clip_norm = float(clip_norm)
        self.noise_multiplier = float(noise_multiplier)
        self.sample_rate = float(sample_rate)
        self.delta = float(delta)
        self.target_epsilon = target_epsilon
        self.expected_clients = expected_clients
        self.seed = 0 if seed is None else int(seed)
        self.secure_rng = secure_rng
        self.accountant = _rdp_accountant()
        self.rounds = 0

    # -- accounting ---------------------------------------------------------------------
    def _epsilon(self, extra_rounds: int = 0) -> float:
        steps = self.rounds + extra_rounds
        if steps == 0:
            return 0.0
        if self.noise_multiplier == 0:
            return math.inf
        acc = _rdp_accountant()
        acc.history = list(self.accountant.history)
        for _ in range(extra_rounds):
            acc.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        return float(acc.get_epsilon(delta=self.delta))

    @property
    def epsilon(self) -> float:
        """Privacy spent so far, from opacus's RDP accountant, at :attr:`delta`."""
        return self._epsilon(0)

    @property
    def exhausted(self) -> bool:
        """True when one more round would exceed ``target_epsilon`` (never without a target)."""
        if self.target_epsilon is None:
            return False
        return self._epsilon(1) > self.target_epsilon

    def should_stop(self, trainer: Any = None) -> bool:
        """For ``FederatedTrainer.run(stop=agg.should_stop)``."""
        return self.exhausted

    # -- one round ----------------------------------------------------------------------
    def __call__(self, updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                 round: int = 0, clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        if self.exhausted:
            raise PrivacyBudgetExhaustedError(
                f"Another round would spend epsilon {self._epsilon(1):.3f} > target "
                f"{self.target_epsilon} (spent so far: {self.epsilon:.3f} after {self.rounds} "
                f"rounds). Stop training (run(stop=agg.should_stop)) or raise the noise multiplier.")
        t0 = time.perf_counter()
        keys = check_updates(updates, weights)
        like = {k: updates[0][k] for k in keys}
        vecs, norms, clipped = [], [], 0
        for u in updates:
            vec = flatten_update(u, keys)
            norm = float(vec.norm())
            norms.append(norm)
            if norm > self.clip_norm:
                vec = vec * (self.clip_norm / norm)
                clipped += 1
            vecs.append(vec)
        total = vecs[0]
        for vec in vecs[1:]:
            total = total + vec
        std = self.noise_multiplier * self.clip_norm
        if std > 0:
            seed = secrets.randbits(63) if self.secure_rng else (self.seed * 1_000_003 + round) % 2**63
            gen = torch.Generator().manual_seed(seed)
            noise = torch.normal(0.0, std, total.shape, generator=gen, dtype=torch.float64)
            total = total + noise.to(total.device)
        denom = float(self.expected_clients) if self.expected_clients is not None else len(updates)
        result = unflatten_update(total / denom, like)
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.rounds += 1
        self.last_round_info = {
            "epsilon": self.epsilon, "delta": self.delta, "round": round,
            "noise_multiplier": self.noise_multiplier, "clip_norm": self.clip_norm,
            "sample_rate": self.sample_rate, "noise_std": std / denom,
            "clipped_fraction": clipped / len(updates),
            "mean_update_norm": sum(norms) / len(norms), "seconds": time.perf_counter() - t0,
        }
        return result

    # -- checkpoints ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"history": [tuple(h) for h in self.accountant.history], "rounds": self.rounds}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.accountant.history = [tuple(h) for h in state["history"]]
        self.rounds = int(state["rounds"])

    def __repr__(self) -> str:
        return (f"DPFedAvgAggregator(clip_norm={self.clip_norm}, noise_multiplier={self.noise_multiplier}, "
                f"sample_rate={self.sample_rate}, delta={self.delta}, target_epsilon={self.target_epsilon})")


def dp_local_train(model: nn.Module, data: torch.Tensor, targets: torch.Tensor, config: ClientConfig, *,
                   seed: int = 0, noise_multiplier: float = 1.0, max_grad_norm: float = 1.0,
                   delta: float = 1e-5, **ignored: Any) -> dict[str, Any]:
    """Local DP-SGD with opacus's ``PrivacyEngine``: the drop-in twin of ``fedsyft.fl.local_train``.

    Protects the client's *samples* (record-level DP), unlike DP-FedAvg which protects whole
    clients. Per-sample gradients are clipped to ``max_grad_norm`` and Gaussian noise of std
    ``noise_multiplier * max_grad_norm`` is added to each batch's gradient sum; batches are
    Poisson-sampled with rate ``batch_size / n``. It runs at the worker like ``local_train``:
    ``worker.execute(dp_local_train, model, data_ptr, targets_ptr, config, ...)``. The model
    must be opacus-compatible (no batch norm: fedsyft's ``simple_cnn`` and ``mcmahan_2nn``
    are).

    Parameters
    ----------
    model, data, targets, config, seed: as in :func:`fedsyft.fl.local_train` (FedProx and
        SCAFFOLD arguments are ignored).
    noise_multiplier, max_grad_norm: DP-SGD's sigma and per-sample clipping bound.
    delta: the delta of the reported epsilon.

    Returns
    -------
    ``{"num_samples", "loss", "steps", "epsilon", "delta"}`` (epsilon of this client's data
    for this call, from opacus's RDP accountant).

    Example
    -------
    >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    >>> out = dp_local_train(m, torch.randn(64, 4), torch.randint(0, 2, (64,)),
    ...                      ClientConfig(batch_size=16), noise_multiplier=1.0)
    >>> out["epsilon"] > 0
    True
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    n = len(targets)
    if n == 0:
        return {"num_samples": 0, "loss": float("nan"), "steps": 0, "epsilon": 0.0, "delta": delta}
    device = next((p.device for p in model.parameters()), data.device)
    if data.device != device or targets.device != device:  # once per call, not per batch
        data, targets = data.to(device), targets.to(device)
    gen = torch.Generator().manual_seed(int(seed))  # Poisson sampling of batches: on the CPU
    # opacus draws the noise where the gradients are: on the CPU from the same generator as
    # always; on another device from a generator of that device, seeded alike.
    noise_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(int(seed))
    loader = DataLoader(TensorDataset(data, targets), batch_size=config.batch_size, generator=gen)
    opt = make_optimizer(model.parameters(), config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus's "secure RNG turned off" notice
        engine = PrivacyEngine(accountant="rdp")
        pmodel, popt, ploader = engine.make_private(
            module=model, optimizer=opt, data_loader=loader, noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, noise_generator=noise_gen)
    model.train()
    steps, loss_sum, seen = 0, 0.0, 0
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook")
            torch.manual_seed(int(seed))
            for _ in range(config.epochs):
                for x, y in ploader:
                    if config.max_steps is not None and steps >= config.max_steps:
                        break
                    if len(y) == 0:  # Poisson sampling drew an empty batch (prob. ~ e^-B)
                        continue
                    popt.zero_grad(set_to_none=True)
                    loss = F.nll_loss(pmodel(x), y)
                    loss.backward()
                    popt.step()
                    steps += 1
                    loss_sum += loss.item() * len(y)
                    seen += len(y)
    finally:
        pmodel._close()  # remove opacus's hooks: the model is a plain module again
    eps = float(engine.get_epsilon(delta)) if steps else 0.0
    return {"num_samples": n, "loss": loss_sum / max(seen, 1), "steps": steps, "epsilon": eps,
            "delta": delta}
