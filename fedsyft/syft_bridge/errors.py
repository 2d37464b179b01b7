"""The syft bridge's constants, errors, and the one place that imports syft."""

from __future__ import annotations

from typing import Any

SYFT_VERSION = "0.9.5"
INSTALL_HINT = "pip install syft==0.9.5 sniffio"
#: syft 0.9.5's default root account of a fresh datasite: the data owner logs in with it.
ADMIN_EMAIL, ADMIN_PASSWORD = "info@openmined.org", "changethis"
#: the name of the function the data scientist asks each site to run.
SITE_FUNCTION = "fedsyft_local_train"
ASSETS = ("images", "labels")


# -- errors ------------------------------------------------------------------------------
class SyftBridgeError(RuntimeError):
    """Something went wrong between fedsyft and a PySyft datasite."""


class RequestNotApprovedError(SyftBridgeError):
    """The data scientist's code request at a datasite is not approved (yet)."""


class DatasiteDownError(SyftBridgeError, ConnectionError):
    """A datasite has been landed or does not answer."""


# -- importing syft --------------------------------------------------------------------
def import_syft() -> Any:
    """Import and return ``syft``, or raise an ``ImportError`` that says how to install it.

    Example
    -------
    ::

        sy = import_syft()   # syft 0.9.5, or an ImportError with the install command
    """
    try:
        import syft
    except ImportError as exc:  # syft missing, or one of its undeclared deps (sniffio)
        raise ImportError(
            f"fedsyft.syft_bridge needs PySyft {SYFT_VERSION}, which could not be imported "
            f"({exc}). Install it with:  {INSTALL_HINT}") from exc
    version = getattr(syft, "__version__", "?")
    if not str(version).startswith("0.9."):
        raise ImportError(
            f"fedsyft.syft_bridge is written for PySyft {SYFT_VERSION} (datasites, code requests); "
            f"found syft {version}, whose API differs. Install it with:  {INSTALL_HINT}")
    return syft
