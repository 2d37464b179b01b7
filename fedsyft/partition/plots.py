"""Pictures of a partition; every function returns a ``matplotlib.figure.Figure``.

The figures are built with the object-oriented API (no ``pyplot`` state, nothing is shown),
so they work under the Agg backend, in tests and in notebooks (where the returned figure is
displayed once, as the cell's value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .report import PartitionReport, partition_report

__all__ = ["compare_partitions", "plot_heatmap", "plot_stacked_bars"]


def _report(partitions: Any, labels: Any, num_classes: int | None) -> PartitionReport:
    if isinstance(partitions, PartitionReport):
        return partitions
    if labels is None:
        raise ValueError("labels=None is invalid: expected the label array that was partitioned.")
    return partition_report(partitions, labels, num_classes=num_classes)


def _colors(num_classes: int) -> list:
    if num_classes <= 10:
        return [colormaps["tab10"](c) for c in range(num_classes)]
    if num_classes <= 20:
        return [colormaps["tab20"](c) for c in range(num_classes)]
    cmap = colormaps["viridis"]
    return [cmap(c / max(num_classes - 1, 1)) for c in range(num_classes)]


def _names(num_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names has {len(class_names)} entries; expected {num_classes} "
            f"(one per class)."
        )
    return [str(c) for c in class_names]


def _client_ticks(ax: Axes, num_clients: int, *, axis: str = "x") -> None:
    step = max(1, int(np.ceil(num_clients / 20)))
    ticks = np.arange(0, num_clients, step)
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks)


def _draw_bars(
    ax: Axes, report: PartitionReport, names: list[str], *, normalize: bool
) -> None:
    counts = report.counts.astype(np.float64)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    x = np.arange(report.num_clients)
    bottom = np.zeros(report.num_clients)
    width = 0.8 if report.num_clients <= 50 else 1.0
    for c, color in enumerate(_colors(report.num_classes)):
        ax.bar(x, counts[:, c], bottom=bottom, width=width, color=color, label=names[c],
               linewidth=0)
        bottom += counts[:, c]
    ax.set_xlabel("client")
    ax.set_ylabel("fraction of client's samples" if normalize else "samples")
    ax.set_xlim(-0.5 - (width - 0.8) / 2, report.num_clients - 0.5 + (width - 0.8) / 2)
    _client_ticks(ax, report.num_clients)


def _draw_heatmap(ax: Axes, report: PartitionReport, names: list[str], *, annotate: bool | None):
    im = ax.imshow(report.counts.T, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xlabel("client")
    ax.set_ylabel("class")
    ax.set_yticks(np.arange(report.num_classes), labels=names)
    _client_ticks(ax, report.num_clients)
    if annotate is None:
        annotate = report.num_clients <= 20 and report.num_classes <= 20
    if annotate:
        top = report.counts.max() or 1
        for i in range(report.num_clients):
            for c in range(report.num_classes):
                v = int(report.counts[i, c])
                ax.text(i, c, str(v), ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * top else "white")
    return im


def _figure_for(report: PartitionReport, ax: Axes | None) -> tuple[Figure, Axes]:
    """``ax``'s figure, or a new figure (width grows with the client count) and its axes."""
    if ax is not None:
        fig = ax.figure
        while not isinstance(fig, Figure):  # a SubFigure: its root figure holds the plot
            fig = fig.figure
        return fig, ax
    fig = Figure(figsize=(min(14.0, max(6.0, 0.12 * report.num_clients + 3)), 4.0), layout="constrained")
    return fig, fig.add_subplot()


