"""Secure aggregation: the server learns the sum of the client updates and nothing else.

Each client encodes its weighted update ``w_k * delta_k`` in fixed precision, splits it into
additive shares and sends one share to each *share holder* (by default the participating
clients themselves; or a few dedicated aggregation workers). Every holder adds up the shares
it received, locally; only these sums travel to the server, which adds them and decodes the
weighted mean. A single share, or any ``n - 1`` of them, is uniform noise: no holder and no
coalition short of all of them sees an individual update. This is the simple "one-shot
additive sharing" protocol; Bonawitz et al. (2017) replace the shares by pairwise masks
expanded from short seeds, which is much cheaper in bytes and survives dropouts.

The cost, measured per round in :attr:`SecureAggregator.last_round_info`: every client sends
``n`` int64 shares (8 bytes per value against 4 bytes of a float32 update sent in the clear),
and the holders send ``n`` sums to the server.

Precision: the default encoding ``base=10, precision_fractional=10`` resolves ``1e-10``; the
aggregate is off from the float64 weighted mean by at most ``K * 0.5e-10`` for ``K`` clients
(then cast to the update's dtype). Values must satisfy
``|w_k * delta_k| * 10**10 < 2**(63 - headroom)`` with ``headroom = ceil(log2(K)) + 1`` bits
so that the sum cannot wrap around (about ``|x| < 2.9e7`` for 10 clients); the encoder checks.

In :class:`~fedsyft.fl.FederatedTrainer` the trained models never leave the clients:
:class:`SecureAggregator` sets ``remote_updates = True``, so each client's update is computed
and kept at its worker, and :meth:`SecureAggregator.aggregate_remote` encodes and shares it
*there*. The server only ever reconstructs the sum. (Called directly with plain update dicts,
as in :func:`secure_aggregate`, the caller holds the updates and the shares are made from
each client's worker when ``clients`` names it, otherwise locally.)

Example
-------
>>> import torch
>>> from fedsyft.workers import VirtualWorker
>>> ws = [VirtualWorker(id=f"sa_doc_{i}") for i in range(3)]
>>> ups = [{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([5.0, 6.0])}]
>>> secure_aggregate(ups, [0.5, 0.25, 0.25], ws)["w"]
tensor([2.5000, 3.5000])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..fl.aggregate import float_keys, weighted_mean
from ..fl.aggregator import Aggregator, check_remote_updates, on_devices, release_remote_updates
from ..workers import BaseWorker, ObjectPointer, PointerTensor, move_module, resolve_worker
from ..workers.worker import known_workers
from ._flat import check_updates, flatten_update, unflatten_update
from .fixed_precision import FixedPrecisionTensor, fix_precision
from .sharing import AdditiveSharingTensor


def _headroom(k: int) -> int:
    return max(1, math.ceil(math.log2(max(k, 1))) + 1)


def _share_and_sum(vectors, holders: Sequence[BaseWorker], *, base: int, precision_fractional: int,
                   headroom: int) -> torch.Tensor:
    """Encode each vector where it is, share it among ``holders``, let every holder add its
    shares, and reconstruct only the sum."""
    total: AdditiveSharingTensor | None = None
    for vec in vectors:
        enc = fix_precision(vec, base=base, precision_fractional=precision_fractional,
                            headroom_bits=headroom)
        shared = enc.share(*holders)
        total = shared if total is None else total + shared  # each holder adds its shares
    if total is None:
        raise ValueError("Cannot aggregate zero client updates.")
    encoded = total.get()
    assert isinstance(encoded, FixedPrecisionTensor)
    return encoded.float_precision()


def _flatten_scaled(update: Mapping[str, torch.Tensor], keys: Sequence[str], weight: float) -> torch.Tensor:
    """Runs at the client: its weighted update as one float64 vector (on the CPU, where the
    ring arithmetic of secret sharing runs)."""
    return flatten_update(update, keys).cpu() * weight


def _aggregate_vectors(make_vectors: Callable[[], list], like: Mapping[str, torch.Tensor],
                       holders: Sequence[BaseWorker | str], clients: Sequence[BaseWorker], *,
                       base: int, precision_fractional: int,
                       plain_updates: Sequence[Mapping[str, torch.Tensor]] | None = None,
                       weights: Sequence[float] = ()) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The protocol, once ``make_vectors()`` gives each client's weighted update as one flat
    vector (at the client where possible): share, add at the holders, reconstruct the sum.
    Traffic of every holder and client is measured around it."""
    t0 = time.perf_counter()
    if len(holders) < 2:
        raise ValueError("Secure aggregation needs at least two share holders: pass the holders "
                         "(e.g. SecureAggregator([bob, alice, charlie])) or let two or more "
                         "clients with workers take part.")
    hs = [resolve_worker(h) for h in holders]
    involved = {w.id: w for w in [*hs, *clients]}
    before = {wid: w.traffic.copy() for wid, w in involved.items()}
    vectors = make_vectors()
    t_share = time.perf_counter()
    agg_vec = _share_and_sum(vectors, hs, base=base, precision_fractional=precision_fractional,
                             headroom=_headroom(len(vectors)))
    t_end = time.perf_counter()
    result = on_devices(unflatten_update(agg_vec, like), like)  # back where the model is
    bytes_in = sum((involved[wid].traffic - before[wid]).bytes_in for wid in involved)
    n = agg_vec.numel()
    elem = next(iter(like.values())).element_size() if like else 4
    info: dict[str, Any] = {
        "secure_bytes": int(bytes_in + len(hs) * n * 8),  # + the holders' sums to the server
        "plain_bytes": int(len(vectors) * n * elem),
        "secure_seconds": t_end - t0,
        "share_seconds": t_end - t_share,
        "holders": [h.id for h in hs],
        "num_clients": len(vectors),
        "precision_fractional": precision_fractional,
    }
    if plain_updates is not None:  # a diagnostic a real server could not compute
        plain = weighted_mean(plain_updates, weights)
        info["max_abs_error"] = max((float((result[k].double() - plain[k].double()).abs().max())
                                     for k in like if plain[k].numel()), default=0.0)
    return result, info


