"""FedAvg across real PySyft 0.9.5 datasites: private data, mock data, code requests, approval.

The virtual workers of :mod:`fedsyft.workers` *simulate* data that lives elsewhere. This module
runs the same federated averaging on real PySyft 0.9.5 *datasites*:

1. **Launch** one datasite per data owner (``bob``, ``alice``, ...), in this Python process
   (``loopback=False``) or each as its own HTTP server process on 127.0.0.1 (``loopback=True``,
   the same protocol a datasite on another machine speaks).
2. **Upload**: each data owner uploads its shard as a ``sy.Dataset`` with two assets,
   ``images`` and ``labels``. The private data is the real shard; the *mock* that data
   scientists see is generated noise and random labels of the same shape and dtype, never
   real samples.
3. **Request**: the data scientist (a registered, non-admin user) sees only the mock and asks
   each site to run one function, :func:`fedsyft_local_train`, which is fedsyft's
   :func:`~fedsyft.fl.local_train` on the site's private shard. The input policy is a
   ``sy.MixedInputPolicy``: the site's two assets, plus two dicts the scientist sends each
   round (the global weights and the training settings), so one approval serves every round.
4. **Review and approve**: each data owner reads the submitted source
   (:meth:`SyftFederation.review`) and approves it (:meth:`SyftFederation.approve`).
5. **Aggregate**: every round the scientist sends the global weights to each site, gets
   trained weights back (plain dicts of numpy arrays) and averages them with the same code as
   :class:`~fedsyft.fl.FederatedTrainer` (sample-weighted FedAvg over the float entries).
   With the same partition, seed and hyper-parameters the result matches the
   virtual-worker run.
6. **Land**: :meth:`SyftFederation.land` stops every datasite and deletes its state folder.

What syft 0.9.5 enforces: the scientist cannot read the private assets, and code runs on them
only after the owner approved it, only with the inputs the policy names. What it does *not*
enforce: execution-count output policies (``OutputPolicyExecuteCount``,
``SingleExecutionExactOutput``). ``UserCodeService.is_execution_allowed`` calls the policy's
``is_valid`` but ignores the answer, so an approved function runs as often as it is called.
Treat the limit as a note to the data owner, not a privacy control.

syft is imported lazily (only inside functions): ``import fedsyft`` stays fast and works
without syft. Install it with ``pip install syft==0.9.5 sniffio``.

Example
-------
>>> import torch
>>> from fedsyft.data import MNIST
>>> from fedsyft.fl import ClientConfig, FLConfig
>>> from fedsyft.models import get_model
>>> from fedsyft.partition import Dirichlet
>>> from fedsyft.syft_bridge import SyftFederation, shards_from
>>> train, test = MNIST("train").subset(range(4000)), MNIST("test")
>>> parts = Dirichlet(alpha=0.5, seed=0)(train.targets.numpy(), 2)
>>> torch.manual_seed(0); model = get_model("mcmahan_2nn")  # doctest: +SKIP
>>> with SyftFederation(["bob", "alice"]) as fed:  # doctest: +SKIP
...     fed.prepare(shards_from(train, parts))       # upload, register, request, approve
...     history = fed.fit(model, FLConfig(rounds=2, client=ClientConfig(lr=0.05)), test)
"""

from __future__ import annotations

import atexit
import contextlib
import io
import ipaddress
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .fl.aggregate import (
    WeightedMean,
    apply_update,
    max_counters,
    normalize_weights,
    numpy_to_state,
    state_delta,
    state_to_numpy,
)
from .fl.evaluate import evaluate
from .fl.history import History, RoundRecord
from .fl.loop import FLConfig, sample_clients
from .models import CifarCNN, ClassicCNN, McMahan2NN, McMahanCNN, SimpleCNN, get_model

__all__ = [
    "SYFT_VERSION", "INSTALL_HINT", "ADMIN_EMAIL", "ADMIN_PASSWORD", "SITE_FUNCTION",
    "SyftBridgeError", "RequestNotApprovedError", "DatasiteDownError",
    "import_syft", "free_port", "make_mock", "shards_from", "fedsyft_local_train",
    "Datasite", "Scientist", "SyftFederation",
]

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


