"""Where fedsyft finds its datasets.

In order: an explicit ``root=``, else ``$FEDSYFT_DATA``, else the repository's ``data/`` (a clone
or an editable install), else the copy of MNIST inside an installed wheel (``fedsyft/_data``;
``pip install .`` puts it there, see setup.py). Fashion-MNIST and CIFAR-10 are not in the wheel:
with a pip-installed fedsyft, point ``FEDSYFT_DATA`` (or ``root=``) at a folder holding them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_DATA = Path(__file__).resolve().parents[2] / "data"
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "_data"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the data folder: ``root`` if given, else ``$FEDSYFT_DATA``, else the repository's
    ``data/``, else the MNIST copy inside an installed wheel.

    Parameters
    ----------
    root:
        An explicit folder, or ``None``.

    Example
    -------
    >>> data_root("/srv/datasets").as_posix()
    '/srv/datasets'
    """
    if root is not None:
        return Path(root)
    env = os.environ.get("FEDSYFT_DATA")
    if env:
        return Path(env)
    if (REPO_DATA / "SHA256SUMS").is_file() or not (PACKAGE_DATA / "SHA256SUMS").is_file():
        return REPO_DATA
    return PACKAGE_DATA
