"""Process and output plumbing: silence syft's prints and logs, point a forked server's
output at a log file, set environment variables meanwhile, turn returned SyftErrors into
exceptions."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from .errors import SyftBridgeError


@contextlib.contextmanager
def _no_ipython_display() -> Iterator[None]:
    """Drop IPython ``display()`` calls meanwhile (syft shows its notices that way)."""
    shell = None
    if "IPython" in sys.modules:
        with contextlib.suppress(Exception):
            shell = sys.modules["IPython"].get_ipython()
    pub = getattr(shell, "display_pub", None)
    if pub is None:
        yield
        return
    pub.publish = lambda *args, **kwargs: None  # instance attribute shadows the method
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            del pub.publish


@contextlib.contextmanager
def _quiet(enabled: bool = True) -> Iterator[None]:
    """Silence syft's prints, notices, progress bars and log records (in this process)."""
    if not enabled:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                _no_ipython_display():
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _fds_to(path: str) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``path`` meanwhile: a server process forked now keeps
    writing its logs there instead of into the notebook or the terminal."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check(result: Any, what: str) -> Any:
    """syft 0.9.5 reports some failures as returned ``SyftError`` objects: raise them."""
    if type(result).__name__ == "SyftError":
        raise SyftBridgeError(f"{what} failed: {getattr(result, 'message', result)}")
    return result
