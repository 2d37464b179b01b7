"""The batched backend as an engine of the server round: workers' shards read in place,
per-client results equal to local_train's, computed traffic, updates placed at the workers
for remote aggregators, SCAFFOLD controls, and the auto choice with its reason."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fedsyft.fl import ClientConfig, FLConfig, client_seed, local_train
from fedsyft.fl.batched.backend import BatchedBackend, choose_backend, shard_tensors
from fedsyft.models import McMahan2NN
from fedsyft.workers import nbytes_of


def _rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _traffic(fds):
    return [(s.worker.traffic.bytes_in, s.worker.traffic.bytes_out) for s in fds]


def test_backend_equals_local_train_at_the_workers(fds5):
    torch.manual_seed(0)
    model = McMahan2NN()
    cfg = FLConfig(seed=3, client=ClientConfig(batch_size=32, lr=0.05, momentum=0.9, max_steps=4))
    shards = list(fds5)
    before = _traffic(shards)
    backend = BatchedBackend(model, shards, cfg)
    out = backend(model, [1, 3], 2, remote=False)
    assert _traffic(shards) == before  # nothing travelled: the data were read in place
    assert [r["client"] for r in out] == [shards[1].worker.id, shards[3].worker.id]
    for r, c in zip(out, [1, 3]):
        local = copy.deepcopy(model)
        ref = local_train(local, *shard_tensors(shards[c]), cfg.client, seed=client_seed(3, 2, c))
        assert r["steps"] == ref["steps"] == 4 and r["num_samples"] == 200
        for k, v in local.state_dict().items():
            assert _rel(r["state"][k], v) < 1e-4
        assert r["bytes_computed"] is True
        model_bytes = nbytes_of(list(model.state_dict().values()))
        assert r["bytes_down"] == model_bytes
        assert r["bytes_up"] == model_bytes + nbytes_of({k: r[k] for k in ("num_samples", "loss", "steps")})


def test_remote_aggregators_get_updates_at_the_workers(fds5):
    torch.manual_seed(0)
    model = McMahan2NN()
    cfg = FLConfig(client=ClientConfig(batch_size=50, max_steps=2))
    shards = list(fds5)
    out = BatchedBackend(model, shards, cfg)(model, [0, 4], 1, remote=True)
    plain = BatchedBackend(model, shards, cfg)(model, [0, 4], 1, remote=False)
    for r, p, c in zip(out, plain, [0, 4]):
        assert r["update"].location is shards[c].worker and r["finite"] is True
        assert r["state"] == {}  # McMahan2NN has no integer buffers; no float entry leaves
        update = shards[c].worker.get_obj(r["update"].id_at_location)
        for k, v in model.state_dict().items():
            assert torch.allclose(update[k], p["state"][k] - v, atol=1e-6)


def test_scaffold_controls_come_from_the_provider(fds5):
    torch.manual_seed(0)
    model = McMahan2NN()
    cfg = FLConfig(algorithm="scaffold", client=ClientConfig(batch_size=50, lr=0.05))
    shards = list(fds5)
    c_global = {k: 0.01 * torch.ones_like(p) for k, p in model.named_parameters()}
    c_i = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    asked = []

    def controls(clients):
        asked.append(list(clients))
        return c_global, [c_i for _ in clients]

    with pytest.raises(ValueError, match="SCAFFOLD needs controls"):
        BatchedBackend(model, shards, cfg)
    out = BatchedBackend(model, shards, cfg, controls=controls)(model, [2], 1, remote=False)
    assert asked == [[2]]
    local = copy.deepcopy(model)
    ref = local_train(local, *shard_tensors(shards[2]), cfg.client, seed=client_seed(0, 1, 2),
                      control=(c_global, c_i))
    for k, v in ref["control_delta"].items():
        assert _rel(out[0]["control_delta"][k], v) < 1e-4
    assert out[0]["bytes_down"] == nbytes_of(list(model.state_dict().values())) + nbytes_of((c_global, c_i))


def test_auto_says_which_backend_and_why(fds5):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            h = self.fc(x.flatten(1))
            return F.log_softmax(h * 2 if h.sum() > 0 else h, dim=1)

    shards = list(fds5)
    name, reason = choose_backend(Branchy(), shards, ClientConfig(batch_size=10))
    assert name == "workers" and "cannot be trained per client" in reason
    name, reason = choose_backend(McMahan2NN(), shards, ClientConfig(batch_size=10), repeats=1)
    assert name in ("workers", "batched") and reason.startswith(name) and "probe of 5 clients" in reason


# -- FederatedTrainer(backend=...) ------------------------------------------------------------
from fedsyft.fl import FederatedTrainer  # noqa: E402
from fedsyft.privacy import DPFedAvgAggregator, SecureAggregator  # noqa: E402


def _run(fds, test, cfg, backend, aggregator=None, model=None, **kw):
    torch.manual_seed(0)
    model = model or McMahan2NN()
    trainer = FederatedTrainer(model, fds, test, cfg, aggregator=aggregator, progress=False,
                               device="cpu", backend=backend, **kw)
    trainer.run()
    return trainer


@pytest.mark.parametrize("algorithm", ["fedavg", "fedprox", "scaffold"])
def test_trainer_batched_equals_workers(fds5, mnist_small, algorithm):
    _, test = mnist_small
    cfg = FLConfig(rounds=2, num_selected=3, algorithm=algorithm, mu=0.1, seed=4,
                   client=ClientConfig(batch_size=32, lr=0.05, momentum=0.9, max_steps=5))
    w = _run(fds5, test, cfg, "workers")
    b = _run(fds5, test, cfg, "batched")
    assert b.backend == "batched" and w.backend == "workers"
    for k, v in w.model.state_dict().items():
        assert _rel(b.model.state_dict()[k], v) < 1e-4, k
    for rw, rb in zip(w.history.rounds, b.history.rounds):
        assert rb.clients == rw.clients
        assert rb.train_loss == pytest.approx(rw.train_loss, rel=1e-4)
        assert rb.test_accuracy == pytest.approx(rw.test_accuracy, abs=0.005)
        assert rb.extra["bytes_computed"] is True and "bytes_computed" not in rw.extra
        # computed: tensors, controls and statistics; counted: the same plus small arguments
        assert abs(rb.bytes_down - rw.bytes_down) <= 0.001 * rw.bytes_down
        assert abs(rb.bytes_up - rw.bytes_up) <= 0.001 * rw.bytes_up
    if algorithm == "scaffold":
        for cid, c in w.c_clients.items():
            for k in c:
                assert _rel(b.c_clients[cid][k], c[k]) < 1e-3


@pytest.mark.parametrize("make_agg", [
    lambda: SecureAggregator(),
    pytest.param(lambda: DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=0.5, sample_rate=0.6, seed=0),
                 marks=pytest.mark.slow)], ids=["secure", "dp"])
def test_trainer_batched_with_privacy_aggregators(fds5, mnist_small, make_agg):
    _, test = mnist_small
    cfg = FLConfig(rounds=2, num_selected=3, seed=1, client=ClientConfig(batch_size=50, lr=0.05, max_steps=3))
    w = _run(fds5, test, cfg, "workers", aggregator=make_agg())
    b = _run(fds5, test, cfg, "batched", aggregator=make_agg())
    for k, v in w.model.state_dict().items():
        assert _rel(b.model.state_dict()[k], v) < 1e-4, k
    assert set(b.history.rounds[-1].extra) >= set(w.history.rounds[-1].extra)


def test_trainer_backend_choices_say_why(fds5, mnist_small):
    _, test = mnist_small
    cfg = FLConfig(rounds=1, client=ClientConfig(batch_size=50, max_steps=2))

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            h = self.fc(x.flatten(1))
            return F.log_softmax(h * 2 if h.sum() > 0 else h, dim=1)

    with pytest.warns(RuntimeWarning, match="cannot be trained per client"):
        t = _run(fds5, test, cfg, "batched", model=Branchy())
    assert t.backend == "workers" and "backend='workers'" in t.backend_reason
    t = _run(fds5, test, cfg, "auto")
    assert t.backend in ("workers", "batched") and t.backend_reason.startswith(t.backend)
    assert "probe of 5 clients" in t.backend_reason

    def my_train(model, data, targets, config, **kw):
        return local_train(model, data, targets, config, **kw)

    with pytest.raises(ValueError, match="use backend='workers'"):
        FederatedTrainer(McMahan2NN(), fds5, test, cfg, local_train_fn=my_train, backend="batched",
                         progress=False, device="cpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        FederatedTrainer(McMahan2NN(), fds5, test, cfg, backend="fast", progress=False, device="cpu")
    with pytest.raises(TypeError, match="compile must be True or False"):
        FederatedTrainer(McMahan2NN(), fds5, test, cfg, backend="batched", compile="yes", progress=False,
                         device="cpu")
    t = FederatedTrainer(McMahan2NN(), fds5, test, cfg, backend="batched", compile=True, progress=False,
                         device="cpu")
    assert t.backend == "batched" and t._batched is not None and t._batched.engine._compiled is not None
