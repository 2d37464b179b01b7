"""Aggregation of client updates: FedAvg and its weighting, with batch-norm buffers handled.

An *update* is the difference ``client_state - global_state`` over the floating-point
entries of the state dict (parameters and float buffers such as batch norm's running mean
and variance). Aggregators combine updates into one; privacy layers (secure aggregation,
DP, CKKS) are aggregators too.

Weighting. FedAvg weights client k by its sample count ``n_k / n`` (McMahan et al. 2017).
The seed article's code weighted by the number of *batches* each client ran, which is a
bug: a client's last partial batch counts as a whole one, so small clients are
over-weighted. ``weighting="uniform"`` gives the seed's unweighted mean when asked for.

Batch norm. Float buffers (``running_mean``, ``running_var``) are averaged with the same
weights as parameters, so the global model's statistics describe the union of the clients'
data. Integer buffers (``num_batches_tracked``) are counters, not estimates: the global
model takes the largest client value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .aggregator import Aggregator, FunctionAggregator

WEIGHTINGS = ("samples", "uniform")


def float_keys(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if torch.is_floating_point(v)]


def max_counters(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The integer entries (e.g. ``num_batches_tracked``) of the merged state: the largest
    client value, since they are counters, not estimates."""
    return {k: torch.stack([s[k] for s in states]).max(0).values.clone()
            for k, v in states[0].items() if not torch.is_floating_point(v)}


def state_delta(new: Mapping[str, torch.Tensor], old: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``new - old`` over the floating-point entries."""
    return {k: new[k].detach() - old[k].detach() for k in float_keys(old)}


def normalize_weights(sizes: Sequence[float], weighting: str = "samples") -> list[float]:
    """FedAvg weights: ``n_k / sum(n)`` for ``"samples"``, ``1/K`` for ``"uniform"``.

    Example
    -------
    >>> normalize_weights([10, 30])
    [0.25, 0.75]
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}.")
    if not sizes:
        raise ValueError("Cannot aggregate zero clients.")
    if weighting == "uniform":
        return [1.0 / len(sizes)] * len(sizes)
    total = float(sum(sizes))
    if total <= 0:
        raise ValueError("All clients reported zero samples; nothing to aggregate.")
    return [float(s) / total for s in sizes]


def weighted_mean(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """``sum_k weights[k] * updates[k]`` key by key (weights should sum to 1)."""
    if len(updates) != len(weights):
        raise ValueError(f"{len(updates)} updates but {len(weights)} weights.")
    keys = list(updates[0].keys())
    out = {}
    for k in keys:
        acc = torch.zeros_like(updates[0][k], dtype=torch.float64)
        for u, w in zip(updates, weights):
            acc += w * u[k].to(torch.float64)
        out[k] = acc.to(updates[0][k].dtype)
    return out


class WeightedMean(Aggregator):
    """The plain FedAvg aggregator: the weighted mean of the updates.

    Every aggregator derives from :class:`~fedsyft.fl.aggregator.Aggregator`, so the privacy
    layer can swap in secure aggregation, DP-FedAvg or CKKS without touching the round loop.

    Example
    -------
    >>> WeightedMean()([{"w": torch.tensor([0.0])}, {"w": torch.tensor([4.0])}], [0.25, 0.75])["w"]
    tensor([3.])
    """

    name = "fedavg"

    def __call__(self, updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                 round: int = 0, clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        return weighted_mean(updates, weights)

    def __repr__(self) -> str:
        return "WeightedMean()"


def as_aggregator(aggregator: Aggregator | Callable[..., Any] | None) -> Aggregator:
    """``None`` -> :class:`WeightedMean` (FedAvg); an :class:`~fedsyft.fl.aggregator.Aggregator`
    as it is; any other callable wrapped in :class:`~fedsyft.fl.aggregator.FunctionAggregator`.

    Example
    -------
    >>> as_aggregator(None)
    WeightedMean()
    """
    if aggregator is None:
        return WeightedMean()
    if isinstance(aggregator, Aggregator):
        return aggregator
    return FunctionAggregator(aggregator)


def fedavg(states: Sequence[Mapping[str, torch.Tensor]], sizes: Sequence[float] | None = None,
           *, weighting: str = "samples") -> dict[str, torch.Tensor]:
    """Average whole client state dicts (FedAvg). Integer buffers take the maximum.

    Parameters
    ----------
    states: the clients' ``state_dict()``s.
    sizes: the clients' sample counts (required for ``weighting="samples"``).
    weighting: ``"samples"`` (FedAvg) or ``"uniform"`` (the seed's unweighted mean).

    Example
    -------
    >>> a, b = {"w": torch.tensor([0.0])}, {"w": torch.tensor([4.0])}
    >>> fedavg([a, b], [1, 3])["w"]
    tensor([3.])
    """
    if not states:
        raise ValueError("fedavg needs at least one state.")
    if sizes is None:
        if weighting == "samples":
            raise ValueError("fedavg with weighting='samples' needs sizes (the clients' sample counts).")
        sizes = [1] * len(states)
    weights = normalize_weights(sizes, weighting)
    out = weighted_mean([{k: s[k] for k in float_keys(states[0])} for s in states], weights)
    out.update(max_counters(states))
    return {k: out[k] for k in states[0]}


def apply_update(global_state: Mapping[str, torch.Tensor], update: Mapping[str, torch.Tensor],
                 *, server_lr: float = 1.0) -> dict[str, torch.Tensor]:
    """``global + server_lr * update`` over the float entries; other entries unchanged (the
    result is on the global state's device, wherever the update was computed)."""
    new = {k: v.clone() for k, v in global_state.items()}
    for k, u in update.items():
        new[k] = (global_state[k] + server_lr * u.to(global_state[k].device)).to(global_state[k].dtype)
    return new


def state_to_numpy(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A plain ``dict`` of numpy arrays (what crosses a PySyft datasite boundary)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state.items()}


def numpy_to_state(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v).copy()) for k, v in arrays.items()}
