"""A federated run's settings, and the seeded choices every engine derives from them.

Every random choice is derived from ``(seed, round, client)``: client sampling uses
``numpy.random.default_rng([seed, round])`` and local training is seeded with
``seed * 1_000_003 + round * 1_009 + client``. A run stopped after round r and resumed from
its checkpoint therefore ends bit-identical to an uninterrupted run, and every engine (virtual
workers, the batched engine, PySyft datasites, Flower) samples the same clients.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._checks import ConfigTypeError, check_choice, check_float, check_int
from .aggregate import WEIGHTINGS
from .client import ClientConfig

ALGORITHMS = ("fedavg", "fedprox", "scaffold")


@dataclass(frozen=True)
class FLConfig:
    """A federated run.

    Parameters
    ----------
    rounds: communication rounds (an integer >= 1).
    num_selected: clients sampled per round, an integer >= 1 (``None``: all of them).
    algorithm: ``"fedavg"``, ``"fedprox"`` (with ``mu``) or ``"scaffold"``.
    mu: FedProx's proximal weight (finite, >= 0).
    server_lr: the server step on the aggregated update (finite, > 0; 1.0 = plain averaging).
    weighting: ``"samples"`` (FedAvg) or ``"uniform"`` (the seed's unweighted mean).
    client: local training settings, a :class:`~fedsyft.fl.ClientConfig`.
    seed: the seed every random choice derives from (an integer in [0, 2**63 - 1]).

    Example
    -------
    >>> FLConfig(rounds=2, num_selected=3).client.lr
    0.01
    >>> FLConfig(num_selected=2.5)
    Traceback (most recent call last):
    ...
    fedsyft.fl._checks.ConfigTypeError: num_selected must be an integer >= 1 or None; got 2.5 (float).
    """

    rounds: int = 10
    num_selected: int | None = None
    algorithm: str = "fedavg"
    mu: float = 0.01
    server_lr: float = 1.0
    weighting: str = "samples"
    client: ClientConfig = field(default_factory=ClientConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("rounds", self.rounds, low=1)
        check_int("num_selected", self.num_selected, low=1, optional=True)
        check_choice("algorithm", self.algorithm, ALGORITHMS,
                     label=f"Unknown algorithm {self.algorithm!r}; choose one of {ALGORITHMS}")
        check_float("mu", self.mu, low=0.0)
        check_float("server_lr", self.server_lr, low=0.0, low_open=True)
        check_choice("weighting", self.weighting, WEIGHTINGS)
        if not isinstance(self.client, ClientConfig):
            hint = " (build it with ClientConfig(**d))" if isinstance(self.client, dict) else ""
            raise ConfigTypeError(f"client must be a ClientConfig{hint}; got {self.client!r} "
                                  f"({type(self.client).__name__}).")
        check_int("seed", self.seed, low=0, high=2**63 - 1)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["client"] = self.client.as_dict()
        return d


def client_seed(seed: int, rnd: int, client: int) -> int:
    """The seed of client ``client``'s local training in round ``rnd``.

    Example
    -------
    >>> client_seed(0, 1, 2)
    1011
    """
    return (seed * 1_000_003 + rnd * 1_009 + client) % (2**63)


def sample_clients(num_clients: int, num_selected: int | None, *, seed: int, rnd: int) -> list[int]:
    """The (sorted) client indices that take part in round ``rnd``.

    Example
    -------
    >>> sample_clients(10, 3, seed=0, rnd=1) == sample_clients(10, 3, seed=0, rnd=1)
    True
    """
    if num_selected is None or num_selected == num_clients:
        return list(range(num_clients))
    if num_selected > num_clients:
        raise ValueError(f"num_selected ({num_selected}) is greater than the number of clients "
                         f"({num_clients}); choose at most {num_clients}.")
    rng = np.random.default_rng([seed, rnd])
    return sorted(int(i) for i in rng.choice(num_clients, size=num_selected, replace=False))
