"""The aggregator contract: what the server step may ask of every aggregator.

An *aggregator* combines the round's client updates (``client_state - global_state`` over the
float entries) into one update. FedAvg's weighted mean, secure aggregation, DP-FedAvg and
CKKS are all aggregators; the server step (:func:`fedsyft.fl.server.server_round`) calls the
methods declared here and never probes for attributes. The model is Opacus's
``IAccountant``: an abstract base with the capabilities written down, and a
``state_dict``/``load_state_dict`` pair for checkpoints.

Capabilities
------------
``remote_updates``
    ``False`` (default): the server receives the clients' trained states (or updates) and
    calls :meth:`Aggregator.__call__` with plain update dicts. ``True``: trained models never
    leave the clients; each update stays at its worker and
    :meth:`Aggregator.aggregate_remote` receives *pointers* to them. An aggregator that
    declares ``True`` must implement ``aggregate_remote``.

Example
-------
>>> import torch
>>> class Median(Aggregator):
...     name = "median"
...     def __call__(self, updates, weights, *, round=0, clients=None):
...         self.last_round_info = {"round": round}
...         return {k: torch.stack([u[k] for u in updates]).median(0).values for k in updates[0]}
>>> agg = Median()
>>> agg([{"w": torch.tensor([1.0])}, {"w": torch.tensor([5.0])}, {"w": torch.tensor([2.0])}],
...     [1 / 3] * 3, round=1)["w"]
tensor([2.])
>>> Median().load_state_dict(agg.state_dict())
>>> agg.remote_updates
False
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch

Update = Mapping[str, torch.Tensor]


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Aggregator(abc.ABC):
    """Base class of every aggregator of :func:`~fedsyft.fl.server.server_round`.

    Subclasses implement :meth:`__call__`; those that keep updates at the clients set
    ``remote_updates = True`` and implement :meth:`aggregate_remote`; those with state that
    must survive a checkpoint (a privacy accountant) override :meth:`_state` and
    :meth:`_load_state`.

    Attributes
    ----------
    name: a short name for reports.
    remote_updates: see the module docstring (a class attribute: a capability, not a setting).
    last_round_info: what the last round measured (bytes, seconds, epsilon, ...); the server
        step copies it into ``RoundRecord.extra``.
    """

    name: ClassVar[str] = "aggregator"
    remote_updates: ClassVar[bool] = False
    last_round_info: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the declared capabilities when the class is written, not mid-run: a
        misspelled ``remote_updates`` must not silently send trained models to the server."""
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.remote_updates, bool):
            raise TypeError(f"{cls.__name__}.remote_updates must be True or False, got {cls.remote_updates!r}.")
        overrides = cls.aggregate_remote is not Aggregator.aggregate_remote
        if cls.remote_updates and not overrides:
            raise TypeError(f"{cls.__name__} declares remote_updates = True but does not implement "
                            f"aggregate_remote(updates, weights, *, template, round, clients).")
        if overrides and not cls.remote_updates:
            raise TypeError(f"{cls.__name__} implements aggregate_remote but remote_updates is False, so "
                            f"the server would never call it and trained models would leave the "
                            f"clients: set the class attribute remote_updates = True (check its spelling).")

    def __new__(cls, *args: Any, **kwargs: Any) -> Aggregator:
        self = super().__new__(cls)
        self.last_round_info = {}
        return self

    @abc.abstractmethod
    def __call__(self, updates: Sequence[Update], weights: Sequence[float], *, round: int = 0,
                 clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Combine plain update dicts (held by the caller) into one update.

        Parameters
        ----------
        updates: one ``{name: tensor}`` per client (float entries).
        weights: the clients' weights (FedAvg: ``n_k / n``; they sum to 1).
        round: the round number (seeds, reports).
        clients: the clients' ids, in the order of ``updates``.
        """

    def aggregate_remote(self, updates: Sequence[Any], weights: Sequence[float], *,
                         template: Update, round: int = 0,
                         clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Combine updates that are still at their clients (pointers). Refused by default.

        Parameters
        ----------
        updates: pointers to each client's update dict, at that client's worker.
        weights: the clients' weights.
        template: the global model's float entries (names, shapes, dtypes, device of the
            result).
        """
        raise NotImplementedError(
            f"{type(self).__name__} aggregates plain updates only (remote_updates = False); "
            f"it cannot combine updates kept at the clients. Call it with update dicts, or use "
            f"an aggregator that declares remote_updates = True (SecureAggregator, CKKSAggregator).")

    # -- checkpoints ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """The state to checkpoint (plain Python values and tensors only). Default: none."""
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`_state` returned (default: nothing to restore)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but the state to load holds "
                             f"{sorted(state)}: it was saved from another aggregator.")

    def state_dict(self) -> dict[str, Any]:
        """``{"aggregator": "<module>.<class>", **state}``: what a checkpoint stores."""
        return {"aggregator": _qualname(type(self)), **self._state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, after checking it was saved from this class."""
        if not isinstance(state, Mapping):
            raise TypeError(f"{type(self).__name__}.load_state_dict expects the dict returned by "
                            f"state_dict(), got {type(state).__name__}.")
        saved = state.get("aggregator")
        if saved is not None and saved != _qualname(type(self)):
            raise ValueError(
                f"This state was saved from {saved}, not from {_qualname(type(self))}: resume with "
                f"the aggregator the run was started with, or start a new run.")
        self._load_state({k: v for k, v in state.items() if k != "aggregator"})

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FunctionAggregator(Aggregator):
    """Wraps a plain function ``fn(updates, weights, *, round, clients) -> update`` (a
    callable given as ``aggregator=``) into an :class:`Aggregator` without state.

    Example
    -------
    >>> import torch
    >>> agg = FunctionAggregator(lambda ups, ws, **kw: ups[0])
    >>> agg([{"w": torch.ones(1)}], [1.0], round=1)["w"]
    tensor([1.])
    """

    name = "function"

    def __init__(self, fn: Callable[..., Mapping[str, torch.Tensor]]) -> None:
        if not callable(fn):
            raise TypeError(f"aggregator must be an Aggregator or a callable, got {fn!r}.")
        self.fn = fn

    def __call__(self, updates: Sequence[Update], weights: Sequence[float], *, round: int = 0,
                 clients: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        return dict(self.fn(updates, weights, round=round, clients=clients))

    def __repr__(self) -> str:
        return f"FunctionAggregator({getattr(self.fn, '__name__', self.fn)!r})"


def on_devices(update: Mapping[str, torch.Tensor], like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``update`` with each entry on the device of the matching entry of ``like`` (aggregators
    that compute on the CPU return the aggregate where the model is)."""
    return {k: v.to(like[k].device) if k in like else v for k, v in update.items()}


def check_remote_updates(updates: Sequence[Any], weights: Sequence[float], template: Update) -> list[str]:
    """The start of every ``aggregate_remote``: one weight per update pointer, at least one
    update; returns the keys of the result (``template``'s, in order)."""
    if len(updates) != len(weights) or not updates:
        raise ValueError(f"{len(updates)} updates but {len(weights)} weights (need one weight per "
                         f"update, at least one update).")
    return list(template)


def release_remote_updates(updates: Sequence[Any]) -> None:
    """The end of every ``aggregate_remote``: each client deletes its (plaintext) update."""
    for u in updates:
        u.location._forget(u.id_at_location)
