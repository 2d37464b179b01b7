"""Robust aggregation: coordinate-wise median and trimmed mean, and a poisoning client to test them.

FedAvg's weighted mean lets one client move the global model anywhere: a client that sends
``-10 x`` its honest update (or flips its labels and trains hard) drags the average with it.
Byzantine-robust aggregators bound that influence coordinate by coordinate (Yin, Chen,
Ramchandran and Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates", ICML 2018, https://arxiv.org/abs/1803.01498):

* :class:`CoordinateMedian`: each entry of the aggregate is the median of the clients'
  entries; it tolerates up to half of the clients being malicious, at some cost in accuracy
  on honest, heterogeneous data.
* :class:`TrimmedMean`: each entry drops the ``b`` largest and ``b`` smallest client values
  and averages the rest; it tolerates up to ``b`` malicious clients.

Both ignore the clients' sample-count weights on purpose: a weight is only a client's claim,
and a poisoner would simply claim a large one. :class:`ScaledUpdateAttack` wraps any
aggregator and replaces the updates of chosen clients by a scaled copy (the "scaled update"
or sign-flipping attack), so an experiment can show what each aggregator does about it.

All three derive from :class:`~fedsyft.fl.aggregator.Aggregator` and have the call signature
of :class:`~fedsyft.fl.aggregate.WeightedMean`:
``aggregator(updates, weights, *, round=0, clients=None) -> update``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .aggregator import Aggregator

__all__ = ["CoordinateMedian", "TrimmedMean", "ScaledUpdateAttack"]


def _check(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> list[str]:
    if not updates:
        raise ValueError("Cannot aggregate zero client updates.")
    if len(updates) != len(weights):
        raise ValueError(f"{len(updates)} updates but {len(weights)} weights; pass one weight per update.")
    keys = list(updates[0])
    for i, u in enumerate(updates[1:], 1):
        if list(u) != keys:
            raise ValueError(f"Update {i} has keys {sorted(u)} but update 0 has {sorted(keys)}.")
    return keys


def _sorted_stack(updates: Sequence[Mapping[str, torch.Tensor]], key: str) -> torch.Tensor:
    return torch.stack([u[key].detach().to(torch.float64) for u in updates]).sort(dim=0).values


class CoordinateMedian(Aggregator):
    """The coordinate-wise median of the client updates (unweighted).

    With an even number of clients the two middle values are averaged (like ``numpy.median``).

    Example
    -------
    >>> agg = CoordinateMedian()
    >>> ups = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([2.0, 1.0])},
    ...        {"w": torch.tensor([100.0, -50.0])}]
    >>> agg(ups, [1 / 3] * 3)["w"]
    tensor([2., 0.])
    """

    name = "median"

    def __call__(self, updates, weights, *, round: int = 0, clients=None) -> dict[str, torch.Tensor]:
        keys = _check(updates, weights)
        k = len(updates)
        out = {}
        for key in keys:
            s = _sorted_stack(updates, key)
            med = s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2
            out[key] = med.to(device=updates[0][key].device, dtype=updates[0][key].dtype)
        self.last_round_info = {"robust_clients": float(k)}
        return out

    def __repr__(self) -> str:
        return "CoordinateMedian()"


class TrimmedMean(Aggregator):
    """The coordinate-wise trimmed mean: drop the ``b`` largest and smallest values, average the rest.

    Parameters
    ----------
    trim: the fraction ``beta`` of clients trimmed at *each* end, ``0 <= beta < 0.5``;
        ``b = floor(beta * K)`` of the ``K`` clients of a round. ``trim=0`` is the plain
        unweighted mean. It tolerates up to ``b`` malicious clients per round.

    Example
    -------
    >>> agg = TrimmedMean(trim=0.25)
    >>> ups = [{"w": torch.tensor([v])} for v in (1.0, 2.0, 3.0, 1000.0)]
    >>> agg(ups, [0.25] * 4)["w"]
    tensor([2.5000])
    """

    name = "trimmed_mean"

    def __init__(self, *, trim: float = 0.1) -> None:
        if not 0 <= trim < 0.5:
            raise ValueError(f"trim must be in [0, 0.5) (the fraction dropped at each end), got {trim!r}; "
                             f"use CoordinateMedian for the limit 0.5.")
        self.trim = float(trim)

    def __call__(self, updates, weights, *, round: int = 0, clients=None) -> dict[str, torch.Tensor]:
        keys = _check(updates, weights)
        k = len(updates)
        b = int(self.trim * k)
        out = {}
        for key in keys:
            s = _sorted_stack(updates, key)
            out[key] = s[b:k - b].mean(0).to(device=updates[0][key].device, dtype=updates[0][key].dtype)
        self.last_round_info = {"trimmed_per_side": float(b)}
        return out

    def __repr__(self) -> str:
        return f"TrimmedMean(trim={self.trim})"


class ScaledUpdateAttack(Aggregator):
    """Simulated poisoning: the ``attackers`` send ``scale x`` their honest update instead.

    A negative ``scale`` is the sign-flipping attack: the attacker pushes the model against
    the direction its data points to, and with FedAvg a handful of such clients undo the
    honest ones' progress. The wrapped ``aggregator`` (FedAvg, median, trimmed mean, ...)
    then sees the poisoned updates exactly as a server would.

    Parameters
    ----------
    aggregator: the server's aggregator, e.g. ``WeightedMean()`` or ``CoordinateMedian()``.
    attackers: the worker ids of the malicious clients (their ids in ``clients``).
    scale: the factor applied to an attacker's update.

    Example
    -------
    >>> from fedsyft.fl.aggregate import WeightedMean
    >>> agg = ScaledUpdateAttack(WeightedMean(), attackers=["mallory"], scale=-4.0)
    >>> ups = [{"w": torch.tensor([1.0])}, {"w": torch.tensor([1.0])}]
    >>> agg(ups, [0.5, 0.5], clients=["bob", "mallory"])["w"]
    tensor([-1.5000])
    """

    name = "scaled_attack"

    def __init__(self, aggregator: Aggregator, *, attackers: Sequence[str], scale: float = -10.0) -> None:
        if isinstance(attackers, str):
            raise TypeError(f"attackers must be a list of worker ids, got the string {attackers!r}; "
                            f"write attackers=[{attackers!r}].")
        self.aggregator = aggregator
        self.attackers = frozenset(attackers)
        self.scale = float(scale)

    def __call__(self, updates, weights, *, round: int = 0, clients=None) -> dict[str, torch.Tensor]:
        if clients is None or len(clients) != len(updates):
            raise ValueError("ScaledUpdateAttack needs clients= (one worker id per update) to know "
                             "which updates are the attackers'.")
        poisoned = [{k: v * self.scale for k, v in u.items()} if c in self.attackers else u
                    for u, c in zip(updates, clients)]
        out = self.aggregator(poisoned, weights, round=round, clients=clients)
        info = dict(getattr(self.aggregator, "last_round_info", None) or {})
        info["attackers_this_round"] = float(sum(c in self.attackers for c in clients))
        self.last_round_info = info
        return out

    def _state(self) -> dict[str, Any]:
        return {"inner": self.aggregator.state_dict()} if isinstance(self.aggregator, Aggregator) else {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        if "inner" in state and isinstance(self.aggregator, Aggregator):
            self.aggregator.load_state_dict(state["inner"])

    def __repr__(self) -> str:
        return f"ScaledUpdateAttack({self.aggregator!r}, attackers={sorted(self.attackers)}, scale={self.scale})"
