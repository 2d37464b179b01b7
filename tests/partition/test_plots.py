import io

import matplotlib
import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from fedsyft.partition import (
    compare_partitions,
    dirichlet,
    iid,
    partition_report,
    plot_heatmap,
    plot_stacked_bars,
    shards,
)

matplotlib.use("Agg")
LABELS = np.repeat(np.arange(10), 30)


def _bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_stacked_bars():
    parts = dirichlet(LABELS, 12, alpha=0.5, min_size=1)
    fig = plot_stacked_bars(parts, LABELS)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    bars = _bars(fig.axes[0])
    assert len(bars) == 10 and all(len(b) == 12 for b in bars)
    heights = np.array([[r.get_height() for r in b] for b in bars]).T
    assert (heights == partition_report(parts, LABELS).counts).all()
    fig.savefig(io.BytesIO(), format="png")


def test_stacked_bars_normalized_from_report_and_class_names():
    rep = partition_report(iid(LABELS, 4), LABELS)
    fig = plot_stacked_bars(rep, normalize=True, class_names=[f"c{i}" for i in range(10)])
    bars = _bars(fig.axes[0])
    tops = sum(np.array([r.get_height() for r in b]) for b in bars)
    assert np.allclose(tops, 1.0)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["c0", "c1"]
    with pytest.raises(ValueError, match="class_names"):
        plot_stacked_bars(rep, class_names=["a"])


def test_heatmap():
    parts = shards(LABELS, 6)
    fig = plot_heatmap(parts, LABELS)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heatmap + colour bar
    img = fig.axes[0].images[0].get_array()
    assert (np.asarray(img) == partition_report(parts, LABELS).counts.T).all()
    assert len(fig.axes[0].texts) == 6 * 10  # annotated cells
    fig.savefig(io.BytesIO(), format="png")


def test_compare_partitions():
    named = {"iid": iid(LABELS, 5), "shards": shards(LABELS, 5), "dir 0.1":
             dirichlet(LABELS, 5, alpha=0.1, min_size=1)}
    fig = compare_partitions(named, LABELS)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == list(named)
    assert all(len(_bars(ax)) == 10 for ax in fig.axes)
    fig = compare_partitions(named, LABELS, kind="heatmap")
    assert len(fig.axes) == 6
    fig = compare_partitions({**named, "x": iid(LABELS, 5), "y": iid(LABELS, 5)}, LABELS)
    assert len(fig.axes) == 5  # 2 rows of 4, unused panels removed
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="kind"):
        compare_partitions(named, LABELS, kind="pie")
    with pytest.raises(ValueError, match="named"):
        compare_partitions({}, LABELS)


def test_no_pyplot_state():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_stacked_bars(iid(LABELS, 3), LABELS)
    plot_heatmap(iid(LABELS, 3), LABELS)
    compare_partitions({"a": iid(LABELS, 3)}, LABELS)
    assert plt.get_fignums() == before
