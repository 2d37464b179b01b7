"""Datasites: launch them (in this process or as loopback HTTP servers), ping them, land them.

Every launched federation is remembered (weakly) so that an interpreter that exits without
``land()`` still stops its server processes and deletes its state folders.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import weakref
from typing import Any

from ._plumbing import _env, _fds_to, _quiet
from .errors import ADMIN_EMAIL, ADMIN_PASSWORD, DatasiteDownError, SyftBridgeError, import_syft


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Datasite:
    """One PySyft datasite and the two views of it: its data owner's and the data scientist's.

    Attributes
    ----------
    name: the datasite's name (``"bob"``).
    handle: syft's ``ServerHandle`` (from ``sy.orchestra.launch``).
    owner: the data owner's client (the datasite's admin).
    scientist: the data scientist's client, after :meth:`SyftFederation.login_scientist`.
    images, labels: the scientist's view of the two assets (``.mock`` readable, ``.data`` not).
    request: the scientist's code request, after :meth:`SyftFederation.request_training`.
    url: ``http://127.0.0.1:PORT`` for a server process, ``None`` in memory.
    """

    def __init__(self, name: str, handle: Any, owner: Any, *, host: str | None = None,
                 port: int | None = None, log_path: str | None = None, quiet: bool = True) -> None:
        self.name = name
        self.handle = handle
        self.owner = owner
        self.host = host
        self.port = port
        self.log_path = log_path
        self.quiet = quiet
        self.scientist: Any = None
        self.images: Any = None
        self.labels: Any = None
        self.request: Any = None
        self.num_samples: int | None = None
        self.image_shape: tuple[int, ...] | None = None
        self.landed = False

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}" if self.port else None

    @property
    def kind(self) -> str:
        return "server process" if self.port else "in memory"

    def ping(self, timeout: float = 3.0) -> bool:
        """Is the datasite up? (A server process must answer ``/api/v2/metadata``.)"""
        if self.landed:
            return False
        if self.port is None:
            return True
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/metadata", timeout=timeout) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def ensure_up(self) -> None:
        """Raise :class:`DatasiteDownError` if the datasite has been landed or does not answer."""
        if self.landed:
            raise DatasiteDownError(
                f"Datasite {self.name!r} has been shut down (land()); launch the datasites again "
                f"(SyftFederation(...).launch()) to continue.")
        if not self.ping():
            log = f" Its server log is {self.log_path}." if self.log_path else ""
            raise DatasiteDownError(
                f"Datasite {self.name!r} at {self.url} does not answer: its server process has "
                f"stopped or is unreachable.{log} Relaunch the datasites and train again.")

    def land(self) -> None:
        """Stop this datasite (its state folder goes when the federation lands)."""
        if self.landed:
            return
        self.landed = True
        with _quiet(self.quiet):
            self.handle.land()

    def __repr__(self) -> str:
        state = "landed" if self.landed else self.kind
        where = f" at {self.url}" if self.url else ""
        return f"Datasite({self.name!r}, {state}{where}, samples={self.num_samples})"


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _land_all() -> None:  # never leave server processes or state folders behind
    for fed in list(_LIVE):
        with contextlib.suppress(Exception):
            fed.land()


class SitesMixin:
    """The lifecycle part of :class:`~fedsyft.syft_bridge.SyftFederation`: launch, land, look up."""

    names: list[str]
    loopback: bool
    host: str
    quiet: bool
    state_dir: str | None
    sites: dict[str, Datasite]
    _own_state_dir: bool
    _state_dir_arg: str | os.PathLike | None

    # -- lifecycle ---------------------------------------------------------------------
    def launch(self) -> Any:
        """Start the datasites and log their data owners in. Returns ``self``."""
        sy = import_syft()
        if self.sites:
            raise SyftBridgeError("This federation is already launched; land() it first.")
        if self._own_state_dir:
            self.state_dir = tempfile.mkdtemp(prefix="fedsyft-syft-")
        else:
            self.state_dir = os.fspath(self._state_dir_arg)
            os.makedirs(self.state_dir, exist_ok=True)
        _LIVE.add(self)
        try:
            for name in self.names:
                self.sites[name] = self._launch_one(sy, name)
        except BaseException:
            self.land()
            raise
        return self

    def _launch_one(self, sy: Any, name: str) -> Datasite:
        # syft keeps each datasite's sqlite database and blobs under
        # $TMPDIR/$SYFT_TEMP_ROOT/<server id>; an absolute SYFT_TEMP_ROOT puts them in state_dir.
        root = os.path.join(self.state_dir, "syft")
        with _env(SYFT_TEMP_ROOT=root):
            if not self.loopback:
                with _quiet(self.quiet):
                    handle = sy.orchestra.launch(name=name, reset=True)
                    owner = handle.login(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, cache=False)
                return Datasite(name, handle, owner, quiet=self.quiet)
            port = free_port(self.host)
            log_path = os.path.join(self.state_dir, f"{name}.log")
            # syft forks the server process inside launch(); it inherits these descriptors.
            with _quiet(self.quiet), (_fds_to(log_path) if self.quiet else contextlib.nullcontext()):
                handle = sy.orchestra.launch(name=name, reset=True, port=port, host=self.host)
        site = Datasite(name, handle, None, host=self.host, port=port, log_path=log_path, quiet=self.quiet)
        if not site.ping(timeout=10):
            site.land()
            raise DatasiteDownError(f"Datasite {name!r} did not start on {site.url}; see {log_path}.")
        with _quiet(self.quiet):
            site.owner = sy.login(url=f"http://{self.host}", port=port, email=ADMIN_EMAIL,
                                  password=ADMIN_PASSWORD, cache=False)
        return site

    def land(self) -> None:
        """Stop every datasite and delete the state folder fedsyft created. Safe to call twice."""
        for site in self.sites.values():
            with contextlib.suppress(Exception):
                site.land()
        if self.state_dir and self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> Any:
        return self if self.sites else self.launch()

    def __exit__(self, *exc: Any) -> None:
        self.land()

    def site(self, name: str) -> Datasite:
        """The datasite called ``name`` (raises ``KeyError`` listing the names)."""
        try:
            return self.sites[name]
        except KeyError:
            raise KeyError(f"No datasite {name!r}; the datasites are {list(self.sites) or self.names}"
                           f"{'' if self.sites else ' (not launched yet: call launch())'}.") from None

    def _require_launched(self) -> None:
        if not self.sites:
            raise SyftBridgeError("The datasites are not running: call launch() (or use `with`).")

