"""The round across datasites: the code each site runs, and the engine that hands the one
server step (:func:`fedsyft.fl.server.server_round`) the sites' trained weights."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..fl.aggregate import as_aggregator, numpy_to_state, state_to_numpy
from ..fl.aggregator import Aggregator
from ..fl.config import FLConfig, client_seed
from ..fl.history import History, RoundRecord
from ..fl.server import server_round
from ..models import MODELS, get_model
from ._plumbing import _quiet
from .errors import SITE_FUNCTION, DatasiteDownError, RequestNotApprovedError, SyftBridgeError
from .sites import Datasite


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


def _registered_name(model: nn.Module) -> str | None:
    """The :data:`fedsyft.models.MODELS` name of ``model``'s architecture (a reverse lookup
    built from the one registry), or ``None`` when its class alone does not say it."""
    for name, entry in MODELS.items():
        spec_cls = getattr(entry, "cls", entry)  # a ModelSpec, or a class (older registry)
        options = getattr(entry, "options", {}) or {}
        if isinstance(spec_cls, type) and type(model) is spec_cls and \
                all(getattr(model, k, None) == v for k, v in options.items()):
            return name
    return None


def _model_spec(model: nn.Module, model_name: str | None, image_shape: tuple[int, ...]) -> tuple[str, dict]:
    """How a site rebuilds ``model``: a name from :mod:`fedsyft.models` and its keyword arguments."""
    name = model_name or _registered_name(model)
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


class RoundMixin:
    """The federated-averaging part of :class:`~fedsyft.syft_bridge.SyftFederation`."""

    sites: dict[str, Datasite]
    quiet: bool
    loopback: bool

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

    def _engine(self, model_spec: tuple[str, dict[str, Any]], config: FLConfig):
        """The engine of :func:`~fedsyft.fl.server.server_round`: each selected site trains the
        global weights on its private shard and returns its trained weights."""
        name, model_kwargs = model_spec
        sites = list(self.sites.values())

        def train_sites(model: nn.Module, clients: Sequence[int], rnd: int, *,
                        remote: bool) -> list[dict[str, Any]]:
            if remote:
                raise SyftBridgeError(
                    "This aggregator keeps updates at the clients (remote_updates = True), but a "
                    "datasite returns its trained weights to the data scientist: use an aggregator "
                    "of plain updates (WeightedMean, DPFedAvgAggregator) across datasites.")
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            weights = state_to_numpy(model.state_dict())
            down = sum(a.nbytes for a in weights.values())
            results = []
            for i in clients:
                site = sites[i]
                site_config = {"model": name, "model_kwargs": model_kwargs, "client": config.client.as_dict(),
                               "seed": int(client_seed(config.seed, rnd, i)), "round": int(rnd)}
                t = time.perf_counter()
                out = self._run_at(site, weights, site_config)
                results.append({
                    "client": site.name, "num_samples": out["num_samples"], "loss": out["loss"],
                    "steps": out["steps"], "seconds": time.perf_counter() - t,
                    "state": {k: v.to(device) for k, v in numpy_to_state(out["weights"]).items()},
                    "bytes_down": int(down),
                    "bytes_up": int(sum(np.asarray(a).nbytes for a in out["weights"].values())),
                })
            return results

        return train_sites

    def train_round(self, model: nn.Module, rnd: int, config: FLConfig, test_set: Any = None, *,
                    model_name: str | None = None,
                    aggregator: Aggregator | Callable[..., Mapping[str, torch.Tensor]] | None = None) -> RoundRecord:
        """One FedAvg round across the datasites; updates ``model`` in place.

        The server side is :func:`fedsyft.fl.server.server_round`, the one used by
        :class:`~fedsyft.fl.FederatedTrainer`: client ``i`` (in the order of ``names``) trains
        with seed ``client_seed(config.seed, rnd, i)``; the aggregate is the sample-weighted
        mean of the float updates, applied with ``server_lr``; integer buffers take the
        largest client value; non-finite updates are rejected and named.
        """
        self._require_launched()
        if config.algorithm != "fedavg":
            raise ValueError(f"The datasites run FedAvg only, got algorithm={config.algorithm!r}.")
        sites = list(self.sites.values())
        if any(s.image_shape is None for s in sites):
            raise SyftBridgeError("Upload the shards first (upload_shards()).")
        image_shape = sites[0].image_shape
        assert image_shape is not None
        spec = _model_spec(model, model_name, image_shape)
        test = None
        if test_set is not None:
            test = test_set if isinstance(test_set, tuple) else (test_set.data, test_set.targets)
        rec, results = server_round(model, self._engine(spec, config), rnd=rnd, num_clients=len(sites),
                                    config=config, aggregator=as_aggregator(aggregator), test=test)
        rec.extra.update({"site_seconds": {r["client"]: r["seconds"] for r in results},
                          "transport": "http" if self.loopback else "memory"})
        return rec

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

