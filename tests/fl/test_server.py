"""The one server step (fedsyft.fl.server) and the aggregator contract (fedsyft.fl.aggregator)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fedsyft.data import federate
from fedsyft.fl import (
    Aggregator,
    ClientConfig,
    ConfigTypeError,
    DivergedError,
    FederatedTrainer,
    FLConfig,
    WeightedMean,
    client_seed,
    evaluate,
    local_train,
    sample_clients,
    server_round,
)
from fedsyft.workers import ObjectPointer

CFG = FLConfig(rounds=2, client=ClientConfig(batch_size=16, lr=0.1), seed=3)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.LogSoftmax(dim=1))


def _data(n: int = 120, seed: int = 0, nan_rows: slice | None = None) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    if nan_rows is not None:
        x[nan_rows] = float("nan")
    return TensorDataset(x, y)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# -- the aggregator contract ----------------------------------------------------------------
class _Mean(Aggregator):
    name = "mean"

    def __call__(self, updates, weights, *, round=0, clients=None):
        return {k: sum(w * u[k] for u, w in zip(updates, weights)) for k in updates[0]}


class _Counting(_Mean):
    def __init__(self):
        self.calls = 0

    def __call__(self, updates, weights, *, round=0, clients=None):
        self.calls += 1
        return super().__call__(updates, weights, round=round, clients=clients)

    def _state(self):
        return {"calls": self.calls}

    def _load_state(self, state):
        self.calls = int(state["calls"])


def test_aggregator_declares_its_capabilities():
    with pytest.raises(TypeError):
        Aggregator()  # abstract: __call__ must be written
    agg = WeightedMean()
    assert agg.remote_updates is False and agg.last_round_info == {}
    with pytest.raises(NotImplementedError, match=r"WeightedMean aggregates plain updates only.*remote_updates"):
        agg.aggregate_remote([], [], template={})
    assert agg.state_dict() == {"aggregator": "fedsyft.fl.aggregate.WeightedMean"}


def test_capabilities_are_checked_when_the_class_is_written():
    with pytest.raises(TypeError, match="implements aggregate_remote but remote_updates is False.*spelling"):
        class Misspelled(_Mean):
            remote_update = True  # noqa: F841 - the typo under test

            def aggregate_remote(self, updates, weights, *, template, round=0, clients=None):
                return {}
    with pytest.raises(TypeError, match="declares remote_updates = True but does not implement aggregate_remote"):
        class Promise(_Mean):
            remote_updates = True
    with pytest.raises(TypeError, match="remote_updates must be True or False"):
        class Truthy(_Mean):
            remote_updates = 1


def test_state_dict_records_and_checks_its_class():
    a = _Counting()
    a([{"w": torch.ones(1)}], [1.0])
    b = _Counting()
    b.load_state_dict(a.state_dict())
    assert b.calls == 1
    with pytest.raises(ValueError, match=r"saved from .*_Counting, not from .*_Mean"):
        _Mean().load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="keeps no state"):
        WeightedMean().load_state_dict({"calls": 3})


def test_a_plain_function_is_still_accepted_as_aggregator(make_workers):
    seen = []

    def first_only(updates, weights, *, round, clients):
        seen.append(clients)
        return updates[0]

    ws = make_workers(2)
    tr = FederatedTrainer(_model(), federate(_data(), ws), _data(60, seed=1)[:], CFG,
                          aggregator=first_only, progress=False)
    tr.run(rounds=1)
    assert seen == [[w.id for w in ws]]


def test_remote_aggregator_never_receives_a_trained_state(make_workers, monkeypatch):
    """An aggregator declaring remote_updates gets pointers to updates kept at the clients:
    its __call__ is never used and no trained model is fetched; the result is FedAvg's."""
    import fedsyft.fl.loop as loop

    class RemoteMean(_Mean):
        remote_updates = True
        received: list = []

        def __call__(self, updates, weights, *, round=0, clients=None):
            raise AssertionError("the server handed plain client updates to a remote aggregator")

        def aggregate_remote(self, updates, weights, *, template, round=0, clients=None):
            type(self).received.extend(type(u) for u in updates)
            plain = [u.get() for u in updates]  # stand-in for a protocol that reveals only the sum
            assert all(list(p) == list(template) for p in plain)
            return super().__call__(plain, weights)

    ws = make_workers(3)
    plain_model, remote_model = _model(), _model()
    FederatedTrainer(plain_model, federate(_data(), ws), _data(60, seed=1)[:], CFG, progress=False).run()

    def no_fetch(model):
        raise AssertionError("a trained client model was fetched by the server")

    monkeypatch.setattr(loop, "get_module", no_fetch)
    FederatedTrainer(remote_model, federate(_data(), ws), _data(60, seed=1)[:], CFG,
                     aggregator=RemoteMean(), progress=False).run()
    assert RemoteMean.received == [ObjectPointer] * 6
    for k, v in plain_model.state_dict().items():
        assert torch.allclose(v, remote_model.state_dict()[k], atol=1e-6)


