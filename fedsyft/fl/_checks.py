"""Type and range checks for the public settings of fl/ (FLConfig, ClientConfig, the trainer).

Every message names the parameter, the accepted type and range, and what was given.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


class ConfigTypeError(TypeError, ValueError):
    """A setting of the wrong type. Also a ``ValueError``, so code that catches ``ValueError``
    for a bad configuration keeps catching it."""


def _given(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None,
              optional: bool = False, what: str = "") -> None:
    """``value`` is an ``int`` (not a bool, not a float) in ``[low, high]`` (or ``None`` if
    ``optional``)."""
    if value is None and optional:
        return
    rng = (f">= {low}" if high is None else f"in [{low}, {high}]") if low is not None else \
        (f"<= {high}" if high is not None else "")
    accepted = f"an integer {rng}".rstrip() + (" or None" if optional else "") + what
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigTypeError(f"{name} must be {accepted}; {_given(value)}.")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be {accepted}; got {value!r}.")


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, finite: bool = True,
                optional: bool = False, what: str = "") -> None:
    """``value`` is a real number (int or float, not a bool) in the given interval, and
    finite when ``finite``."""
    if value is None and optional:
        return
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    accepted = ("a finite number" if finite else "a number") + (" " + " and ".join(parts) if parts else "") \
        + (" or None" if optional else "") + what
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigTypeError(f"{name} must be {accepted}; {_given(value)}.")
    v = float(value)
    bad = math.isnan(v) or (finite and math.isinf(v))
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        raise ValueError(f"{name} must be {accepted}; got {value!r}.")


def check_choice(name: str, value: Any, choices: tuple[str, ...], *, label: str | None = None) -> None:
    """``value`` is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        head = label or f"{name} must be one of {choices}"
        raise ValueError(f"{head}; {_given(value)}.")
