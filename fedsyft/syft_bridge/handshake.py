"""The owner/scientist handshake: data owners upload their shards (private data, generated
mock), register the data scientist, who requests to run :func:`fedsyft_local_train` at every
site; each data owner reviews the request and approves it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._plumbing import _check, _quiet
from .errors import SITE_FUNCTION, SyftBridgeError, import_syft
from .round import fedsyft_local_train
from .sites import Datasite


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


@dataclass
class Scientist:
    """The data scientist's account (registered by each data owner; not an admin)."""

    name: str = "Dana Scientist"
    email: str = "dana@fedsyft.example"
    password: str = "fedsyft-0.9.5"
    institution: str = "fedsyft tutorial"



class HandshakeMixin:
    """The handshake part of :class:`~fedsyft.syft_bridge.SyftFederation`."""

    sites: dict[str, Datasite]
    quiet: bool
    host: str
    scientist_account: Scientist
    max_rounds: int | None

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
                max_rounds: int = 100, **upload_kwargs: Any) -> Any:
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

