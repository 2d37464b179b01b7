"""What a Flower run hands back (no flwr import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..fl import History


@dataclass
class FlowerResult:
    """The outcome of a run on one of Flower's engines.

    Attributes
    ----------
    history: one :class:`~fedsyft.fl.RoundRecord` per round, as fedsyft's own loop records.
    state: the final global model's ``state_dict``.
    engine: ``"simulation"`` or ``"deployment"``.
    seconds: wall time of the whole run (engine start and stop included).
    info: engine details (ports, process ids, Ray resources...).
    """

    history: History
    state: dict[str, torch.Tensor]
    engine: str
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def final_accuracy(self) -> float:
        return self.history.final_accuracy
