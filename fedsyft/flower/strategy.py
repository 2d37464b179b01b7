"""A Flower strategy whose arithmetic is fedsyft's: FedAvg / FedProx over fedsyft clients.

:class:`FedsyftStrategy` is a ``flwr.serverapp.strategy.Strategy``, run by Flower's own
``Strategy.start`` loop. It samples clients with :func:`fedsyft.fl.sample_clients`, sends
the global model to the SuperNodes that hold those partitions, aggregates their replies with
:func:`fedsyft.flower.round.aggregate_round`, which runs fedsyft's one server step
(:func:`fedsyft.fl.server_round`: aggregate, apply, check, evaluate on the server's test set)
and records a :class:`~fedsyft.fl.RoundRecord` per round, as
:class:`~fedsyft.fl.FederatedTrainer` does.

A client that does not answer (its SuperNode died, or the round timed out) or answers with
an error is *lost*: with ``on_client_failure="raise"`` the round fails with
:class:`ClientLostError`, naming it; with ``"continue"`` the round aggregates the others and
its record lists the lost client under ``extra["lost_clients"]``; a lost client is not asked
again in later rounds. This module imports flwr; import it through ``fedsyft.flower``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from logging import INFO
from typing import Any

import torch

from ._env import require_flwr

require_flwr()

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict  # noqa: E402
from flwr.serverapp.strategy import Strategy  # noqa: E402
from flwr.supercore import log  # noqa: E402

from ..fl import Aggregator, History, RoundRecord, WeightedMean, sample_clients  # noqa: E402
from .round import ClientResult, aggregate_round  # noqa: E402
from .task import FlowerTask  # noqa: E402

FAILURE_POLICIES = ("raise", "continue")
PARTITION_KEY = "partition-id"


class ClientLostError(RuntimeError):
    """A selected client did not take part in a round (no reply, or an error reply)."""

    def __init__(self, message: str, *, round: int, lost: dict[str, str]) -> None:
        super().__init__(message)
        self.round = round
        self.lost = lost


class PollingGrid:
    """Flower's Grid, with ``send_and_receive`` polling every ``interval`` seconds.

    Flower's HTTP grid sleeps 3 s between pulls; on one machine that is most of a small
    round. Everything else is delegated to the wrapped grid.
    """

    def __init__(self, grid, interval: float = 0.2) -> None:
        self._grid = grid
        self.interval = interval
        self.extra_timeout = 0.0  # added to the next rounds' timeout (set by the strategy)
        self.destinations: dict[str, int] = {}  # message id -> the node it was sent to

    def __getattr__(self, name: str):
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        messages = list(messages)
        ids = list(self._grid.push_messages(messages))
        # Error replies made by the SuperLink (e.g. "node unavailable") come from the SuperLink's
        # own node id; the message they answer says which node was lost.
        self.destinations = {i: m.metadata.dst_node_id for i, m in zip(ids, messages)}
        pending = set(ids)
        end = None if timeout is None else time.monotonic() + timeout + self.extra_timeout
        replies: list[Message] = []
        while pending:
            got = list(self._grid.pull_messages(pending))
            replies.extend(got)
            pending.difference_update(m.metadata.reply_to_message_id for m in got)
            if not pending or (end is not None and time.monotonic() >= end):
                break
            time.sleep(self.interval)
        return replies


def state_bytes(arrays: ArrayRecord) -> int:
    return int(arrays.count_bytes())


class FedsyftStrategy(Strategy):
    """Sample-weighted FedAvg / FedProx with fedsyft's sampling, seeds and aggregation.

    Parameters
    ----------
    task: the experiment (partition, model, :class:`~fedsyft.fl.FLConfig`).
    initial_state: the global model's starting ``state_dict``.
    on_client_failure: ``"raise"`` (the round fails, naming the lost client) or
        ``"continue"`` (aggregate the clients that answered; the record names the lost ones).
    connect_timeout: seconds to wait for ``task.num_clients`` SuperNodes to connect; the first
        round's replies may also take this much longer than the round timeout (SuperNodes fetch
        and install the app, and start their first ClientApp).
    on_round: called with each :class:`~fedsyft.fl.RoundRecord` as it is made.
    aggregator: an :class:`~fedsyft.fl.Aggregator` (default FedAvg's :class:`~fedsyft.fl.WeightedMean`).

    Example
    -------
    >>> # strategy = FedsyftStrategy(task, initial_state=model.state_dict())
    >>> # strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()),
    >>> #                num_rounds=task.config.rounds, evaluate_fn=strategy.evaluate_global)
    """

    def __init__(self, task: FlowerTask, *, initial_state: Mapping[str, torch.Tensor],
                 on_client_failure: str = "raise", connect_timeout: float = 120.0,
                 on_round: Callable[[RoundRecord], Any] | None = None,
                 aggregator: Aggregator | None = None) -> None:
        if on_client_failure not in FAILURE_POLICIES:
            raise ValueError(f"on_client_failure must be one of {FAILURE_POLICIES}, got {on_client_failure!r}.")
        self.task = task
        self.model = task.build_model()
        self.model.load_state_dict(initial_state)
        self.on_client_failure = on_client_failure
        self.connect_timeout = connect_timeout
        self.on_round = on_round
        self.aggregator = aggregator or WeightedMean()
        self._record: RoundRecord | None = None
        self.history = History(config={**task.config.as_dict(), "engine": "flower"})
        self.node_of: dict[int, int] = {}   # partition-id -> Flower node id
        self.lost: dict[int, str] = {}      # partition-id -> why
        self._sent: dict[int, int | None] = {}  # node id -> partition-id (None: not known yet)
        self._round_info: dict[str, Any] = {}
        self._grid = None
        self._test: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def global_state(self) -> dict[str, torch.Tensor]:
        """The global model's current ``state_dict``."""
        return self.model.state_dict()

    # -- nodes ------------------------------------------------------------------------------
    def _wait_for_nodes(self, grid) -> list[int]:
        need, end = self.task.num_clients, time.monotonic() + self.connect_timeout
        while len(nodes := list(grid.get_node_ids())) < need:
            if time.monotonic() > end:
                raise TimeoutError(f"Only {len(nodes)} of {need} SuperNodes connected within "
                                   f"{self.connect_timeout:.0f} s; start one SuperNode per partition "
                                   f"(partition-id=0..{need - 1}) or wait longer (connect_timeout).")
            time.sleep(0.2)
        return nodes

    def _learn_partitions(self, grid, nodes: list[int]) -> None:
        """Ask every node which partition it holds (one query message each)."""
        msgs = [Message(RecordDict({"config": ConfigRecord({"fedsyft": "partition-id"})}),
                        message_type=MessageType.QUERY, dst_node_id=n) for n in nodes]
        for reply in grid.send_and_receive(msgs, timeout=self.connect_timeout):
            if reply.has_error():
                raise RuntimeError(f"SuperNode {reply.metadata.src_node_id} could not say which partition it "
                                   f"holds: {reply.error.reason}")
            self._record_partition(int(reply.content["metrics"][PARTITION_KEY]), reply.metadata.src_node_id)
        missing = sorted(set(range(self.task.num_clients)) - set(self.node_of))
        if missing:
            raise RuntimeError(f"No SuperNode holds partition(s) {missing}; start one with "
                               f"--node-config \"partition-id={missing[0]} num-partitions={self.task.num_clients}\".")

    def _record_partition(self, pid: int, node: int) -> None:
        if not 0 <= pid < self.task.num_clients:
            raise ValueError(f"SuperNode {node} holds partition-id={pid}, but this run has partitions "
                             f"0..{self.task.num_clients - 1}; restart it with a partition-id in that range.")
        if self.node_of.get(pid, node) != node:
            raise ValueError(f"Two SuperNodes ({self.node_of[pid]} and {node}) both hold partition-id={pid}; "
                             "each SuperNode must be started with its own partition-id.")
        self.node_of[pid] = node

    # -- Strategy ---------------------------------------------------------------------------
    def summary(self) -> None:
        cfg = self.task.config
        log(INFO, "\t├──> fedsyft %s on %d partitions of %s, model %s", cfg.algorithm, self.task.num_clients,
            self.task.dataset, self.task.model)
        log(INFO, "\t└──> clients per round: %s, weighting %s, seed %d",
            cfg.num_selected or "all", cfg.weighting, cfg.seed)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid) -> Iterable[Message]:
        cfg = self.task.config
        self._round_info = {"t0": time.perf_counter()}
        self._grid = grid
        if isinstance(grid, PollingGrid):  # round 1 also waits for SuperNodes to fetch and start the app
            grid.extra_timeout = self.connect_timeout if server_round == 1 else 0.0
        nodes = self._wait_for_nodes(grid) if not self.node_of else None
        chosen = sample_clients(self.task.num_clients, cfg.num_selected, seed=cfg.seed, rnd=server_round)
        skipped = [c for c in chosen if c in self.lost]
        chosen = [c for c in chosen if c not in self.lost]
        if nodes is not None and (cfg.num_selected is not None or len(nodes) != self.task.num_clients):
            self._learn_partitions(grid, nodes)
        if self.node_of:
            self._sent = {self.node_of[c]: c for c in chosen}
        else:  # every client trains: their replies say which partition each node holds
            self._sent = dict.fromkeys(nodes)
        arrays = ArrayRecord({k: v.detach().cpu() for k, v in self.global_state.items()})
        content = RecordDict({"arrays": arrays,
                              "config": ConfigRecord({"server-round": server_round, **dict(config.items())})})
        self._round_info.update(skipped=skipped, bytes_each=state_bytes(arrays))
        return [Message(content=content, message_type=MessageType.TRAIN, dst_node_id=n) for n in self._sent]

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        failed: dict[int, str] = {}  # node -> why
        results: list[ClientResult] = []
        sent_to = getattr(self._grid, "destinations", {})
        for reply in replies:
            node = sent_to.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)
            if reply.has_error():
                failed[node] = f"error reply: {reply.error.reason}"
                continue
            metrics = reply.content["metrics"]
            pid = int(metrics[PARTITION_KEY])
            self._record_partition(pid, node)
            self._sent[node] = pid
            arrays = reply.content["arrays"]
            results.append(ClientResult(pid, dict(arrays.to_torch_state_dict()), int(metrics["num-examples"]),
                                        float(metrics["train_loss"]), int(metrics["steps"]),
                                        extra={"bytes_up": state_bytes(arrays),
                                               "bytes_down": self._round_info["bytes_each"]}))
        answered = {sent_to.get(r.metadata.reply_to_message_id, r.metadata.src_node_id) for r in replies}
        for node in self._sent:
            if node not in answered:
                failed[node] = "no reply before the round timed out (its SuperNode may have died)"
        lost = self._name_lost(failed)
        if lost:
            detail = "; ".join(f"{who}: {why}" for who, why in lost.items())
            log(INFO, "round %d: lost %s", server_round, detail)
            if self.on_client_failure == "raise" or not results:
                why = "on_client_failure='raise'" if self.on_client_failure == "raise" else "no client answered"
                raise ClientLostError(f"Round {server_round} failed ({why}): lost {detail}. "
                                      "Restart that SuperNode, or run with on_client_failure='continue' "
                                      "to go on with the clients that remain.", round=server_round, lost=lost)
        dev = next(iter(self.global_state.values())).device
        for r in results:
            r.state = {k: v.to(dev) for k, v in r.state.items()}
        if self._test is None:
            self._test = self.task.test_data()
        rec, _ = aggregate_round(self.model, results, rnd=server_round, config=self.task.config,
                                 aggregator=self.aggregator, test=self._test)
        rec.seconds = time.perf_counter() - self._round_info["t0"]  # messages and client training too
        if lost:
            rec.extra["lost_clients"] = dict(lost)
        if self._round_info.get("skipped"):
            rec.extra["skipped_lost_clients"] = [f"client{c}" for c in self._round_info["skipped"]]
        self._record = rec
        return (ArrayRecord({k: v.detach().cpu() for k, v in self.global_state.items()}),
                MetricRecord({"train_loss": rec.train_loss}))

    def _name_lost(self, failed: Mapping[int, str]) -> dict[str, str]:
        """Name the lost clients (``client3 (partition-id=3, node ...)``) and remember them."""
        lost: dict[str, str] = {}
        unknown = [n for n in failed if self._sent.get(n) is None]
        for node, why in failed.items():
            pid = self._sent.get(node)
            if pid is not None:
                self.lost[pid] = why
                lost[f"client{pid} (partition-id={pid}, node {node})"] = why
        if unknown:  # first round: these nodes never said which partition they hold
            missing = sorted(set(range(self.task.num_clients)) - set(self.node_of) - set(self.lost))
            for pid in missing:
                self.lost[pid] = failed[unknown[0]]
            names = ", ".join(f"client{p} (partition-id={p})" for p in missing) or "an unknown client"
            lost[f"{names} on node(s) {', '.join(map(str, unknown))}"] = failed[unknown[0]]
        return lost

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid) -> Iterable[Message]:
        return []  # evaluation is centralised, on the server's test set (as in fedsyft's loop)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    # -- server-side evaluation: one RoundRecord per round -----------------------------------
    def evaluate_global(self, server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """``evaluate_fn`` for ``Strategy.start``: record the round (the server step evaluated it)."""
        if server_round == 0 or self._record is None:
            return None
        rec, self._record = self._record, None
        rec.seconds = time.perf_counter() - self._round_info["t0"]
        self.history.append(rec)
        if self.on_round is not None:
            self.on_round(rec)
        return MetricRecord({"accuracy": rec.test_accuracy, "loss": rec.test_loss})
