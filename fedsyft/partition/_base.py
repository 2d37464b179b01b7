"""The configured-partitioner base class (private)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

__all__ = ["Partitioner"]


class Partitioner:
    """A partitioner function bound to its parameters.

    Subclasses set ``_function`` and pass their keyword parameters to ``__init__``; calling
    the object runs ``_function(labels, num_clients, **params)``. This is the contract
    ``fedsyft.data.federate(dataset, workers, partition=p)`` relies on: it calls
    ``p(labels_int64_numpy, len(workers))`` and gets one int64 index array per worker.
    """

    _function: ClassVar[Callable[..., list[np.ndarray]]]
    #: the CLI name (``get_partitioner(name)``)
    name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self._params = dict(params)
        self._check()

    def _check(self) -> None:
        """Validate the scalar parameters early (subclasses override)."""

    @property
    def params(self) -> dict[str, Any]:
        """The keyword parameters this partitioner was configured with (a copy)."""
        return dict(self._params)

    def __call__(self, labels: Any, num_clients: int) -> list[np.ndarray]:
        return type(self)._function(labels, num_clients, **self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Partitioner) and type(other) is type(self) and other._params == self._params

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._params.items()))))