# -- helpers -----------------------------------------------------------------------------
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


def make_mock(images: np.ndarray, labels: np.ndarray, *, num_classes: int = 10,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated stand-ins for a shard: standard-normal images and uniform random labels.

    Same shapes and dtypes as the private arrays, so code written against the mock runs on the
    real data; no real sample (and no statistic of one) is in it.

    Example
    -------
    >>> mx, my = make_mock(np.zeros((5, 1, 28, 28), np.float32), np.zeros(5, np.int64))
    >>> mx.shape, mx.dtype, my.dtype, bool((my < 10).all())
    ((5, 1, 28, 28), dtype('float32'), dtype('int64'), True)
    """
    rng = np.random.default_rng(seed)
    mock_x = rng.standard_normal(images.shape).astype(images.dtype, copy=False)
    mock_y = rng.integers(0, num_classes, size=labels.shape).astype(labels.dtype, copy=False)
    return mock_x, mock_y


def shards_from(dataset: Any, parts: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One ``(images float32 (n, C, H, W), labels int64 (n,))`` pair per index array.

    ``dataset`` has ``.data``/``.targets`` tensors (fedsyft's datasets) and ``parts`` comes from a
    partitioner of :mod:`fedsyft.partition`; pass the *same* ``parts`` to ``dataset.federate`` to
    give virtual workers exactly the same shards.

    Example
    -------
    >>> from fedsyft.data import TensorImageDataset
    >>> ds = TensorImageDataset(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.arange(4),
    ...                         mean=(0.5,), std=(0.5,), classes=list("abcd"))
    >>> [(x.shape, y.tolist()) for x, y in shards_from(ds, [[0, 2], [1, 3]])]
    [((2, 1, 28, 28), [0, 2]), ((2, 1, 28, 28), [1, 3])]
    """
    data, targets = dataset.data, dataset.targets
    out = []
    for idx in parts:
        t_idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        out.append((data[t_idx].detach().cpu().numpy().astype(np.float32, copy=True),
                    targets[t_idx].detach().cpu().numpy().astype(np.int64, copy=True)))
    return out


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


# -- the code that runs at the datasite --------------------------------------------------
def fedsyft_local_train(images, labels, weights, config):
    """Runs AT THE DATASITE, on its private shard: fedsyft's local_train, weights in and out.

    images, labels: the site's private assets (numpy arrays).
    weights: the global model, a dict of numpy arrays sent by the data scientist.
    config: model name and shape, ClientConfig fields, seed and round number (plain values).
    Returns the trained weights (dict of numpy arrays), the sample count and training stats.
    """
    import numpy as np
    import torch

    from fedsyft.fl import ClientConfig, local_train, numpy_to_state, state_to_numpy
    from fedsyft.models import get_model

    model = get_model(config["model"], **config["model_kwargs"])
    model.load_state_dict(numpy_to_state(weights))
    x = torch.from_numpy(np.array(images, dtype=np.float32))
    y = torch.from_numpy(np.array(labels, dtype=np.int64))
    stats = local_train(model, x, y, ClientConfig(**config["client"]), seed=int(config["seed"]))
    return {
        "weights": state_to_numpy(model.state_dict()),
        "num_samples": int(stats["num_samples"]),
        "loss": float(stats["loss"]),
        "steps": int(stats["steps"]),
        "round": int(config["round"]),
    }


_MODEL_NAMES: dict[type, str] = {ClassicCNN: "classic_cnn", McMahanCNN: "mcmahan_cnn",
                                  McMahan2NN: "mcmahan_2nn", SimpleCNN: "simple_cnn",
                                  CifarCNN: "cifar_cnn"}


def _model_spec(model: nn.Module, model_name: str | None, image_shape: tuple[int, ...]) -> tuple[str, dict]:
    """How a site rebuilds ``model``: a name from :mod:`fedsyft.models` and its keyword arguments."""
    name = model_name or _MODEL_NAMES.get(type(model))
    if name is None:
        raise ValueError(
            f"The datasites rebuild the model from fedsyft.models by name, and "
            f"{type(model).__name__} is not one they know by its class: pass model_name=... "
            f"(e.g. 'vgg11' for fedsyft's VGG-11).")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    kwargs = {"in_channels": int(image_shape[0]), "image_size": int(image_shape[-1]),
              "num_classes": int(linears[-1].out_features) if linears else 10}
    if name.startswith("vgg"):
        kwargs.pop("image_size")
    try:
        probe = get_model(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Cannot rebuild model {name!r} for images of shape {image_shape}: {exc}") from exc
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if ours != theirs:
        raise ValueError(
            f"get_model({name!r}, **{kwargs}) does not have the parameters of the model you passed "
            f"({type(model).__name__}); pass the right model_name.")
    return name, kwargs


# -- datasites ---------------------------------------------------------------------------
@dataclass
class Scientist:
    """The data scientist's account (registered by each data owner; not an admin)."""

    name: str = "Dana Scientist"
    email: str = "dana@fedsyft.example"
    password: str = "fedsyft-0.9.5"
    institution: str = "fedsyft tutorial"


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


class SyftFederation:
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

    # -- lifecycle ---------------------------------------------------------------------
    def launch(self) -> SyftFederation:
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

    def __enter__(self) -> SyftFederation:
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

    # -- data owners: upload -------------------------------------------------------------
    def upload_shards(self, shards: Sequence[tuple[Any, Any]], *, num_classes: int = 10,
                      mock_seed: int = 0, dataset_name: str = "MNIST shard") -> None:
        """Each data owner uploads its shard: real data private, generated mock public.

        Parameters
        ----------
        shards: one ``(images (n, C, H, W) float, labels (n,) int)`` pair per datasite, in the
            order of ``names`` (see :func:`shards_from`). Tensors or numpy arrays.
        num_classes: the label range of the mock labels.
        mock_seed: seeds the mocks (site ``i`` uses ``mock_seed + i``).
        dataset_name: the dataset's name at every site.
        """
        self._require_launched()
        sy = import_syft()
        if len(shards) != len(self.sites):
            raise ValueError(f"Got {len(shards)} shards for {len(self.sites)} datasites {list(self.sites)}.")
        for i, (site, (x, y)) in enumerate(zip(self.sites.values(), shards)):
            site.ensure_up()
            x = np.ascontiguousarray(torch.as_tensor(x).detach().cpu().numpy(), dtype=np.float32)
            y = np.ascontiguousarray(torch.as_tensor(y).detach().cpu().numpy(), dtype=np.int64)
            if x.ndim != 4 or len(x) != len(y) or y.ndim != 1:
                raise ValueError(f"Shard {i} ({site.name}): expected images (n, C, H, W) and labels (n,), "
                                 f"got {x.shape} and {y.shape}.")
            mock_x, mock_y = make_mock(x, y, num_classes=num_classes, seed=mock_seed + i)
            ds = sy.Dataset(name=dataset_name,
                            description=f"{site.name}'s private shard: {len(y)} images {x.shape[1:]} "
                                        f"and labels. The mock is random noise with random labels.")
            ds.add_asset(sy.Asset(name="images", data=x, mock=mock_x))
            ds.add_asset(sy.Asset(name="labels", data=y, mock=mock_y))
            with _quiet(self.quiet):
                _check(site.owner.upload_dataset(ds), f"Uploading {site.name}'s shard")
            site.num_samples, site.image_shape = int(len(y)), tuple(x.shape[1:])

    # -- the data scientist ----------------------------------------------------------------
    def login_scientist(self) -> dict[str, Any]:
        """Each data owner registers the data scientist, who then logs in everywhere.

        Returns ``{site name: the scientist's client}``; also sets each site's ``images`` and
        ``labels`` to the scientist's view of the assets (mock readable, private data not).
        """
        self._require_launched()
        sy = import_syft()
        acct = self.scientist_account
        for site in self.sites.values():
            site.ensure_up()
            if site.scientist is not None:  # already registered and logged in here
                continue
            with _quiet(self.quiet):
                _check(site.owner.register(name=acct.name, email=acct.email, password=acct.password,
                                           password_verify=acct.password, institution=acct.institution),
                       f"Registering the data scientist at {site.name}")
                if site.port is None:
                    client = site.handle.login(email=acct.email, password=acct.password, cache=False)
                else:
                    client = sy.login(url=f"http://{self.host}", port=site.port, email=acct.email,
                                      password=acct.password, cache=False)
            site.scientist = client
            datasets = list(client.datasets.get_all())
            if datasets:
                assets = datasets[-1].assets
                site.images, site.labels = assets["images"], assets["labels"]
        return {name: s.scientist for name, s in self.sites.items()}

    def _require_scientist(self, site: Datasite) -> None:
        if site.scientist is None:
            raise SyftBridgeError("The data scientist is not logged in: call login_scientist() first.")
        if site.images is None:
            raise SyftBridgeError(f"Datasite {site.name!r} has no dataset: call upload_shards() first.")

    def request_training(self, *, max_rounds: int = 100) -> dict[str, Any]:
        """The data scientist asks every site to run :func:`fedsyft_local_train` on its assets.

        One request per site, with a ``sy.MixedInputPolicy``: ``images``/``labels`` must be the
        site's assets, ``weights``/``config`` are dicts the scientist owns and may change every
        round, so one approval covers all rounds.

        Parameters
        ----------
        max_rounds: written into the request as ``OutputPolicyExecuteCount(limit=max_rounds)``
            so the owner sees how many runs are asked for. syft 0.9.5 does **not** enforce it.

        Returns ``{site name: syft Request}``.
        """
        self._require_launched()
        sy = import_syft()
        from syft.service.policy.policy import OutputPolicyExecuteCount

        self.max_rounds = int(max_rounds)
        out = {}
        for site in self.sites.values():
            site.ensure_up()
            self._require_scientist(site)
            policy = sy.MixedInputPolicy(client=site.scientist, images=site.images, labels=site.labels,
                                         weights=dict, config=dict)
            with _quiet(self.quiet):
                fn = sy.syft_function(input_policy=policy,
                                      output_policy=OutputPolicyExecuteCount(limit=self.max_rounds),
                                      name=SITE_FUNCTION)(fedsyft_local_train)
                site.request = _check(site.scientist.code.request_code_execution(fn),
                                      f"Requesting code execution at {site.name}")
            out[site.name] = site.request
        return out

    # -- data owners: review and approve ---------------------------------------------------
    def _owner_request(self, site: Datasite) -> Any:
        with _quiet(self.quiet):
            requests = list(site.owner.requests.get_all())
        mine = [r for r in requests if type(r.code).__name__ == "UserCode"
                and r.code.service_func_name == SITE_FUNCTION]
        if not mine:
            raise SyftBridgeError(f"Datasite {site.name!r} has no request to run {SITE_FUNCTION}: "
                                  f"the data scientist must call request_training() first.")
        return mine[-1]

    def review(self, name: str) -> str:
        """What the data owner of ``name`` sees before approving: who asks, which inputs, which
        output policy, and the exact source that will run on the private data."""
        site = self.site(name)
        site.ensure_up()
        req = self._owner_request(site)
        code = req.code
        assets = {}
        for ds in site.owner.datasets.get_all():
            for asset in ds.asset_list:
                assets[asset.action_id] = f"your asset {ds.name!r}/{asset.name!r}"
        inputs = []
        for rules in (code.input_policy_init_kwargs or {}).values():
            for kw, rule in rules.items():
                if type(rule).__name__ == "Matches":
                    inputs.append(f"{kw} = {assets.get(rule.val, 'an object at this datasite')}")
                elif type(rule).__name__ == "UserOwned":
                    inputs.append(f"{kw} = any {rule.type.__name__} the data scientist sends")
                else:
                    inputs.append(f"{kw} = {type(rule).__name__}")
        policy = getattr(code.output_policy_type, "__name__", str(code.output_policy_type))
        limit = (code.output_policy_init_kwargs or {}).get("limit")
        lines = [
            f"Request to datasite {site.name!r} from {req.requesting_user_name} "
            f"<{req.requesting_user_email}>, status {req.status.name}",
            f"function: {code.service_func_name}",
            f"input policy: {getattr(code.input_policy_type, '__name__', code.input_policy_type)}",
            *[f"  {s}" for s in inputs],
            f"output policy: {policy}" + (f"(limit={limit})  [not enforced by syft 0.9.5]" if limit else ""),
            "code:",
            code.raw_code.rstrip(),
        ]
        return "\n".join(lines)

    def approve(self, names: str | Sequence[str] | None = None) -> None:
        """The data owner(s) of ``names`` (default: every site) approve the training request."""
        self._require_launched()
        names = list(self.sites) if names is None else [names] if isinstance(names, str) else list(names)
        for name in names:
            site = self.site(name)
            site.ensure_up()
            req = self._owner_request(site)
            with _quiet(self.quiet):
                _check(req.approve(disable_warnings=True), f"Approving the request at {name}")

    def prepare(self, shards: Sequence[tuple[Any, Any]], *, approve: bool = True,
                max_rounds: int = 100, **upload_kwargs: Any) -> SyftFederation:
        """The whole handshake in one call: launch (if needed), upload, register and log in the
        scientist, request, and (``approve=True``) approve at every site."""
        if not self.sites:
            self.launch()
        self.upload_shards(shards, **upload_kwargs)
        self.login_scientist()
        self.request_training(max_rounds=max_rounds)
        if approve:
            self.approve()
        return self

    # -- the data scientist: federated averaging -------------------------------------------
    def _status(self, site: Datasite) -> str:
        with contextlib.suppress(Exception), _quiet(self.quiet):
            for r in site.scientist.requests.get_all():
                if r.id == site.request.id:
                    return r.status.name
        return "UNKNOWN"

    def _run_at(self, site: Datasite, weights: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, Any]:
        site.ensure_up()
        self._require_scientist(site)
        if site.request is None:
            raise RequestNotApprovedError(
                f"There is no training request at datasite {site.name!r}: the data scientist must "
                f"call request_training() and its data owner approve it.")
        try:
            with _quiet(self.quiet):
                fn = getattr(site.scientist.code, SITE_FUNCTION)
                result = fn(images=site.images, labels=site.labels, weights=weights, config=config)
                value = result.get() if hasattr(result, "get") and not isinstance(result, dict) else result
        except Exception as exc:
            if isinstance(exc, ConnectionError) or "ConnectionError" in type(exc).__name__:
                site.ensure_up()  # raises DatasiteDownError when the site is gone
            status = self._status(site)
            if status in ("PENDING", "REJECTED"):
                raise self._not_approved(site, status) from exc
            if not site.ping():
                raise DatasiteDownError(f"Datasite {site.name!r} stopped answering during the round.") from exc
            raise SyftBridgeError(f"Training at datasite {site.name!r} failed: {exc}") from exc
        if not isinstance(value, dict) or "weights" not in value:
            status = self._status(site)
            if status in ("PENDING", "REJECTED"):
                raise self._not_approved(site, status)
            raise SyftBridgeError(f"Datasite {site.name!r} returned {value!r} instead of trained weights.")
        if value.get("round") != config["round"]:
            raise SyftBridgeError(
                f"Datasite {site.name!r} returned the result of round {value.get('round')} for round "
                f"{config['round']}: syft served a cached output (its output policy is used up). "
                f"Ask for a new approval with a larger max_rounds.")
        return value

    @staticmethod
    def _not_approved(site: Datasite, status: str) -> RequestNotApprovedError:
        if status == "REJECTED":
            return RequestNotApprovedError(
                f"The data owner of {site.name!r} rejected the training request; nothing runs there. "
                f"Change the code and submit a new request (request_training()).")
        return RequestNotApprovedError(
            f"The training request at datasite {site.name!r} is not approved yet (status {status}). "
            f"Its data owner must review and approve it first: fed.review({site.name!r}) then "
            f"fed.approve({site.name!r}) (in syft: request.approve()).")

    def train_round(self, model: nn.Module, rnd: int, config: FLConfig, test_set: Any = None, *,
                    model_name: str | None = None,
                    aggregator: Callable[..., Mapping[str, torch.Tensor]] | None = None) -> RoundRecord:
        """One FedAvg round across the datasites; updates ``model`` in place.

        Client ``i`` (in the order of ``names``) trains with seed
        ``client_seed(config.seed, rnd, i)``, the aggregation is the one of
        :class:`~fedsyft.fl.FederatedTrainer` (sample-weighted mean of the float updates, then
        ``apply_update``; integer buffers take the largest client value).
        """
        from .fl.loop import client_seed

        self._require_launched()
        if config.algorithm != "fedavg":
            raise ValueError(f"The datasites run FedAvg only, got algorithm={config.algorithm!r}.")
        sites = list(self.sites.values())
        if any(s.image_shape is None for s in sites):
            raise SyftBridgeError("Upload the shards first (upload_shards()).")
        name, model_kwargs = _model_spec(model, model_name, sites[0].image_shape)
        t0 = time.perf_counter()
        chosen = sample_clients(len(sites), config.num_selected, seed=config.seed, rnd=rnd)
        global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        weights = state_to_numpy(global_state)
        down = sum(a.nbytes for a in weights.values())
        results, seconds = [], {}
        for i in chosen:
            site = sites[i]
            site_config = {"model": name, "model_kwargs": model_kwargs, "client": config.client.as_dict(),
                           "seed": int(client_seed(config.seed, rnd, i)), "round": int(rnd)}
            t = time.perf_counter()
            out = self._run_at(site, weights, site_config)
            seconds[site.name] = time.perf_counter() - t
            out["state"] = numpy_to_state(out["weights"])
            out["client"] = site.name
            results.append(out)
        agg_weights = normalize_weights([r["num_samples"] for r in results], config.weighting)
        updates = [state_delta(r["state"], global_state) for r in results]
        agg = (aggregator or WeightedMean())(updates, agg_weights, round=rnd, clients=[r["client"] for r in results])
        new_state = apply_update(global_state, agg, server_lr=config.server_lr)
        new_state.update(max_counters([r["state"] for r in results]))
        model.load_state_dict(new_state)
        acc, loss = float("nan"), float("nan")
        if test_set is not None:
            data, targets = test_set if isinstance(test_set, tuple) else (test_set.data, test_set.targets)
            acc, loss = evaluate(model, data, targets)
        train_loss = float(sum(w * r["loss"] for w, r in zip(agg_weights, results)))
        up = sum(sum(np.asarray(a).nbytes for a in r["weights"].values()) for r in results)
        return RoundRecord(rnd, acc, loss, train_loss, [r["client"] for r in results],
                           bytes_up=int(up), bytes_down=int(down * len(results)),
                           seconds=time.perf_counter() - t0,
                           extra={"site_seconds": seconds, "transport": "http" if self.loopback else "memory"})

    def fit(self, model: nn.Module, config: FLConfig, test_set: Any, *, model_name: str | None = None,
            aggregator: Callable[..., Mapping[str, torch.Tensor]] | None = None,
            progress: bool = False) -> History:
        """Run ``config.rounds`` FedAvg rounds across the datasites; returns a
        :class:`~fedsyft.fl.History` like :meth:`FederatedTrainer.run` does.

        Parameters
        ----------
        model: the global model, one of :mod:`fedsyft.models` (updated in place).
        config: rounds, client settings, seed (as for the virtual-worker run).
        test_set: a dataset with ``.data``/``.targets`` or a ``(data, targets)`` pair.
        model_name: the :func:`fedsyft.models.get_model` name, when the class does not say it.
        aggregator: as in :class:`~fedsyft.fl.FederatedTrainer` (default plain FedAvg).
        progress: print one line per round.

        Raises
        ------
        RequestNotApprovedError: a site's owner has not approved the request.
        DatasiteDownError: a site was landed or does not answer.
        """
        history = History(config={**config.as_dict(), "transport": "http" if self.loopback else "memory",
                                  "datasites": list(self.sites)})
        for rnd in range(1, config.rounds + 1):
            rec = self.train_round(model, rnd, config, test_set, model_name=model_name, aggregator=aggregator)
            history.append(rec)
            if progress:
                print(f"round {rnd:3d}: test accuracy {100 * rec.test_accuracy:.2f}%  "
                      f"loss {rec.test_loss:.4f}  ({rec.seconds:.1f} s)")
        return history

    def __repr__(self) -> str:
        where = "loopback servers" if self.loopback else "in memory"
        sites = ", ".join(repr(s) for s in self.sites.values()) or ", ".join(self.names) + " (not launched)"
        return f"SyftFederation({where}: {sites})"
