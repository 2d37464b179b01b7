"""Input checks shared by every partitioner.

Every invalid argument raises :class:`ValueError` whose message names the parameter, the value
that was given and the valid range, e.g.
``num_clients=0 is invalid: expected an integer in [1, 60000] (at most one client per sample).``
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = [
    "as_labels",
    "check_bool",
    "check_callable",
    "check_float",
    "check_int",
    "check_num_clients",
    "check_seed",
    "num_samples",
]


def _invalid(name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{name}={value!r} is invalid: expected {expected}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, *, lo: int, hi: int | None = None, why: str = "") -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[lo, hi]``, else raise ValueError."""
    rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    expected = f"an integer {rng}" if hi is None else f"an integer in {rng}"
    if why:
        expected += f" ({why})"
    if not _is_int(value):
        raise _invalid(name, value, expected)
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise _invalid(name, value, expected)
    return value


def check_float(
    name: str, value: Any, *, lo: float = 0.0, lo_inclusive: bool = False,
    hi: float | None = None, why: str = ""
) -> float:
    """Return ``value`` as ``float`` if it is a finite number above ``lo`` (and at most
    ``hi``), else raise. A bool is not a number here."""
    op = ">=" if lo_inclusive else ">"
    expected = f"a finite number {op} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
    if why:
        expected += f" ({why})"
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise _invalid(name, value, expected)
    value = float(value)
    if (not math.isfinite(value) or value < lo or (value == lo and not lo_inclusive)
            or (hi is not None and value > hi)):
        raise _invalid(name, value, expected)
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` must be ``True`` or ``False`` (not a string such as ``'no'``, not 0/1)."""
    if not isinstance(value, (bool, np.bool_)):
        raise _invalid(name, value, "True or False")
    return bool(value)


def check_callable(name: str, value: Any, expected: str) -> Any:
    """``value`` must be callable (the message says what it should compute)."""
    if not callable(value):
        raise _invalid(name, value, expected)
    return value


def check_seed(seed: Any) -> int | None:
    """A seed is a non-negative integer (or ``None`` for fresh, non-reproducible entropy)."""
    if seed is None:
        return None
    return check_int("seed", seed, lo=0, why="or None; passed to numpy.random.default_rng")


def as_labels(labels: Any, *, name: str = "labels") -> np.ndarray:
    """Validate a label array and return it as a 1-D ``int64`` numpy array (never a view to write).

    Accepts numpy arrays, lists and CPU torch tensors of integer dtype.
    """
    expected = "a non-empty 1-D array of non-negative integers"
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} is invalid: expected {expected}; got {type(labels).__name__}.") from exc
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{name} is invalid: expected {expected}; got dtype {arr.dtype} "
            f"(cast class labels to an integer dtype, e.g. labels.astype('int64'))."
        )
    if arr.ndim != 1:
        raise ValueError(f"{name} is invalid: expected {expected}; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is invalid: expected {expected}; got an empty array.")
    arr = arr.astype(np.int64, copy=False)
    lo = int(arr.min())
    if lo < 0:
        raise ValueError(f"{name} is invalid: expected {expected}; got a negative label ({lo}).")
    return arr


def num_samples(labels_or_n: Any, *, name: str = "labels_or_n") -> int:
    """Number of samples from either a sample count or a label array.

    The error says what was passed (the sample count -5, a float, a bool, ...), since callers
    such as a CLI flag or ``federate`` pass it on for the user.
    """
    expected = "the number of samples to split (an integer >= 1) or a 1-D array of integer labels"
    if _is_int(labels_or_n) or (
        isinstance(labels_or_n, np.ndarray)
        and labels_or_n.ndim == 0
        and labels_or_n.dtype.kind in "iu"
    ):
        n = int(labels_or_n)
        if n < 1:
            raise ValueError(f"{name}={n} is invalid: it was taken as the number of samples to "
                             f"split, and there must be at least 1 (got {n}). Pass a positive "
                             f"sample count or the label array.")
        return n
    if isinstance(labels_or_n, (bool, np.bool_, float, np.floating, str, bytes)) or labels_or_n is None:
        raise ValueError(f"{name}={labels_or_n!r} is invalid: expected {expected}; got a "
                         f"{type(labels_or_n).__name__}.")
    return int(as_labels(labels_or_n, name=name).shape[0])


def check_num_clients(num_clients: Any, n: int) -> int:
    """``num_clients`` must be an integer in ``[1, n]``."""
    return check_int("num_clients", num_clients, lo=1, hi=n, why="at most one client per sample")


def check_min_size_feasible(min_size: int, num_clients: int, n: int) -> None:
    """``min_size`` samples for each of ``num_clients`` clients must fit in ``n`` samples."""
    if min_size * num_clients > n:
        raise ValueError(
            f"min_size={min_size} is invalid: expected min_size * num_clients <= {n} "
            f"(the number of samples), i.e. min_size <= {n // num_clients} for "
            f"num_clients={num_clients}."
        )
