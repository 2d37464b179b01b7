"""The Flower bridge without starting an engine: lazy import, install hint, the task, and the
aggregation round against fedsyft's own FedAvg."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from fedsyft.fl import ClientConfig, FLConfig, fedavg
from fedsyft.flower import FlowerTask, aggregate_round
from fedsyft.flower.round import ClientResult

from .conftest import assert_same_state, make_task


def test_import_fedsyft_and_bridge_do_not_import_flwr():
    code = ("import sys, fedsyft, fedsyft.flower, fedsyft.flower.cli; "
            "print(sorted(m for m in ('flwr', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_flwr_says_how_to_install(monkeypatch):
    from fedsyft.flower import run_simulation
    from fedsyft.flower._env import require_flwr

    monkeypatch.setitem(sys.modules, "flwr", None)  # makes `import flwr` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "flwr\[simulation\]==1\.41\.\*"'):
        require_flwr()
    with pytest.raises(ImportError, match=r"simulation engine.*\n.*pip install \"flwr\[simulation\]==1\.41\.\*\""):
        run_simulation(make_task(rounds=1))


def test_missing_ray_says_how_to_install(monkeypatch):
    from fedsyft.flower._env import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"needs Ray.*\n.*flwr\[simulation\]==1\.41"):
        require_ray()


def test_task_travels_as_json_and_rebuilds_each_shard():
    task = make_task()
    back = FlowerTask.from_json(task.to_json())
    assert back == task and back.config == task.config
    for i in range(task.num_clients):
        np.testing.assert_array_equal(back.partition[i], task.partition[i])
        x, y = back.client_data(i)
        train = task.train_set()
        assert torch.equal(x, train.data[torch.from_numpy(task.partition[i])])
        assert torch.equal(y, train.targets[torch.from_numpy(task.partition[i])])
    assert_same_state(back.build_model().state_dict(), task.build_model().state_dict())


@pytest.mark.parametrize("bad, match", [
    (dict(partition=[np.array([0, 1]), np.array([1, 2])]), "twice"),
    (dict(partition=[]), "one index array per client"),
    (dict(config=FLConfig(algorithm="scaffold")), "SCAFFOLD runs with fedsyft's own loop"),
    (dict(model="resnet9000"), "choose one of"),
    (dict(config=FLConfig(num_selected=5)), "choose at most 2"),
])
def test_task_rejects_bad_input_and_says_the_fix(bad, match):
    kwargs = dict(partition=[np.arange(3), np.arange(3, 6)], config=FLConfig(rounds=1), model="mcmahan_2nn")
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        FlowerTask(**kwargs)


def test_partition_id_out_of_range_names_the_fix():
    task = make_task(clients=2, per_client=50)
    with pytest.raises(ValueError, match=r"partition-id=5 is out of range.*num-partitions=2"):
        task.client_data(5)


def _model_and_states(sizes):
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    states = []
    for k, _ in enumerate(sizes):
        s = {name: (v + torch.randn(v.shape, generator=g) if torch.is_floating_point(v) else v + k + 1)
             for name, v in start.items()}
        states.append(s)
    return model, start, states


def test_aggregate_round_is_fedsyfts_server_step_and_equals_fedavg():
    from fedsyft.fl import FLConfig

    sizes = [10, 70, 20]
    model, start, states = _model_and_states(sizes)
    results = [ClientResult(k, s, n, float(k)) for k, (s, n) in enumerate(zip(states, sizes))]
    rec, accepted = aggregate_round(model, results[::-1], rnd=3, config=FLConfig(rounds=3))
    ref = fedavg(states, sizes)  # the mean of the states == start + the mean of the updates
    new = {k: v.clone() for k, v in model.state_dict().items()}
    for k in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        torch.testing.assert_close(new[k], ref[k], rtol=0, atol=1e-6)
    assert int(new["1.num_batches_tracked"]) == 3  # counters: the largest client value
    assert rec.round == 3 and rec.clients == ["client0", "client1", "client2"]  # index order
    assert rec.train_loss == pytest.approx(0.1 * 0 + 0.7 * 1 + 0.2 * 2)
    model.load_state_dict(start)
    aggregate_round(model, results, rnd=3, config=FLConfig(rounds=3, weighting="uniform"))
    assert not torch.equal(model.state_dict()["0.weight"], new["0.weight"])


def test_aggregate_round_rejects_a_non_finite_client_and_names_it():
    from fedsyft.fl import FLConfig

    model, _, states = _model_and_states([5, 5])
    states[1]["0.weight"][0, 0] = float("nan")
    rec, accepted = aggregate_round(model, [ClientResult(k, s, 5, 0.0) for k, s in enumerate(states)], rnd=1,
                                    config=FLConfig(rounds=1))
    assert rec.extra["rejected_clients"] == ["client1"] and rec.clients == ["client0"]
    assert torch.isfinite(model.state_dict()["0.weight"]).all()


def test_aggregate_round_with_no_clients_says_all_were_lost():
    from fedsyft.fl import FLConfig

    with pytest.raises(ValueError, match="every selected client was lost"):
        aggregate_round(torch.nn.Linear(1, 1), [], rnd=1, config=FLConfig(rounds=1))


def test_client_training_is_fedsyft_local_train_seeded_per_round_and_client():
    from fedsyft.fl import client_seed, local_train
    from fedsyft.flower import train_client

    task = FlowerTask([np.arange(0, 40), np.arange(40, 100)], FLConfig(
        rounds=1, seed=3, client=ClientConfig(batch_size=16, lr=0.1, max_steps=3)), model="mcmahan_2nn",
        train_subset=100)
    start = task.build_model().state_dict()
    res = train_client(task, 1, 2, start)
    model = task.build_model()
    x, y = task.client_data(1)
    stats = local_train(model, x, y, task.config.client, seed=client_seed(3, 2, 1))
    assert_same_state(res.state, model.state_dict())
    assert (res.num_samples, res.steps, res.loss) == (60, 3, stats["loss"])
    other_round = train_client(task, 1, 3, start)
    assert not torch.equal(other_round.state["fc1.weight"], res.state["fc1.weight"])
