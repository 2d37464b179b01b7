"""The batched engine trains every client exactly as local_train does (within 1e-4 relative).

Each case runs ``local_train`` on a copy of the model per client and
``train_clients_batched`` on all clients at once, from the same seeds, and compares every
entry of every client's trained state, the mean training loss, the step count and (SCAFFOLD)
the control-variate change. Real MNIST samples; equal and unequal shards (one empty, short
last batches), max_steps, plain SGD, momentum + weight decay, Adam, FedProx, SCAFFOLD,
with and without batch norm.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fedsyft.data import MNIST
from fedsyft.fl.batched import DataPool, NotBatchableError, train_clients_batched
from fedsyft.fl.client import ClientConfig, local_train
from fedsyft.models import McMahan2NN, SimpleCNN

RTOL = 1e-4


class SmallBN(nn.Module):
    """conv (no bias: batch norm would cancel it) -> batch norm -> relu -> pool -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)), dim=1)


MODELS = {"simple_cnn": SimpleCNN, "mcmahan_2nn": McMahan2NN, "small_bn": SmallBN}
SHARDS = {"equal": [48, 48, 48], "unequal": [50, 23, 0, 37]}
SETUPS = {  # (config, prox_mu, scaffold)
    "fedavg_sgd": (ClientConfig(epochs=2, batch_size=16, lr=0.05), 0.0, False),
    "fedavg_momentum_wd_max_steps": (ClientConfig(epochs=2, batch_size=16, lr=0.02, momentum=0.9,
                                                  weight_decay=1e-3, max_steps=5), 0.0, False),
    "fedavg_adam": (ClientConfig(epochs=2, batch_size=16, lr=0.003, optimizer="adam",
                                 weight_decay=1e-4), 0.0, False),
    "fedprox": (ClientConfig(epochs=2, batch_size=16, lr=0.02, momentum=0.9), 0.1, False),
    "scaffold": (ClientConfig(epochs=2, batch_size=16, lr=0.02, momentum=0.9), 0.0, True),
}


@pytest.fixture(scope="module")
def mnist_rows():
    rng = np.random.default_rng(1)
    train = MNIST("train")
    rows = np.sort(rng.permutation(len(train))[:300])
    sub = train.subset(rows)
    return torch.as_tensor(sub.data).float(), torch.as_tensor(sub.targets).long()