def _secure_aggregate(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float],
                      holders: Sequence[BaseWorker | str] | None, *,
                      clients: Sequence[BaseWorker | str | None] | None = None,
                      base: int = 10, precision_fractional: int = 10,
                      report_error: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    keys = check_updates(updates, weights)
    client_ws: list[BaseWorker | None] = []
    for i in range(len(updates)):
        c = clients[i] if clients is not None else None
        if isinstance(c, str):
            c = known_workers().get(c)
        client_ws.append(c if isinstance(c, BaseWorker) and c.alive else None)
    present = [c for c in client_ws if c is not None]

    def make_vectors() -> list:
        vectors = []
        for u, w, c in zip(updates, weights, client_ws):
            vec = flatten_update(u, keys).cpu() * float(w)
            if c is not None:  # the update is computed at the client: place it there, no traffic
                vec = PointerTensor(c, c.register_obj(vec), vec)
            vectors.append(vec)
        return vectors

    return _aggregate_vectors(make_vectors, {k: updates[0][k] for k in keys},
                              present if holders is None else holders, present, base=base,
                              precision_fractional=precision_fractional,
                              plain_updates=updates if report_error else None, weights=weights)


def secure_aggregate(updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float],
                     holders: Sequence[BaseWorker | str] | None = None, *,
                     clients: Sequence[BaseWorker | str | None] | None = None,
                     base: int = 10, precision_fractional: int = 10) -> dict[str, torch.Tensor]:
    """The weighted mean of ``updates`` computed through additive secret sharing.

    Parameters
    ----------
    updates: the clients' updates (``{name: tensor}``, float entries).
    weights: the clients' weights (FedAvg: ``n_k / n``).
    holders: the workers that receive one share of every update and add them up (at least
        two). ``None``: the clients' workers.
    clients: the worker (or id) of each update: its shares are made there. ``None``: shares
        are made here, by the caller.
    base, precision_fractional: the fixed-precision encoding.

    Returns
    -------
    ``{name: tensor}``, equal to ``fedsyft.fl.weighted_mean(updates, weights)`` up to the
    fixed-precision resolution.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> hs = [VirtualWorker(id="sa_fn_doc_a"), VirtualWorker(id="sa_fn_doc_b")]
    >>> secure_aggregate([{"b": torch.tensor([1.0])}, {"b": torch.tensor([2.0])}], [0.5, 0.5], hs)["b"]
    tensor([1.5000])
    """
    return _secure_aggregate(updates, weights, holders, clients=clients, base=base,
                             precision_fractional=precision_fractional)[0]