def plot_stacked_bars(
    partitions: Any,
    labels: Any = None,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One stacked bar per client, one colour per class (like the seed article's figures).

    Parameters
    ----------
    partitions:
        per-client index arrays, or a :class:`PartitionReport` (then ``labels`` is unused).
    labels:
        the partitioned label array.
    num_classes, class_names:
        number of classes (default ``labels.max() + 1``) and optional legend names.
    normalize:
        plot each client's label *fractions* instead of counts.
    title:
        axes title (default: the mean TV distance).
    ax:
        draw into this axes instead of a new figure (its figure is returned).

    Returns
    -------
    matplotlib.figure.Figure (one axes with ``num_classes`` bar containers, each holding one
    bar per client).

    Example
    -------
    >>> from fedsyft.partition import iid
    >>> labels = np.repeat(np.arange(3), 10)
    >>> fig = plot_stacked_bars(iid(labels, 4), labels)
    >>> len(fig.axes), len(fig.axes[0].containers)
    (1, 3)
    """
    report = _report(partitions, labels, num_classes)
    names = _names(report.num_classes, class_names)
    fig, ax = _figure_for(report, ax)
    _draw_bars(ax, report, names, normalize=normalize)
    ax.set_title(title if title is not None else f"mean TV distance {report.mean_tv:.3f}")
    if report.num_classes <= 20:
        ax.legend(title="class", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


def plot_heatmap(
    partitions: Any,
    labels: Any = None,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of the client x class count matrix (x = client, y = class, colour = samples).

    ``annotate`` writes the counts in the cells (default: when at most 20 clients and 20
    classes). Other parameters as :func:`plot_stacked_bars`. A new figure has two axes: the
    heatmap and its colour bar.

    Example
    -------
    >>> from fedsyft.partition import shards
    >>> labels = np.repeat(np.arange(4), 10)
    >>> fig = plot_heatmap(shards(labels, 4, shards_per_client=1), labels)
    >>> len(fig.axes)
    2
    """
    report = _report(partitions, labels, num_classes)
    names = _names(report.num_classes, class_names)
    fig, ax = _figure_for(report, ax)
    im = _draw_heatmap(ax, report, names, annotate=annotate)
    fig.colorbar(im, ax=ax, label="samples")
    ax.set_title(title if title is not None else f"mean TV distance {report.mean_tv:.3f}")
    return fig


def compare_partitions(
    named: Mapping[str, Any],
    labels: Any = None,
    *,
    kind: str = "bars",
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ncols: int | None = None,
) -> Figure:
    """Several partitions side by side, one panel each, titled with name and mean TV.

    Parameters
    ----------
    named:
        ``{"name": partitions_or_report, ...}`` (insertion order is panel order).
    labels:
        the label array all of them partition.
    kind:
        ``"bars"`` (stacked bars per client) or ``"heatmap"``.
    num_classes, class_names, normalize:
        as :func:`plot_stacked_bars`.
    ncols:
        panels per row (default: all in one row, at most 4 per row).

    Returns
    -------
    matplotlib.figure.Figure with one axes per entry (plus one colour bar per panel for
    heatmaps).

    Example
    -------
    >>> from fedsyft.partition import iid, shards
    >>> labels = np.repeat(np.arange(4), 10)
    >>> fig = compare_partitions({"iid": iid(labels, 4), "shards": shards(labels, 4)}, labels)
    >>> len(fig.axes)
    2
    """
    if kind not in ("bars", "heatmap"):
        raise ValueError(f"kind={kind!r} is invalid: expected 'bars' or 'heatmap'.")
    if not isinstance(named, Mapping) or len(named) == 0:
        raise ValueError(
            "named is invalid: expected a non-empty mapping {name: partitions, ...}."
        )
    reports = {k: _report(v, labels, num_classes) for k, v in named.items()}
    k = len(reports)
    ncols = min(k, 4) if ncols is None else max(1, min(int(ncols), k))
    nrows = -(-k // ncols)
    fig = Figure(figsize=(4.2 * ncols + 1.0, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    first = next(iter(reports.values()))
    names = _names(first.num_classes, class_names)
    for ax, (name, rep) in zip(axes.flat, reports.items()):
        if kind == "bars":
            _draw_bars(ax, rep, _names(rep.num_classes, class_names), normalize=normalize)
        else:
            im = _draw_heatmap(ax, rep, _names(rep.num_classes, class_names), annotate=False)
            fig.colorbar(im, ax=ax)
        ax.set_title(f"{name}\nmean TV {rep.mean_tv:.3f}", fontsize=10)
    for ax in list(axes.flat)[k:]:
        fig.delaxes(ax)
    if kind == "bars" and first.num_classes <= 20:
        handles, _ = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, title="class", loc="outside right upper", fontsize=8)
    return fig
