"""Where fedsyft finds its datasets.

The repository ships MNIST and Fashion-MNIST in ``data/`` at its root. An installed
copy of fedsyft looks there (editable installs) unless ``FEDSYFT_DATA`` or an
explicit ``root=`` says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the data folder: ``root`` if given, else ``$FEDSYFT_DATA``, else the repo's ``data/``.

    Parameters
    ----------
    root:
        An explicit folder, or ``None``.

    Example
    -------
    >>> data_root().name
    'data'
    """
    if root is not None:
        return Path(root)
    env = os.environ.get("FEDSYFT_DATA")
    if env:
        return Path(env)
    return REPO_DATA
