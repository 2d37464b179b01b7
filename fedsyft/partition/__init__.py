"""Who holds which samples: IID and non-IID partitioners, their report and plots.

Every partitioner is a pure function ``f(labels, num_clients, *, ..., seed=0)`` returning one
ascending int64 index array per client (``list[np.ndarray]``), seeded with
``numpy.random.default_rng(seed)`` (no global seeding), assigning every sample exactly once.
Each also has a thin configured class, callable as ``p(labels, num_clients)``: the contract of
``fedsyft.data.federate(dataset, workers, partition=p)``.

=====================  =====================  ============================================
function               class                  what
=====================  =====================  ============================================
``iid``                ``IID``                shuffled, sizes differ by <= 1
``shards``             ``Shards``             McMahan et al. 2017 sort-and-shard
``classes_per_client`` ``ClassesPerClient``   exactly k classes per client (extreme split, "Preserving Data Privacy in Deep Learning" pt. 2)
``real_world``         ``RealWorld``          random class counts and sizes ("real-world" split, same article)
``dirichlet``          ``Dirichlet``          NIID-Bench label Dirichlet, never hangs
``label_quantity``     ``LabelQuantity``      NIID-Bench #C=k
``quantity_skew``      ``QuantitySkew``       sizes ~ Dir(beta)
``linear`` ...         ``Linear`` ...         Flower's size partitioners (also square, exp.)
``feature_noise``      ``FeatureNoise``       per-client Gaussian input noise transforms
=====================  =====================  ============================================

Example
-------
>>> import numpy as np
>>> from fedsyft.partition import Dirichlet, partition_report
>>> labels = np.repeat(np.arange(10), 100)
>>> parts = Dirichlet(alpha=0.5)(labels, 5)
>>> partition_report(parts, labels).is_exact
True
"""

from __future__ import annotations

from typing import Any

from ._base import Partitioner
from .classes_per_client import ClassesPerClient, classes_per_client
from .dirichlet import Dirichlet, dirichlet
from .feature_noise import FeatureNoise, GaussianNoise, feature_noise
from .iid import IID, iid
from .label_quantity import LabelQuantity, label_quantity
from .plots import compare_partitions, plot_heatmap, plot_stacked_bars
from .quantity_skew import QuantitySkew, quantity_skew
from .real_world import RealWorld, real_world
from .report import PartitionReport, partition_report
from .shards import Shards, shards
from .size import Exponential, Linear, Square, exponential, linear, sized, square

__all__ = [
    "IID",
    "ClassesPerClient",
    "Dirichlet",
    "Exponential",
    "FeatureNoise",
    "GaussianNoise",
    "LabelQuantity",
    "Linear",
    "PARTITIONERS",
    "PartitionReport",
    "Partitioner",
    "QuantitySkew",
    "RealWorld",
    "Shards",
    "Square",
    "classes_per_client",
    "compare_partitions",
    "dirichlet",
    "exponential",
    "feature_noise",
    "get_partitioner",
    "iid",
    "label_quantity",
    "linear",
    "partition_report",
    "plot_heatmap",
    "plot_stacked_bars",
    "quantity_skew",
    "real_world",
    "shards",
    "sized",
    "square",
]

#: CLI name -> partitioner class
PARTITIONERS: dict[str, type[Partitioner]] = {
    cls.name: cls
    for cls in (
        IID,
        Shards,
        ClassesPerClient,
        RealWorld,
        Dirichlet,
        LabelQuantity,
        QuantitySkew,
        Linear,
        Square,
        Exponential,
    )
}


def get_partitioner(name: str, **params: Any) -> Partitioner:
    """Build a configured partitioner from its CLI name and keyword parameters.

    Names: ``iid, shards, classes_per_client, real_world, dirichlet, label_quantity,
    quantity_skew, linear, square, exponential`` (``-`` is accepted for ``_``, case-insensitive).
    Unknown names or parameters raise ``ValueError`` listing the valid ones.

    Example
    -------
    >>> get_partitioner("dirichlet", alpha=0.1, seed=1)
    Dirichlet(alpha=0.1, min_size=10, max_tries=1000, seed=1)
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else None
    if key not in PARTITIONERS:
        raise ValueError(
            f"name={name!r} is invalid: expected one of {', '.join(PARTITIONERS)}."
        )
    cls = PARTITIONERS[key]
    try:
        return cls(**params)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ValueError(
            f"params {sorted(params)} are invalid for {key!r}: expected a subset of {valid}."
        ) from exc
