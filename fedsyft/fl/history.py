"""What a federated run records, round by round, and its plots."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RoundRecord:
    """One round: test metrics, mean client training loss, traffic and time."""

    round: int
    test_accuracy: float
    test_loss: float
    train_loss: float
    clients: list[str]
    bytes_up: int
    bytes_down: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_total(self) -> int:
        return self.bytes_up + self.bytes_down


@dataclass
class History:
    """Per-round records of a run, plus its configuration.

    Example
    -------
    >>> h = History(config={"rounds": 1})
    >>> h.append(RoundRecord(1, 0.9, 0.3, 0.4, ["bob"], 10, 10, 0.1))
    >>> h.accuracies
    [0.9]
    """

    config: dict[str, Any] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)

    def append(self, record: RoundRecord) -> None:
        self.rounds.append(record)

    def __len__(self) -> int:
        return len(self.rounds)

    @property
    def accuracies(self) -> list[float]:
        return [r.test_accuracy for r in self.rounds]

    @property
    def losses(self) -> list[float]:
        return [r.test_loss for r in self.rounds]

    @property
    def final_accuracy(self) -> float:
        return self.rounds[-1].test_accuracy if self.rounds else float("nan")

    @property
    def bytes_per_round(self) -> list[int]:
        return [r.bytes_total for r in self.rounds]

    def rounds_to_accuracy(self, target: float) -> int | None:
        """The first round whose test accuracy reaches ``target``, or ``None``."""
        for r in self.rounds:
            if r.test_accuracy >= target:
                return r.round
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config,
                "rounds": [{**asdict(r), "bytes_total": r.bytes_total} for r in self.rounds]}

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        recs = []
        for r in d.get("rounds", []):
            r = {k: v for k, v in r.items() if k != "bytes_total"}
            recs.append(RoundRecord(**r))
        return cls(config=d.get("config", {}), rounds=recs)

    @classmethod
    def from_json(cls, path: str | Path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))


def plot_accuracy(histories: dict[str, History] | History, *, title: str = "Test accuracy per round",
                  ax=None, baseline: float | None = None, baseline_label: str = "centralized"):
    """Accuracy-per-round curves; returns the matplotlib Figure.

    ``histories`` is one History or ``{label: History}``.
    """
    import matplotlib.pyplot as plt

    if isinstance(histories, History):
        histories = {"federated": histories}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4))
    else:
        fig = ax.figure
    for label, h in histories.items():
        ax.plot([r.round for r in h.rounds], [100 * a for a in h.accuracies], marker="o", ms=3, label=label)
    if baseline is not None:
        ax.axhline(100 * baseline, color="k", ls="--", lw=1, label=baseline_label)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
