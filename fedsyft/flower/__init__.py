"""A bridge to Flower: the same partitions, models and ``local_train``, on Flower's engines.

fedsyft's virtual workers all live in one Python process. Flower runs the same clients as
separate processes: in its **simulation engine** (virtual SuperNodes whose ClientApps run in
Ray workers) and in its **deployment engine** (a SuperLink and one SuperNode per client, each
a process that could run on another machine). fedsyft.flower builds the Flower ClientApp and
ServerApp from a fedsyft experiment, so that with the same seeds the final global model is the
one :class:`~fedsyft.fl.FederatedTrainer` computes.

``import fedsyft.flower`` does not import ``flwr``; running an engine does, and says how to
install it (``pip install "flwr[simulation]==1.41.*"``) if it is missing.

Example
-------
>>> import fedsyft.flower as ff
>>> ff.FlowerTask.__name__
'FlowerTask'
>>> # result = ff.run_simulation(task)                     # Flower simulation (Ray)
>>> # with ff.LocalFederation(3) as fed: result = fed.run(task)   # SuperLink + 3 SuperNodes
"""

from __future__ import annotations

from typing import Any

from ._env import INSTALL_HINT, require_flwr
from .deployment import LocalFederation, PortInUseError, run_deployment
from .result import FlowerResult
from .round import ClientResult, aggregate_round, train_client
from .simulation import run_simulation
from .task import FLOWER_ALGORITHMS, FlowerTask

_FLWR_NAMES = {  # importing these imports flwr
    "FedsyftStrategy": "strategy", "ClientLostError": "strategy", "PollingGrid": "strategy",
    "make_client_app": "apps", "make_server_app": "apps",
}


def __getattr__(name: str) -> Any:
    if name in _FLWR_NAMES:
        import importlib

        module = importlib.import_module(f".{_FLWR_NAMES[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FlowerTask", "FlowerResult", "FLOWER_ALGORITHMS", "run_simulation", "run_deployment", "LocalFederation",
    "PortInUseError", "aggregate_round", "train_client", "ClientResult", "require_flwr", "INSTALL_HINT",
    *_FLWR_NAMES,
]