# -- the server step with another engine -------------------------------------------------------
def _engine(shards, cfg):
    """A minimal in-process engine: copies of the model train on local tensors."""
    def train_clients(model, clients, rnd, *, remote):
        if remote:
            raise ValueError("this engine cannot keep updates at the clients")
        out = []
        for i in clients:
            local = copy.deepcopy(model)
            stats = local_train(local, *shards[i], cfg.client, seed=client_seed(cfg.seed, rnd, i))
            out.append({**stats, "client": f"c{i}", "state": local.state_dict(), "bytes_up": 10, "bytes_down": 20})
        return out
    return train_clients


def test_server_round_with_an_in_process_engine_matches_the_workers_engine(make_workers):
    ds = _data()
    parts = [torch.arange(i, 120, 4) for i in range(4)]
    shards = [(ds.tensors[0][p], ds.tensors[1][p]) for p in parts]
    cfg = FLConfig(rounds=1, num_selected=2, client=ClientConfig(batch_size=16, lr=0.1), seed=3)
    mine, theirs = _model(), _model()
    rec, results = server_round(mine, _engine(shards, cfg), rnd=1, num_clients=4, config=cfg,
                                aggregator=WeightedMean(), test=_data(60, seed=1).tensors)
    assert rec.clients == [f"c{i}" for i in sample_clients(4, 2, seed=3, rnd=1)] and len(results) == 2
    assert rec.bytes_up == 20 and rec.bytes_down == 40 and 0 <= rec.test_accuracy <= 1
    fds = federate(ds, make_workers(4), partition=[p.numpy() for p in parts])
    FederatedTrainer(theirs, fds, _data(60, seed=1)[:], cfg, progress=False).run()
    assert _same(mine, theirs)  # bit-identical: one server step, two engines


def test_engine_that_cannot_keep_updates_remote_is_refused():
    class Remote(_Mean):
        remote_updates = True

        def aggregate_remote(self, updates, weights, *, template, round=0, clients=None):
            raise AssertionError("never reached: the engine's results are refused first")

    def returns_states(model, clients, rnd, *, remote):
        return [{"client": "c0", "num_samples": 1, "loss": 0.0, "state": model.state_dict()}]

    with pytest.raises(ValueError, match=r"no 'update' pointer.*use an aggregator with remote_updates = False"):
        server_round(_model(), returns_states, rnd=1, num_clients=1, config=CFG, aggregator=Remote())
    with pytest.raises(ValueError, match="returned 1 results for 2 selected"):
        server_round(_model(), returns_states, rnd=1, num_clients=2, config=CFG, aggregator=WeightedMean())
    with pytest.raises(TypeError, match="must be a fedsyft.fl.Aggregator"):
        server_round(_model(), returns_states, rnd=1, num_clients=1, config=CFG, aggregator=lambda *a, **k: {})


# -- non-finite updates and diverged training ---------------------------------------------------
def test_a_nan_client_is_rejected_and_named(make_workers):
    ws = make_workers(3)
    ds = _data(nan_rows=slice(0, 40))  # client 0 holds the first 40 rows (classic split)
    cfg = FLConfig(rounds=4, client=ClientConfig(batch_size=8, lr=0.5), seed=3)
    tr = FederatedTrainer(_model(), federate(ds, ws), _data(60, seed=1)[:], cfg, progress=False)
    before, _ = evaluate(tr.model, *_data(60, seed=1).tensors)
    hist = tr.run()
    for rec in hist.rounds:
        assert rec.extra["rejected_clients"] == [ws[0].id]
        assert rec.clients == [ws[1].id, ws[2].id]
        assert math.isfinite(rec.train_loss) and math.isfinite(rec.test_loss)
    assert hist.final_accuracy > before + 0.1  # the others still train the model
    assert all(bool(torch.isfinite(v).all()) for v in tr.model.state_dict().values())


def test_all_clients_nan_is_a_clear_error_and_the_model_is_kept(make_workers):
    ws = make_workers(2)
    tr = FederatedTrainer(_model(), federate(_data(nan_rows=slice(None)), ws), _data(60, seed=1)[:], CFG,
                          progress=False)
    before = copy.deepcopy(tr.model)
    with pytest.raises(DivergedError, match=rf"Round 1: every client update was non-finite.*{ws[0].id}, {ws[1].id}"):
        tr.run()
    assert _same(before, tr.model) and tr.round == 0 and len(tr.history) == 0


