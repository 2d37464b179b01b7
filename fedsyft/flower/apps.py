"""Flower's ClientApp and ServerApp for a fedsyft experiment (this module imports flwr).

The same two apps run on Flower's simulation engine (:func:`fedsyft.flower.run_simulation`)
and on its deployment engine (a SuperLink and SuperNodes, :mod:`fedsyft.flower.deployment`).
Given a :class:`~fedsyft.flower.task.FlowerTask` they use it; built without one (as the app
bundle that ``flwr run`` ships to a SuperLink is), they read it from Flower's run config,
key ``fedsyft-task``, so one app serves any experiment.

The ClientApp trains with :func:`fedsyft.fl.local_train` on the shard of the partition its
SuperNode was started with (``--node-config "partition-id=i num-partitions=N"``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ._env import require_flwr

require_flwr()

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402

from ..fl import RoundRecord  # noqa: E402
from .round import train_client  # noqa: E402
from .strategy import PARTITION_KEY, FedsyftStrategy, PollingGrid  # noqa: E402
from .task import FlowerTask  # noqa: E402

#: Run-config keys (declared, with defaults, in the app bundle's pyproject.toml).
RUN_CONFIG = {
    "fedsyft-task": "",            # FlowerTask.to_json()
    "fedsyft-out": "",             # folder where the ServerApp writes history.json, final_state.pt
    "fedsyft-init": "",            # optional initial state_dict (torch.save'd tensors)
    "fedsyft-on-failure": "raise",
    "fedsyft-round-timeout": 600.0,
    "fedsyft-connect-timeout": 120.0,
}


@lru_cache(maxsize=4)
def _task_from_json(text: str) -> FlowerTask:
    return FlowerTask.from_json(text)


def task_from_context(context: Context) -> FlowerTask:
    text = context.run_config.get("fedsyft-task", "")
    if not text:
        raise ValueError("This Flower app needs the experiment in its run config (key 'fedsyft-task'); "
                         "start it with fedsyft.flower (python -m fedsyft flower ...), which sets it.")
    return _task_from_json(str(text))


def partition_id(context: Context) -> int:
    if PARTITION_KEY not in context.node_config:
        raise ValueError("This SuperNode has no partition-id; start it with "
                         "--node-config \"partition-id=K num-partitions=N\".")
    return int(context.node_config[PARTITION_KEY])


def make_client_app(task: FlowerTask | None = None) -> ClientApp:
    """A ClientApp that trains the global model on its SuperNode's partition with fedsyft's
    :func:`~fedsyft.fl.local_train` (seeded with :func:`~fedsyft.fl.client_seed`)."""
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        t = task or task_from_context(context)
        t.use_threads()  # this is the client's own process (a Ray actor, or a SuperNode's ClientApp)
        pid = partition_id(context)
        state = msg.content["arrays"].to_torch_state_dict()
        res = train_client(t, pid, int(msg.content["config"]["server-round"]), state)
        content = RecordDict({
            "arrays": ArrayRecord({k: v.detach().cpu() for k, v in res.state.items()}),
            "metrics": MetricRecord({"num-examples": res.num_samples, "train_loss": res.loss,
                                     "steps": res.steps, PARTITION_KEY: pid}),
        })
        return Message(content=content, reply_to=msg)

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        t = task or task_from_context(context)
        pid = partition_id(context)
        n = len(t.partition[pid]) if 0 <= pid < t.num_clients else -1
        return Message(RecordDict({"metrics": MetricRecord({PARTITION_KEY: pid, "num-examples": n})}), reply_to=msg)

    return app


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def make_server_app(task: FlowerTask | None = None, *, initial_state: Mapping[str, torch.Tensor] | None = None,
                    on_client_failure: str | None = None, round_timeout: float | None = None,
                    connect_timeout: float | None = None, on_round: Callable[[RoundRecord], Any] | None = None,
                    sink: dict[str, Any] | None = None) -> ServerApp:
    """A ServerApp that runs :class:`~fedsyft.flower.strategy.FedsyftStrategy` with Flower's
    ``Strategy.start`` for ``config.rounds`` rounds.

    Settings left ``None`` are read from the run config (see :data:`RUN_CONFIG`). After the run,
    ``sink`` (if given) holds ``history`` and ``state`` (the final global ``state_dict``); with a
    run-config ``fedsyft-out`` folder, the ServerApp also writes ``history.json`` (after every
    round), ``final_state.pt`` and ``status.json`` there.
    """
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        rc = context.run_config
        t = task or task_from_context(context)
        if task is None:  # a ServerApp process of its own (deployment): evaluate as the clients train
            t.use_threads()
        out = Path(str(rc["fedsyft-out"])) if rc.get("fedsyft-out") else None
        if initial_state is not None:
            init = dict(initial_state)
        elif rc.get("fedsyft-init"):
            init = torch.load(str(rc["fedsyft-init"]), weights_only=True, map_location=t.torch_device())
        else:
            init = t.build_model().state_dict()

        def record(rec: RoundRecord) -> None:
            if out is not None:
                _write_json(out / "history.json", strategy.history.to_dict())
            if on_round is not None:
                on_round(rec)

        strategy = FedsyftStrategy(
            t, initial_state=init,
            on_client_failure=on_client_failure or str(rc.get("fedsyft-on-failure", "raise")),
            connect_timeout=float(connect_timeout or rc.get("fedsyft-connect-timeout", 120.0)),
            on_round=record)
        if sink is not None:
            sink["strategy"] = strategy
        t0 = time.perf_counter()
        try:
            strategy.start(grid=PollingGrid(grid), initial_arrays=ArrayRecord(
                {k: v.detach().cpu() for k, v in init.items()}), num_rounds=t.config.rounds,
                timeout=float(round_timeout or rc.get("fedsyft-round-timeout", 600.0)),
                evaluate_fn=strategy.evaluate_global)
        except Exception as exc:
            if out is not None:
                _write_json(out / "status.json", {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                                  "rounds": len(strategy.history), "pid": os.getpid()})
            raise
        if sink is not None:
            sink.update(history=strategy.history, state=strategy.global_state)
        if out is not None:
            torch.save({k: v.detach().cpu() for k, v in strategy.global_state.items()}, out / "final_state.pt")
            _write_json(out / "status.json", {"status": "completed", "rounds": len(strategy.history),
                                              "seconds": time.perf_counter() - t0, "pid": os.getpid()})

    return app