def _shards(mnist_rows, sizes):
    x, y = mnist_rows
    out, o = [], 0
    for n in sizes:
        out.append((x[o:o + n], y[o:o + n]))
        o += n
    return out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _controls(model, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    rand = {n: p for n, p in model.named_parameters()}
    c_global = {n: 0.01 * torch.randn(p.shape, generator=g) for n, p in rand.items()}
    c_clients = [{n: 0.01 * torch.randn(p.shape, generator=g) for n, p in rand.items()} for _ in range(k)]
    return c_global, c_clients


def _assert_same_as_local_train(model, shards, config, seeds, prox_mu=0.0, controls=None, fixed=(), **kwargs):
    batched = train_clients_batched(model, shards, config, seeds=seeds, prox_mu=prox_mu,
                                    controls=controls, **kwargs)
    assert len(batched) == len(shards)
    start = model.state_dict()
    for i, (data, targets) in enumerate(shards):
        local = copy.deepcopy(model)
        ctrl = None if controls is None else (controls[0], controls[1][i])
        ref = local_train(local, data, targets, config, seed=seeds[i], prox_mu=prox_mu, control=ctrl)
        got = batched[i]
        assert got["num_samples"] == ref["num_samples"] == len(targets)
        assert got["steps"] == ref["steps"]
        if ref["steps"] == 0:
            assert np.isnan(got["loss"]) and np.isnan(ref["loss"])
        else:
            assert abs(got["loss"] - ref["loss"]) <= RTOL * abs(ref["loss"])
        ref_state = local.state_dict()
        assert list(got["state"]) == list(ref_state)
        for key, v in ref_state.items():
            if torch.is_floating_point(v):
                assert _rel(got["state"][key], v) < RTOL, (i, key, _rel(got["state"][key], v))
            else:
                assert torch.equal(got["state"][key], v), (i, key)
            if ref["steps"] and key.endswith("weight") and key not in fixed:  # training moved it (so the test can fail)
                assert not torch.equal(v, start[key])
        assert ("control_delta" in got) == ("control_delta" in ref)
        for key, v in ref.get("control_delta", {}).items():
            assert _rel(got["control_delta"][key], v) < RTOL, (i, key)
    return batched


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("shards", list(SHARDS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_batched_equals_local_train(mnist_rows, model_name, shards, setup):
    config, prox_mu, scaffold = SETUPS[setup]
    torch.manual_seed(0)
    model = MODELS[model_name]()
    sizes = SHARDS[shards]
    controls = _controls(model, len(sizes)) if scaffold else None
    seeds = [1000 + 7 * i for i in range(len(sizes))]
    _assert_same_as_local_train(model, _shards(mnist_rows, sizes), config, seeds,
                                prox_mu=prox_mu, controls=controls)


@pytest.mark.parametrize("model_name", ["simple_cnn", "small_bn"])
def test_plain_vmap_convolution_path(mnist_rows, model_name):
    """fast_conv=False: torch.func's own convolution rule (the path used on CUDA)."""
    config, _, _ = SETUPS["fedavg_momentum_wd_max_steps"]
    torch.manual_seed(0)
    _assert_same_as_local_train(MODELS[model_name](), _shards(mnist_rows, SHARDS["unequal"]), config,
                                [5, 6, 7, 8], fast_conv=False)


def test_batch_norm_buffers_are_per_client(mnist_rows):
    torch.manual_seed(0)
    model = SmallBN()
    shards = _shards(mnist_rows, [40, 40])
    out = train_clients_batched(model, shards, ClientConfig(batch_size=8, lr=0.05), seeds=[0, 1])
    a, b = out[0]["state"], out[1]["state"]
    assert a["bn.num_batches_tracked"].item() == b["bn.num_batches_tracked"].item() == 5
    assert not torch.allclose(a["bn.running_mean"], b["bn.running_mean"])
    assert model.bn.num_batches_tracked.item() == 0  # the global model is not touched


def test_max_parallel_many_clients(mnist_rows):
    """1,000 clients of 3-6 samples, 128 at a time: every client equals local_train."""
    x, y = mnist_rows
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 7, size=1000)
    shards = [(x[(i * 7) % 290:(i * 7) % 290 + n], y[(i * 7) % 290:(i * 7) % 290 + n])
              for i, n in enumerate(sizes)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=1))
    config = ClientConfig(epochs=1, batch_size=4, lr=0.1, momentum=0.5)
    seeds = list(range(1000))
    chunked = train_clients_batched(model, shards, config, seeds=seeds, max_parallel=128)
    whole = train_clients_batched(model, shards, config, seeds=seeds)
    assert len(chunked) == 1000
    for a, b in zip(chunked, whole):
        assert a["steps"] == b["steps"]
        for k in a["state"]:
            assert _rel(a["state"][k], b["state"][k]) < RTOL
    for i in (0, 1, 127, 128, 500, 999):  # across chunk borders
        local = copy.deepcopy(model)
        ref = local_train(local, *shards[i], config, seed=seeds[i])
        assert chunked[i]["steps"] == ref["steps"] == (2 if len(shards[i][1]) > 4 else 1)
        for k, v in local.state_dict().items():
            assert _rel(chunked[i]["state"][k], v) < RTOL


def test_frozen_and_unused_parameters_are_left_alone(mnist_rows):
    """torch's optimizers skip parameters without a gradient, even with weight decay."""

    class Partly(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(784, 10)
            self.frozen = nn.Linear(784, 10)
            self.frozen.requires_grad_(False)
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            return F.log_softmax(self.used(x.flatten(1)) + self.frozen(x.flatten(1)), dim=1)

    torch.manual_seed(0)
    model = Partly()
    out = _assert_same_as_local_train(model, _shards(mnist_rows, [20, 13]),
                                      ClientConfig(batch_size=8, lr=0.1, momentum=0.9, weight_decay=0.1),
                                      seeds=[3, 4], fixed=("frozen.weight", "unused.weight"))
    assert torch.equal(out[0]["state"]["frozen.weight"], model.frozen.weight)
    assert torch.equal(out[0]["state"]["unused.weight"], model.unused.weight)


def test_dropout_streams_are_per_client_and_reproducible(mnist_rows):
    """Dropout cannot match local_train's masks bit for bit (one stream per client inside one
    program); it is reproducible, differs between clients, and agrees in distribution."""
    x, y = mnist_rows
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10), nn.LogSoftmax(dim=1))
    config = ClientConfig(batch_size=32, lr=0.1)
    k = 48
    shards = [(x[:32], y[:32])] * k  # the same data for all: only dropout differs
    seeds = list(range(k))
    first = train_clients_batched(model, shards, config, seeds=seeds)
    again = train_clients_batched(model, shards, config, seeds=seeds)
    w = torch.stack([r["state"]["2.weight"] for r in first])
    assert torch.equal(w, torch.stack([r["state"]["2.weight"] for r in again]))
    assert not torch.allclose(w[0], w[1])
    seq = []
    for s in seeds:
        local = copy.deepcopy(model)
        local_train(local, x[:32], y[:32], config, seed=s)
        seq.append(local.state_dict()["2.weight"])
    seq_w = torch.stack(seq)
    w0 = model.state_dict()["2.weight"]
    upd_b, upd_s = w - w0, seq_w - w0
    spread = (upd_s - upd_s.mean(0)).norm(dim=(1, 2)).mean()  # one client's noise
    # The mean of k updates has noise spread / sqrt(k); the two means agree within that.
    assert (upd_b.mean(0) - upd_s.mean(0)).norm() < 3 * spread * (2 / k) ** 0.5
    assert float(upd_b.std(0).mean()) == pytest.approx(float(upd_s.std(0).mean()), rel=0.2)


