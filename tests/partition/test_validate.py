"""Bad input: every invalid parameter raises ValueError naming the parameter and the value."""

import numpy as np
import pytest
import torch

from fedsyft.partition import (
    classes_per_client,
    dirichlet,
    exponential,
    iid,
    label_quantity,
    linear,
    quantity_skew,
    real_world,
    shards,
    square,
)
from fedsyft.partition._validate import as_labels, check_float, check_int, num_samples

LABELS = np.repeat(np.arange(5), 20)  # 100 samples, 5 classes

# (name, function, required keyword params)
PARTITIONERS = [
    ("iid", iid, {}),
    ("shards", shards, {}),
    ("classes_per_client", classes_per_client, {}),
    ("classes_per_client_spill", classes_per_client, {"spill_over": True}),
    ("real_world", real_world, {}),
    ("dirichlet", dirichlet, {"alpha": 0.5, "min_size": 1}),
    ("label_quantity", label_quantity, {"k": 2}),
    ("quantity_skew", quantity_skew, {"beta": 0.5, "min_size": 1}),
    ("linear", linear, {}),
    ("square", square, {}),
    ("exponential", exponential, {}),
]
IDS = [p[0] for p in PARTITIONERS]


@pytest.mark.parametrize(("name", "fn", "kw"), PARTITIONERS, ids=IDS)
def test_valid_call_works(name, fn, kw):
    parts = fn(LABELS, 5, **kw)
    assert len(parts) == 5


@pytest.mark.parametrize(("name", "fn", "kw"), PARTITIONERS, ids=IDS)
@pytest.mark.parametrize("bad", [0, -3, 101, 2.5, "4", None])
def test_bad_num_clients(name, fn, kw, bad):
    with pytest.raises(ValueError, match="num_clients") as exc:
        fn(LABELS, bad, **kw)
    assert repr(bad) in str(exc.value)
    if isinstance(bad, int):
        assert "[1, 100]" in str(exc.value)  # the valid range


BAD_LABELS = {
    "2-D": np.zeros((10, 2), dtype=np.int64),
    "float": np.arange(10, dtype=np.float64),
    "float-tensor": torch.arange(10, dtype=torch.float32),
    "empty": np.array([], dtype=np.int64),
    "negative": np.array([0, 1, -1, 2]),
    "bool": np.array([True, False, True]),
    "strings": np.array(["a", "b"]),
    "scalar-float": 3.0,
}


@pytest.mark.parametrize(("name", "fn", "kw"), PARTITIONERS, ids=IDS)
@pytest.mark.parametrize("bad", list(BAD_LABELS), ids=list(BAD_LABELS))
def test_bad_labels(name, fn, kw, bad):
    with pytest.raises(ValueError, match="labels") as exc:
        fn(BAD_LABELS[bad], 1, **kw)
    msg = str(exc.value)
    assert "expected" in msg
    if bad == "negative":
        assert "-1" in msg
    if bad in ("float", "float-tensor"):
        assert "float" in msg


@pytest.mark.parametrize(("name", "fn", "kw"), PARTITIONERS, ids=IDS)
@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_bad_seed(name, fn, kw, bad):
    with pytest.raises(ValueError, match="seed"):
        fn(LABELS, 5, seed=bad, **kw)


@pytest.mark.parametrize(("name", "fn", "kw"), PARTITIONERS, ids=IDS)
def test_more_clients_than_samples(name, fn, kw):
    with pytest.raises(ValueError, match=r"num_clients=4 .*\[1, 3\]"):
        fn(np.array([0, 1, 2]), 4, **kw)


@pytest.mark.parametrize("fn", [classes_per_client, label_quantity])
@pytest.mark.parametrize("k", [0, 6, -1, 2.0])
def test_bad_k(fn, k):
    with pytest.raises(ValueError, match="k=") as exc:
        fn(LABELS, 5, k=k)
    assert repr(k) in str(exc.value)
    if k == 6:
        assert "[1, 5]" in str(exc.value)


@pytest.mark.parametrize("alpha", [0, 0.0, -0.5, float("nan"), float("inf"), "1", True])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha") as exc:
        dirichlet(LABELS, 5, alpha=alpha)
    assert "> 0" in str(exc.value)


@pytest.mark.parametrize("beta", [0, -1.0, float("nan")])
def test_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        quantity_skew(100, 5, beta=beta)


@pytest.mark.parametrize("fn", [dirichlet, quantity_skew])
def test_infeasible_min_size(fn):
    kw = {"alpha": 1.0} if fn is dirichlet else {"beta": 1.0}
    with pytest.raises(ValueError, match=r"min_size=21 .*min_size <= 20"):
        fn(LABELS, 5, min_size=21, **kw)
    with pytest.raises(ValueError, match="min_size=-1"):
        fn(LABELS, 5, min_size=-1, **kw)
    # exactly feasible by count is accepted
    parts = fn(LABELS, 5, min_size=20, **kw) if fn is quantity_skew else None
    if parts is not None:
        assert [len(p) for p in parts] == [20] * 5


def test_bad_shards_per_client():
    with pytest.raises(ValueError, match=r"shards_per_client=11 .*\[1, 10\]"):
        shards(LABELS, 10, shards_per_client=11)
    with pytest.raises(ValueError, match="shards_per_client=0"):
        shards(LABELS, 10, shards_per_client=0)


def test_bad_real_world_params():
    with pytest.raises(ValueError, match="min_classes=0"):
        real_world(LABELS, 5, min_classes=0)
    with pytest.raises(ValueError, match="max_classes=2"):
        real_world(LABELS, 5, min_classes=3, max_classes=2)
    with pytest.raises(ValueError, match="size_sigma=-1"):
        real_world(LABELS, 5, size_sigma=-1.0)
    with pytest.raises(ValueError, match="max_classes=1 .*num_clients=4"):
        real_world(LABELS, 4, max_classes=1)  # 4 clients x 1 class < 5 classes


def test_classes_dropped_is_an_error():
    # 2 clients x 2 classes cannot cover 5 classes
    for fn in (classes_per_client, label_quantity):
        with pytest.raises(ValueError, match=r"num_clients=2 with k=2 .*>= 5"):
            fn(LABELS, 2, k=2)


def test_validators_directly():
    assert check_int("x", np.int32(3), lo=1) == 3
    assert check_float("x", np.float32(0.5)) == 0.5
    assert num_samples(np.int64(7)) == 7
    assert as_labels(torch.tensor([1, 2])).dtype == np.int64
    assert as_labels(np.array([1, 2], dtype=np.uint8)).dtype == np.int64
    with pytest.raises(ValueError, match="x=3 is invalid: expected an integer in \\[0, 2\\]"):
        check_int("x", 3, lo=0, hi=2)