@pytest.mark.parametrize("fl, client, cause", [
    ({}, {"lr": 10.0, "weight_decay": 1e30}, r"weight_decay=1e\+30"),
    ({"server_lr": 1e300}, {}, r"new global model is not finite.*server_lr=1e\+300"),
    ({"algorithm": "fedprox", "mu": 1e30}, {"lr": 1.0}, r"mu=1e\+30"),
])
def test_diverged_training_names_the_round_and_the_cause(make_workers, fl, client, cause):
    ws = make_workers(2)
    cfg = FLConfig(rounds=3, client=ClientConfig(batch_size=16, **client), **fl)
    tr = FederatedTrainer(_model(), federate(_data(), ws), _data(60, seed=1)[:], cfg, progress=False)
    with pytest.raises(DivergedError, match=r"Round \d") as err:
        tr.run()
    assert err.match(cause)
    assert all(bool(torch.isfinite(v).all()) for v in tr.model.state_dict().values())


# -- typed configs ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"num_selected": 2.5}, r"num_selected must be an integer >= 1 or None; got 2\.5"),
    ({"num_selected": True}, "num_selected must be an integer"),
    ({"rounds": 2.0}, "rounds must be an integer >= 1"),
    ({"rounds": "3"}, "rounds must be an integer"),
    ({"seed": -1}, r"seed must be an integer in \[0, "),
    ({"seed": None}, "seed must be an integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"client": None}, "client must be a ClientConfig"),
    ({"client": {"lr": 0.1}}, r"client must be a ClientConfig \(build it with ClientConfig\(\*\*d\)\)"),
    ({"mu": math.inf}, "mu must be a finite number >= 0"),
    ({"mu": math.nan}, "mu must be a finite number"),
    ({"mu": "0.1"}, "mu must be a finite number"),
    ({"server_lr": math.inf}, "server_lr must be a finite number > 0"),
    ({"server_lr": -1.0}, "server_lr must be a finite number > 0"),
    ({"algorithm": None}, "Unknown algorithm None"),
    ({"weighting": 1}, "weighting must be one of"),
])
def test_fl_config_checks_types_and_ranges(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FLConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"max_steps": 2.5}, "max_steps must be an integer >= 1 or None; got 2.5"),
    ({"max_steps": math.nan}, "max_steps must be an integer"),
    ({"max_steps": False}, "max_steps must be an integer"),
    ({"epochs": True}, "epochs must be an integer >= 1"),
    ({"batch_size": 32.0}, "batch_size must be an integer >= 1"),
    ({"lr": math.inf}, "lr must be a finite number > 0"),
    ({"lr": math.nan}, "lr must be a finite number > 0"),
    ({"lr": "0.1"}, "lr must be a finite number > 0"),
    ({"lr": True}, "lr must be a finite number"),
    ({"weight_decay": math.nan}, "weight_decay must be a finite number >= 0"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0"),
    ({"momentum": math.inf}, r"momentum must be a finite number >= 0\.0 and < 1\.0"),
    ({"optimizer": None}, "optimizer must be one of"),
])
def test_client_config_checks_types_and_ranges(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClientConfig(**kwargs)


def test_wrong_types_are_type_errors_too():
    with pytest.raises(TypeError, match="num_selected"):
        FLConfig(num_selected=2.5)
    assert issubclass(ConfigTypeError, TypeError) and issubclass(ConfigTypeError, ValueError)
    # numpy integers and plain ints are fine, as are ints for float settings
    import numpy as np
    assert FLConfig(rounds=np.int64(2), mu=0, server_lr=2).rounds == 2
    assert ClientConfig(lr=1, max_steps=np.int32(3)).max_steps == 3


def test_trainer_arguments_are_named(fds5, mnist_small):
    _, test = mnist_small
    with pytest.raises(TypeError, match="test_set must be a dataset with .data and .targets"):
        FederatedTrainer(_model(), fds5, [1, 2], CFG)
    with pytest.raises(TypeError, match="config must be an FLConfig"):
        FederatedTrainer(_model(), fds5, test, {"rounds": 2})
    with pytest.raises(TypeError, match="progress must be True or False"):
        FederatedTrainer(_model(), fds5, test, CFG, progress="yes")
    with pytest.raises(TypeError, match="aggregator must be an Aggregator or a callable"):
        FederatedTrainer(_model(), fds5, test, CFG, aggregator="fedavg")
    with pytest.raises(TypeError, match="callbacks must be functions"):
        FederatedTrainer(_model(), fds5, test, CFG, callbacks=[1])
