"""Flower's environment: the lazy import of ``flwr`` and the variables set before it starts.

``import fedsyft`` and ``import fedsyft.flower`` never import ``flwr``; only building or running
a Flower app does, through :func:`require_flwr`. Telemetry and Flower's update check are
switched off here, before ``flwr`` is first imported, and in the environment handed to every
process fedsyft starts (SuperLink, SuperNodes, ``flwr run``, Ray's workers).
"""

from __future__ import annotations

import importlib
import os

FLWR_VERSION = "1.41"
INSTALL_HINT = 'pip install "flwr[simulation]==1.41.*"'

#: Set in this process before ``flwr`` is imported, and in every process fedsyft starts.
QUIET_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",   # no usage reports to Flower's servers
    "FLWR_DISABLE_UPDATE_CHECK": "1",  # no network call to look for a newer flwr
}


def quiet_flwr() -> None:
    """Switch Flower's telemetry and update check off in this process (idempotent)."""
    for key, value in QUIET_ENV.items():
        os.environ[key] = value


def require_flwr(feature: str = "the Flower bridge"):
    """Import and return ``flwr``, or raise ``ImportError`` saying how to install it.

    Example
    -------
    >>> require_flwr().__name__
    'flwr'
    """
    quiet_flwr()
    try:
        flwr = importlib.import_module("flwr")
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs Flower (flwr {FLWR_VERSION}), which is not installed in this "
            f"environment. Install it with:\n    {INSTALL_HINT}\n"
            "(the [simulation] extra brings Ray, which the simulation engine needs)."
        ) from exc
    return flwr


def require_ray() -> None:
    """Flower's simulation engine runs clients on Ray; say how to get it if it is missing."""
    try:
        importlib.import_module("ray")
    except ImportError as exc:
        raise ImportError(
            "Flower's simulation engine needs Ray, which is not installed. Install Flower with "
            f"its simulation extra:\n    {INSTALL_HINT}"
        ) from exc
