"""Issue 12.4 for the partitioners: every public parameter is type- and range-checked when it
is given (a bool is not an int or a number, floats must be finite), and the message names the
parameter, what was passed and the accepted range."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fedsyft.partition import (
    ClassesPerClient,
    RealWorld,
    classes_per_client,
    iid,
    linear,
    quantity_skew,
    real_world,
    sized,
)

LABELS = np.repeat(np.arange(10), 20)


@pytest.mark.parametrize("bad", ["no", "yes", 0, 1, None, 1.0, [True]])
def test_spill_over_must_be_a_bool(bad):
    with pytest.raises(ValueError, match=re.escape(f"spill_over={bad!r} is invalid: expected True or False")):
        classes_per_client(LABELS, 5, k=2, spill_over=bad)
    with pytest.raises(ValueError, match=r"spill_over=.* is invalid: expected True or False"):
        ClassesPerClient(k=2, spill_over=bad)


def test_spill_over_accepts_numpy_bools_like_bools():
    a = classes_per_client(LABELS, 5, k=2, spill_over=np.True_)
    b = classes_per_client(LABELS, 5, k=2, spill_over=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("bad,said", [
    (-5, r"labels_or_n=-5 is invalid: it was taken as the number of samples to split, and there "
         r"must be at least 1 \(got -5\)"),
    (0, r"labels_or_n=0 is invalid: it was taken as the number of samples"),
    (2.5, r"labels_or_n=2\.5 is invalid: expected the number of samples to split .* got a float"),
    (True, r"labels_or_n=True is invalid: .* got a bool"),
    ("100", r"labels_or_n='100' is invalid: .* got a str"),
    (None, r"labels_or_n=None is invalid: .* got a NoneType"),
])
@pytest.mark.parametrize("fn", [iid, linear, lambda x, n: quantity_skew(x, n, beta=0.5, min_size=0)])
def test_labels_or_n_errors_say_what_was_passed(fn, bad, said):
    with pytest.raises(ValueError, match=said):
        fn(bad, 2)


@pytest.mark.parametrize("bad", [None, 3, "linear", [1.0, 2.0]])
def test_weight_fn_must_be_callable(bad):
    with pytest.raises(ValueError, match=r"weight_fn=.* is invalid: expected a function of the client ids"):
        sized(100, 2, weight_fn=bad)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 51.0, 1e9, True, "1", -0.5])
def test_size_sigma_is_finite_and_bounded(bad):
    with pytest.raises(ValueError, match=r"size_sigma=.* is invalid: expected a finite number >= 0 and <= 50"):
        real_world(LABELS, 5, size_sigma=bad)
    with pytest.raises(ValueError, match=r"size_sigma=.* is invalid"):
        RealWorld(size_sigma=bad)


def test_the_largest_size_sigma_still_partitions_exactly():
    parts = real_world(LABELS, 5, size_sigma=50.0, seed=0)
    allidx = np.concatenate(parts)
    assert np.array_equal(np.sort(allidx), np.arange(len(LABELS)))
