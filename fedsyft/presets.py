"""Named setups of published experiments, for ``python -m fedsyft run --preset NAME``.

A preset is a set of command-line settings (keys are the ``run`` options, written as their
Python names: ``batch_size`` for ``--batch-size``). It fills in the defaults; every option
given explicitly on the command line still wins, so
``run --preset privacy-series-part1 --rounds 3`` is the article's setup for three rounds.

=========================  ===============================================================
name                       setup
=========================  ===============================================================
``privacy-series-part1``   CIFAR-10, 20 clients (IID), 6 selected per round, VGG19 with batch
                           norm, E=5, B=32, SGD lr 0.1, 150 rounds, unweighted mean
``privacy-series-part3``   the same, with every client holding 2 classes (non-IID)
=========================  ===============================================================

Source: the "Preserving Data Privacy in Deep Learning" series on Towards Data Science,
part 1 ("Understanding the basics of Federated Learning and its implementation using
PyTorch", https://towardsdatascience.com/preserving-data-privacy-in-deep-learning-part-1-a04894f78029/)
and part 3 ("Implementation of Federated Learning with non-IID dataset",
https://towardsdatascience.com/preserving-data-privacy-in-deep-learning-part-3-ae2103c40c22),
whose non-IID split ("classes per client", part 2) is :func:`fedsyft.partition.classes_per_client`.
The article averages the selected clients' weights without weighting them (``mean(0)``) and
trains with plain SGD (no momentum); its clients hold equal shares, so the two weightings
nearly coincide. Where it differs from fedsyft: it augments the images (random crop and
flip); fedsyft's CIFAR-10 loader does not.

Example
-------
>>> PRESETS["privacy-series-part3"].settings["partition"], PRESETS["privacy-series-part3"].settings["k"]
('classes_per_client', 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """One named setup.

    Parameters
    ----------
    name: the ``--preset`` value.
    summary: one line for ``--help``.
    source: where the setup comes from, by title (and link).
    settings: ``run`` option -> value (option names as Python identifiers).
    """

    name: str
    summary: str
    source: str
    settings: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))  # read-only


_PART1_SOURCE = ('"Preserving Data Privacy in Deep Learning | Part 1" (Towards Data Science), '
                 "https://towardsdatascience.com/preserving-data-privacy-in-deep-learning-part-1-a04894f78029/")
_PART3_SOURCE = ('"Preserving Data Privacy in Deep Learning | Part 3" (Towards Data Science), '
                 "https://towardsdatascience.com/preserving-data-privacy-in-deep-learning-part-3-ae2103c40c22")

_PRIVACY_SERIES = {
    "dataset": "cifar10",
    "model": "vgg19",          # VGG-19 with batch norm
    "partition": "iid",
    "clients": 20,
    "selected": 6,
    "epochs": 5,               # E
    "batch_size": 32,          # B
    "lr": 0.1,
    "momentum": 0.0,           # plain SGD
    "rounds": 150,
    "weighting": "uniform",    # the article's unweighted mean of the clients' weights
    "algorithm": "fedavg",
}

#: name -> :class:`Preset`
PRESETS: Mapping[str, Preset] = MappingProxyType({
    "privacy-series-part1": Preset(
        "privacy-series-part1",
        "CIFAR-10, 20 IID clients, 6 per round, VGG19-BN, E=5, B=32, lr 0.1, 150 rounds",
        _PART1_SOURCE,
        {**_PRIVACY_SERIES, "out": "runs/privacy-series-part1"},
    ),
    "privacy-series-part3": Preset(
        "privacy-series-part3",
        "part 1's setup with 2 classes per client (non-IID)",
        _PART3_SOURCE,
        {**_PRIVACY_SERIES, "partition": "classes_per_client", "k": 2,
         "out": "runs/privacy-series-part3"},
    ),
})


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises ``ValueError`` listing the known ones.

    Example
    -------
    >>> get_preset("privacy-series-part1").settings["clients"]
    20
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return PRESETS[name]
