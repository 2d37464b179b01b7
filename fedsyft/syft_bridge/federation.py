"""SyftFederation: several datasites, their data owners and one data scientist, for FedAvg."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .handshake import HandshakeMixin, Scientist
from .round import RoundMixin
from .sites import Datasite, SitesMixin, _is_loopback


class SyftFederation(SitesMixin, HandshakeMixin, RoundMixin):
    """Several PySyft 0.9.5 datasites, their data owners and one data scientist, for FedAvg.

    Parameters
    ----------
    names: one datasite per name (its data owner's name).
    loopback: ``False`` runs every datasite inside this Python process (fast, offline);
        ``True`` runs each as an HTTP server in its own process on ``host`` with a free port,
        talking to its clients over the network protocol a remote datasite uses.
    host: the loopback address the servers listen on (only loopback addresses are accepted).
    state_dir: where the datasites keep their databases and blobs; default a new temporary
        folder. It is deleted by :meth:`land` when fedsyft created it.
    scientist: the data scientist's account.
    quiet: hide syft's prints, progress bars and logs (server processes log to
        ``<state_dir>/<name>.log``).

    Example
    -------
    ::

        fed = SyftFederation(["bob", "alice"]).launch()
        fed.upload_shards(shards); fed.login_scientist(); fed.request_training()
        print(fed.review("bob")); fed.approve()
        history = fed.fit(model, FLConfig(rounds=2), test)
        fed.land()
    """

    def __init__(self, names: Sequence[str] = ("bob", "alice"), *, loopback: bool = False,
                 host: str = "127.0.0.1", state_dir: str | os.PathLike | None = None,
                 scientist: Scientist | None = None, quiet: bool = True) -> None:
        names = [str(n) for n in names]
        if not names:
            raise ValueError("SyftFederation needs at least one datasite name.")
        if len(set(names)) != len(names):
            raise ValueError(f"Datasite names must be distinct, got {names}.")
        if loopback and not _is_loopback(host):
            raise ValueError(
                f"host={host!r} is not a loopback address: fedsyft only launches datasites on this "
                f"machine's loopback interface (127.0.0.1). To reach other machines, deploy syft "
                f"datasites there and log in to them with sy.login(url=..., port=...).")
        self.names = names
        self.loopback = loopback
        self.host = host
        self.quiet = quiet
        self.scientist_account = scientist or Scientist()
        self._own_state_dir = state_dir is None
        self._state_dir_arg = state_dir
        self.state_dir: str | None = None
        self.sites: dict[str, Datasite] = {}
        self.max_rounds: int | None = None

    def __repr__(self) -> str:
        where = "loopback servers" if self.loopback else "in memory"
        sites = ", ".join(repr(s) for s in self.sites.values()) or ", ".join(self.names) + " (not launched)"
        return f"SyftFederation({where}: {sites})"
