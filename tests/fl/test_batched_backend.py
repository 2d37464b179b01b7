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
        assert r["bytes_down"] == r["bytes_up"] == nbytes_of(dict(model.state_dict()))


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
    params = sum(nbytes_of(p) for p in model.parameters())
    assert out[0]["bytes_down"] == nbytes_of(dict(model.state_dict())) + 2 * params


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
