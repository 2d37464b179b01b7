"""Flower's simulation engine: every SuperNode a virtual one, its ClientApp run by Ray.

:func:`run_simulation` calls ``flwr.simulation.run_simulation`` (the Python entry point of
flwr 1.41's Simulation Runtime) with the ServerApp and ClientApp of
:mod:`fedsyft.flower.apps`. The ServerApp runs in a thread of this process, so the history and
the final global state come straight back; the ClientApps run in Ray actors (worker
processes), ``cpus_per_client`` CPUs each out of the ``num_cpus`` that Ray may use. Ray is shut
down when the run ends, and its session files live in a temporary folder that is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..fl import RoundRecord
from ._env import require_flwr, require_ray
from .result import FlowerResult
from .task import FlowerTask


def run_simulation(task: FlowerTask, *, initial_state: Mapping[str, torch.Tensor] | None = None,
                   num_cpus: int = 2, cpus_per_client: float = 1, object_store_mb: int = 256,
                   on_client_failure: str = "raise", round_timeout: float = 600.0,
                   on_round: Callable[[RoundRecord], Any] | None = None, verbose: bool = False) -> FlowerResult:
    """Run ``task`` on Flower's simulation engine (Ray backend); one virtual SuperNode per client.

    Parameters
    ----------
    task: the experiment; client ``i`` is the virtual SuperNode with ``partition-id=i``.
    initial_state: the global model's start (default: ``task.build_model()``, as the CLI does).
    num_cpus: CPUs Ray may use in all; ``cpus_per_client``: CPUs each ClientApp actor takes
        (so ``num_cpus // cpus_per_client`` clients train at once).
    object_store_mb: Ray's shared-memory object store (models travel through it).
    on_client_failure: ``"raise"`` or ``"continue"`` (see :class:`~fedsyft.flower.strategy.FedsyftStrategy`).
    on_round: called with each round's record (e.g. to print the accuracy).
    verbose: show Flower's and Ray's INFO logs.

    Example
    -------
    >>> # result = run_simulation(FlowerTask(parts, FLConfig(rounds=2), model="simple_cnn"))
    >>> # result.history.accuracies, result.state
    """
    require_flwr("Flower's simulation engine")
    require_ray()
    from flwr.simulation import run_simulation as flwr_run_simulation

    from .apps import make_client_app, make_server_app

    sink: dict[str, Any] = {}
    server = make_server_app(task, initial_state=initial_state, on_client_failure=on_client_failure,
                             round_timeout=round_timeout, on_round=on_round, sink=sink)
    client = make_client_app(task)
    ray_tmp = tempfile.mkdtemp(prefix="fsray-")
    backend_config = {
        "client_resources": {"num_cpus": cpus_per_client, "num_gpus": 0.0},
        "init_args": {"num_cpus": num_cpus, "num_gpus": 0, "include_dashboard": False,
                      "object_store_memory": object_store_mb * 1024 * 1024, "_temp_dir": ray_tmp,
                      "log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR},
    }
    flwr_logger = logging.getLogger("flwr")
    old_level, old_pythonpath = flwr_logger.level, os.environ.get("PYTHONPATH")
    if not verbose:
        flwr_logger.setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        for attempt in (1, 2):
            try:
                flwr_run_simulation(server_app=server, client_app=client, num_supernodes=task.num_clients,
                                    backend_name="ray", backend_config=backend_config, verbose_logging=verbose)
                break
            except RuntimeError as exc:
                if not _ray_start_timed_out(exc) or "history" in sink:
                    raise
                _shutdown_ray()
                if attempt == 2:
                    raise RuntimeError("Ray could not start its local node within its 30 s limit, twice: this "
                                       "machine is too busy. Close other programs, lower num_cpus, or use "
                                       "the deployment engine.") from exc
    finally:
        flwr_logger.setLevel(old_level)
        _shutdown_ray()
        # Flower's Ray backend widens this process's PYTHONPATH for its workers; put it back.
        if old_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_pythonpath
        shutil.rmtree(ray_tmp, ignore_errors=True)
    if "history" not in sink:
        raise RuntimeError("Flower's simulation ended without a result from the ServerApp; "
                           "rerun with verbose=True to see Flower's and Ray's logs.")
    return FlowerResult(sink["history"], sink["state"], "simulation", time.perf_counter() - t0,
                        info={"num_cpus": num_cpus, "cpus_per_client": cpus_per_client,
                              "num_supernodes": task.num_clients})


def _ray_start_timed_out(exc: BaseException | None) -> bool:
    """Ray gives its raylet 30 s to start; on a busy machine it may not make it."""
    while exc is not None:
        if "timed out during startup" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _shutdown_ray() -> None:
    try:
        import ray
    except ImportError:  # pragma: no cover - require_ray checked it
        return
    if ray.is_initialized():
        ray.shutdown()
