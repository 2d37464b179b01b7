import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.partition import (
    PartitionReport,
    classes_per_client,
    dirichlet,
    iid,
    partition_report,
)

from ._helpers import label_arrays


@settings(max_examples=50, deadline=None)
@given(data=st.data(), labels=label_arrays(max_size=300), seed=st.integers(0, 1000))
def test_counts_equal_bincount(data, labels, seed):
    n = len(labels)
    k = data.draw(st.integers(1, min(n, 20)))
    parts = iid(labels, k, seed=seed)
    extra = data.draw(st.integers(0, 5))
    rep = partition_report(parts, labels, num_classes=int(labels.max()) + 1 + extra)
    assert rep.counts.shape == (k, int(labels.max()) + 1 + extra)
    for i, p in enumerate(parts):
        assert rep.counts[i].tolist() == np.bincount(labels[p], minlength=rep.num_classes).tolist()
    assert rep.sizes.tolist() == [len(p) for p in parts]
    assert rep.classes_per_client.tolist() == [len(np.unique(labels[p])) for p in parts]
    assert rep.is_exact and rep.num_assigned == n
    assert ((rep.tv >= 0) & (rep.tv <= 1 + 1e-12)).all()
    assert ((rep.hellinger >= 0) & (rep.hellinger <= 1 + 1e-12)).all()


def test_heterogeneity_extremes():
    labels = np.repeat(np.arange(4), 25)
    same_dist = [np.arange(0, 48), np.arange(48, 96)]  # 12 of each class each
    rep = partition_report(same_dist, np.tile(np.arange(4), 24))
    assert rep.mean_tv == pytest.approx(0.0) and rep.mean_hellinger == pytest.approx(0.0)
    one_class = [np.flatnonzero(labels == c) for c in range(4)]
    rep = partition_report(one_class, labels)
    assert rep.mean_tv == pytest.approx(0.75)  # 1 - 1/4
    assert rep.mean_hellinger == pytest.approx(np.sqrt(1 - np.sqrt(0.25)))
    assert rep.classes_per_client.tolist() == [1, 1, 1, 1]


def test_lower_alpha_higher_tv():
    labels = np.repeat(np.arange(10), 500)
    tvs = [partition_report(dirichlet(labels, 10, alpha=a), labels).mean_tv for a in (10, 1, 0.1)]
    assert tvs == sorted(tvs)


def test_coverage_problems_are_reported():
    labels = np.array([0, 1, 0, 1, 2])
    rep = partition_report([np.array([0, 1]), np.array([1, 2]), np.array([], dtype=np.int64)],
                           labels)
    assert not rep.is_exact
    assert rep.num_unassigned == 2 and rep.num_duplicates == 1 and rep.num_assigned == 4
    assert np.isnan(rep.tv[2]) and not np.isnan(rep.mean_tv)
    assert "2 unassigned, 1 duplicated" in str(rep)


def test_str_table_and_dataframe():
    labels = np.repeat(np.arange(10), 10)
    rep = partition_report(classes_per_client(labels, 5, k=2), labels)
    text = str(rep)
    assert text == repr(rep)
    assert text.startswith("PartitionReport: 5 clients, 10 classes, 100 samples "
                           "(every sample exactly once)")
    assert "mean TV 0.800" in text
    lines = text.splitlines()
    assert lines[3].split()[:4] == ["client", "size", "classes", "TV"]
    assert len(lines) == 3 + 1 + 5
    assert lines[4].split()[:4] == ["0", "20", "2", "0.800"]
    df = rep.to_dataframe()
    assert df.shape == (5, 4 + 10)
    assert list(df.columns[:4]) == ["size", "classes", "tv", "hellinger"]
    assert df.index.name == "client"
    assert (df[[f"class_{c}" for c in range(10)]].to_numpy() == rep.counts).all()
    assert df["size"].sum() == 100


def test_long_tables_are_truncated():
    rep = partition_report(iid(1000, 100), np.zeros(1000, dtype=np.int64))
    lines = rep.to_string(max_rows=20).splitlines()
    assert len(lines) == 3 + 1 + 20 + 1
    assert any(line.strip().startswith("...") for line in lines)
    assert len(rep.to_string(max_rows=None).splitlines()) == 3 + 1 + 100


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        (np.arange(3), "partitions is invalid"),
        ([], r"partitions=\[\]"),
        ([np.array([0, 5])], r"partitions\[0\] .*\[0, 4\]"),
        ([np.array([0.0, 1.0])], r"partitions\[0\] .*float64"),
        ([np.array([-1])], r"partitions\[0\]"),
    ],
)
def test_bad_partitions(parts, match):
    with pytest.raises(ValueError, match=match):
        partition_report(parts, np.arange(5))


def test_bad_num_classes_and_labels():
    with pytest.raises(ValueError, match=r"num_classes=2 .*>= 3"):
        partition_report([np.arange(3)], np.arange(3), num_classes=2)
    with pytest.raises(ValueError, match="labels"):
        partition_report([np.arange(3)], np.arange(3.0))


def test_report_type():
    assert isinstance(partition_report([np.arange(3)], np.arange(3)), PartitionReport)