def test_not_batchable_model_says_why(mnist_rows):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            h = self.fc(x.flatten(1))
            if h.sum() > 0:  # Python control flow on a tensor value
                h = h * 2
            return F.log_softmax(h, dim=1)

    with pytest.raises(NotBatchableError, match="backend='workers'"):
        train_clients_batched(Branchy(), _shards(mnist_rows, [8, 8]), ClientConfig(batch_size=4),
                              seeds=[0, 1])


def test_bad_arguments_say_what_to_do(mnist_rows):
    model = McMahan2NN()
    shards = _shards(mnist_rows, [8, 8])
    with pytest.raises(ValueError, match="one seed per client"):
        train_clients_batched(model, shards, ClientConfig(), seeds=[0])
    with pytest.raises(ValueError, match="max_parallel"):
        train_clients_batched(model, shards, ClientConfig(), seeds=[0, 1], max_parallel=0)
    c_global, c_clients = _controls(model, 1)
    with pytest.raises(ValueError, match="c_i per client"):
        train_clients_batched(model, shards, ClientConfig(), seeds=[0, 1], controls=(c_global, c_clients))
    with pytest.raises(ValueError, match="samples but"):
        DataPool([(torch.zeros(3, 784), torch.zeros(2))])


@pytest.mark.parametrize("setup", ["fedavg_momentum_wd_max_steps", "fedavg_adam", "scaffold"])
def test_capturable_masked_step_equals_local_train(mnist_rows, setup):
    """The step that CUDA graphs capture (all K clients, static inputs, a mask for clients
    whose batch has another size or who have finished, Adam's step count as a tensor), run
    uncaptured on the CPU: the same results as local_train."""
    from fedsyft.fl.batched import BatchedEngine

    config, prox_mu, scaffold = SETUPS[setup]
    torch.manual_seed(0)
    model = SmallBN()
    shards = _shards(mnist_rows, SHARDS["unequal"])
    controls = _controls(model, len(shards)) if scaffold else None
    engine = BatchedEngine(model, config, prox_mu=prox_mu, scaffold=scaffold, capture=True)
    engine._emulate_capture = True
    got = engine.train(model, DataPool(shards), seeds=[1, 2, 3, 4], controls=controls)
    ws = next(iter(engine._spaces.values()))
    assert sorted(ws.graphs) == sorted({16, 50 % 16, 23 % 16, 37 % 16} - {0})  # one per batch size
    for i, (data, targets) in enumerate(shards):
        local = copy.deepcopy(model)
        ctrl = None if controls is None else (controls[0], controls[1][i])
        ref = local_train(local, data, targets, config, seed=i + 1, control=ctrl)
        assert got[i]["steps"] == ref["steps"]
        for key, v in local.state_dict().items():
            if torch.is_floating_point(v):
                assert _rel(got[i]["state"][key], v) < RTOL, (i, key)
            else:
                assert torch.equal(got[i]["state"][key], v)


@pytest.mark.slow  # compiling takes tens of seconds
def test_compiled_step_equals_local_train(mnist_rows):
    """compile=True: the all-clients step through torch.compile (partial batches eager)."""
    from fedsyft.fl.batched import BatchedEngine

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10), nn.LogSoftmax(dim=1))
    config = ClientConfig(epochs=2, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-3)
    shards = _shards(mnist_rows, [40, 40, 29])
    engine = BatchedEngine(model, config, compile=True)
    got = engine.train(model, DataPool(shards), seeds=[1, 2, 3])
    for i, (data, targets) in enumerate(shards):
        local = copy.deepcopy(model)
        ref = local_train(local, data, targets, config, seed=i + 1)
        assert got[i]["steps"] == ref["steps"]
        assert abs(got[i]["loss"] - ref["loss"]) <= RTOL * ref["loss"]
        for key, v in local.state_dict().items():
            assert _rel(got[i]["state"][key], v) < RTOL, (i, key)


def test_cuda_graph_capture_is_refused_off_cuda_with_a_reason():
    """Off CUDA, capture() returns no replay and says why (the engine then runs eagerly)."""
    from fedsyft.fl.batched.graph import capture

    state = {"w": torch.zeros(3)}
    replay, why = capture(lambda: state["w"].add_(1), [state], device=torch.device("cpu"))
    assert replay is None and "CUDA" in why
    assert torch.equal(state["w"], torch.zeros(3))  # nothing ran