class SecureAggregator(Aggregator):
    """An aggregator for :class:`~fedsyft.fl.FederatedTrainer` that uses secure aggregation.

    Parameters
    ----------
    workers: the share holders. ``None`` (default): the round's participating clients hold
        the shares (at least two must take part). No crypto provider is needed: the holders
        only add shares, and additions need no Beaver triples.
    base, precision_fractional: the fixed-precision encoding (default ``10**10``).
    report_error: also compute the plaintext mean and report ``max_abs_error`` (a diagnostic
        for teaching and benchmarks; a real server could not do this).

    ``last_round_info`` holds ``secure_bytes``, ``plain_bytes``, ``secure_seconds`` ... of
    the last round; the loop stores it in ``RoundRecord.extra``.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> hs = [VirtualWorker(id="sagg_doc_a"), VirtualWorker(id="sagg_doc_b")]
    >>> agg = SecureAggregator(hs)
    >>> agg([{"w": torch.tensor([2.0])}, {"w": torch.tensor([4.0])}], [0.25, 0.75], round=1)["w"]
    tensor([3.5000])
    >>> agg.last_round_info["plain_bytes"]
    8
    """

    name = "secure"
    remote_updates = True  # in FederatedTrainer, updates stay at the clients until shared

    def __init__(self, workers: Sequence[BaseWorker | str] | None = None, *,
                 base: int = 10,
                 precision_fractional: int = 10, report_error: bool = False) -> None:
        if workers is not None and len(workers) < 2:
            raise ValueError("SecureAggregator needs at least two share holders (or None to use "
                             "the participating clients).")
        self.workers = list(workers) if workers is not None else None
        self.base = base
        self.precision_fractional = precision_fractional
        self.report_error = report_error

    def __call__(self, updates: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float], *,
                 round: int = 0, clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        result, info = _secure_aggregate(updates, weights, self.workers, clients=clients,
                                         base=self.base, precision_fractional=self.precision_fractional,
                                         report_error=self.report_error)
        info["round"] = round
        self.last_round_info = info
        return result

    def aggregate_remote(self, updates: Sequence[ObjectPointer], weights: Sequence[float], *,
                         template: Mapping[str, torch.Tensor], round: int = 0,
                         clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Secure aggregation of updates that are still at their clients (the loop's path).

        Parameters
        ----------
        updates: pointers to each client's update dict, at that client's worker.
        weights: the FedAvg weights.
        template: the global model's float entries (names, shapes, dtypes of the result).
        """
        keys = check_remote_updates(updates, weights, template)
        client_ws = [u.location for u in updates]
        plain = ([c.get_obj(u.id_at_location) for u, c in zip(updates, client_ws)]
                 if self.report_error else None)
        result, info = _aggregate_vectors(
            lambda: [c.execute(_flatten_scaled, u, keys, float(w)) for u, w, c in zip(updates, weights, client_ws)],
            template, self.workers if self.workers is not None else client_ws, client_ws,
            base=self.base, precision_fractional=self.precision_fractional,
            plain_updates=plain, weights=weights)
        info["round"] = round
        release_remote_updates(updates)  # the clients delete their updates
        self.last_round_info = info
        return result

    def __repr__(self) -> str:
        holders = "clients" if self.workers is None else [getattr(w, "id", w) for w in self.workers]
        return f"SecureAggregator(holders={holders}, precision_fractional={self.precision_fractional})"


def trusted_aggregate(models: Sequence[nn.Module], secure_worker: BaseWorker | str, *,
                      weights: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """The classic "trusted aggregator": move the models to a third worker and average there.

    The clients' models (sent to and trained at their workers) are *moved* to
    ``secure_worker``, which computes the weighted average and sends only that average to
    the server. Trust assumption: ``secure_worker`` sees every client's model in the clear
    and is trusted not to look (or to be a secure enclave); the server only sees the average.
    Secure aggregation removes that assumption.

    Parameters
    ----------
    models: sent models (``model.send(worker)``), or local ones (they are sent).
    secure_worker: the trusted third party.
    weights: the averaging weights (default: uniform).

    Returns
    -------
    The averaged state dict (float entries averaged, integer buffers: the maximum), local.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker, send_module
    >>> bob, alice, sw = (VirtualWorker(id=n) for n in ("b_tr_doc", "a_tr_doc", "s_tr_doc"))
    >>> m1, m2 = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    >>> _ = m1.weight.data.fill_(1.0), m2.weight.data.fill_(3.0)
    >>> trusted_aggregate([send_module(m1, bob), send_module(m2, alice)], sw)["weight"]
    tensor([[2.]])
    """
    if not models:
        raise ValueError("trusted_aggregate needs at least one model.")
    sw = resolve_worker(secure_worker)
    if weights is None:
        weights = [1.0 / len(models)] * len(models)
    if len(weights) != len(models):
        raise ValueError(f"{len(models)} models but {len(weights)} weights.")
    for m in models:
        move_module(m, sw)  # the models travel to the trusted worker
    states = [m.state_dict() for m in models]
    out: dict[str, torch.Tensor] = {}
    floats = set(float_keys(states[0]))
    for k in states[0]:
        if k in floats:
            acc = states[0][k].detach() * float(weights[0])
            for s, w in zip(states[1:], weights[1:]):
                acc = acc + s[k].detach() * float(w)  # runs at the secure worker
        else:
            acc = states[0][k].detach()
            for s in states[1:]:
                acc = torch.maximum(acc, s[k].detach())
        out[k] = acc.get() if isinstance(acc, PointerTensor) else acc
    return out
