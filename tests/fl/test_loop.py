"""The federated round loop: fedsyft.fl.loop, history, centralized baseline."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from fedsyft.fl import (  # noqa: E402
    ClientConfig,
    FederatedTrainer,
    FLConfig,
    History,
    evaluate,
    plot_accuracy,
    sample_clients,
    train_centralized,
)
from fedsyft.models import get_model  # noqa: E402
from fedsyft.partition import ClassesPerClient  # noqa: E402

CLIENT = ClientConfig(epochs=1, batch_size=20, lr=0.05)


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return get_model("mcmahan_2nn")


def _trainer(fds, test, **cfg):
    kw = {"rounds": 3, "client": CLIENT, "seed": 0, **cfg}
    return FederatedTrainer(_model(), fds, test, FLConfig(**kw), progress=False)


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_small_run_improves_accuracy(fds5, mnist_small):
    _, test = mnist_small
    tr = _trainer(fds5, test)
    before, _ = evaluate(tr.model, test)
    hist = tr.run()
    assert len(hist) == 3 and tr.round == 3
    assert hist.final_accuracy > 0.6  # from ~0.1 at random initialisation
    assert hist.final_accuracy > before + 0.4
    assert hist.accuracies[-1] > hist.accuracies[0]
    assert hist.rounds_to_accuracy(0.0) == 1 and hist.rounds_to_accuracy(1.01) is None


def test_client_sampling_is_seeded():
    assert sample_clients(10, 3, seed=0, rnd=1) == sample_clients(10, 3, seed=0, rnd=1)
    draws = {tuple(sample_clients(10, 3, seed=0, rnd=r)) for r in range(1, 11)}
    assert len(draws) > 1  # rounds draw different clients
    assert sample_clients(10, 3, seed=0, rnd=1) != sample_clients(10, 3, seed=1, rnd=1) or \
        sample_clients(10, 3, seed=0, rnd=2) != sample_clients(10, 3, seed=1, rnd=2)
    for r in range(1, 6):
        s = sample_clients(10, 3, seed=4, rnd=r)
        assert len(s) == 3 and s == sorted(set(s)) and all(0 <= i < 10 for i in s)
    assert sample_clients(4, None, seed=0, rnd=1) == [0, 1, 2, 3]
    assert sample_clients(4, 4, seed=0, rnd=1) == [0, 1, 2, 3]


def test_run_records_the_sampled_clients(fds5, mnist_small):
    _, test = mnist_small
    hist = _trainer(fds5, test, rounds=3, num_selected=2, client=ClientConfig(batch_size=50, max_steps=2)).run()
    ids = [w.id for w in fds5.workers]
    for rec in hist.rounds:
        assert rec.clients == [ids[i] for i in sample_clients(5, 2, seed=0, rnd=rec.round)]


def test_num_selected_greater_than_clients_is_a_clear_error(fds5, mnist_small):
    _, test = mnist_small
    with pytest.raises(ValueError, match=r"num_selected \(6\) is greater than the number of clients \(5\)"):
        _trainer(fds5, test, num_selected=6)
    with pytest.raises(ValueError, match="greater than the number of clients"):
        sample_clients(3, 4, seed=0, rnd=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithm": "fedsgd"}, "Unknown algorithm 'fedsgd'"),
    ({"rounds": 0}, "rounds"),
    ({"num_selected": 0}, "num_selected"),
    ({"mu": -1.0}, "mu"),
    ({"server_lr": 0.0}, "server_lr"),
    ({"weighting": "batches"}, "weighting"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FLConfig(**kwargs)


def test_trainer_needs_a_federated_dataset(mnist_small):
    train, test = mnist_small
    with pytest.raises(TypeError, match="FederatedDataset"):
        FederatedTrainer(_model(), train, test)


@pytest.mark.parametrize("algorithm", ["fedavg", "scaffold"])
def test_checkpoint_resume_is_bit_identical(fds5, mnist_small, tmp_path, algorithm):
    _, test = mnist_small
    cfg = {"rounds": 4, "num_selected": 3, "algorithm": algorithm,
           "client": ClientConfig(epochs=1, batch_size=20, lr=0.05, momentum=0.5, max_steps=5)}
    full = _trainer(fds5, test, **cfg)
    full.run()

    stopped = _trainer(fds5, test, **cfg)
    stopped.checkpoint_dir = tmp_path
    stopped.run(rounds=2)
    assert stopped.round == 2 and (tmp_path / "checkpoint.pt").is_file()

    resumed = FederatedTrainer(_model(seed=99), fds5, test, FLConfig(**{"seed": 0, **cfg}),
                               progress=False, checkpoint_dir=tmp_path)
    resumed.load_checkpoint(tmp_path / "checkpoint.pt")
    assert resumed.round == 2 and len(resumed.history) == 2
    resumed.run()
    assert resumed.round == 4
    _assert_same_state(resumed.model, full.model)
    assert resumed.history.accuracies == full.history.accuracies
    assert [r.clients for r in resumed.history.rounds] == [r.clients for r in full.history.rounds]
    if algorithm == "scaffold":
        for k in full.c_global:
            assert torch.equal(resumed.c_global[k], full.c_global[k])
        assert set(resumed.c_clients) == set(full.c_clients)


def test_resume_with_other_config_or_missing_file_fails(fds5, mnist_small, tmp_path):
    _, test = mnist_small
    tr = _trainer(fds5, test, rounds=1, client=ClientConfig(batch_size=50, max_steps=1))
    tr.checkpoint_dir = tmp_path
    tr.run()
    other = _trainer(fds5, test, rounds=1, client=ClientConfig(batch_size=50, max_steps=1), seed=1)
    with pytest.raises(ValueError, match="different configuration"):
        other.load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(FileNotFoundError):
        other.load_checkpoint(tmp_path / "nope.pt")


def test_same_seed_same_run_different_seed_differs(fds5, mnist_small):
    _, test = mnist_small
    cfg = {"rounds": 2, "num_selected": 2, "client": ClientConfig(batch_size=20, lr=0.05, max_steps=5)}
    a, b, c = _trainer(fds5, test, **cfg), _trainer(fds5, test, **cfg), _trainer(fds5, test, seed=1, **cfg)
    a.run(), b.run(), c.run()
    _assert_same_state(a.model, b.model)
    assert not all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), c.model.state_dict().values()))


def test_history_traffic_and_json(fds5, mnist_small, tmp_path):
    _, test = mnist_small
    tr = _trainer(fds5, test, rounds=2, client=ClientConfig(batch_size=50, max_steps=2))
    hist = tr.run()
    model_bytes = sum(v.numel() * v.element_size() for v in tr.model.state_dict().values())
    for rec in hist.rounds:
        assert rec.bytes_down > 0 and rec.bytes_up > 0
        # every client receives and returns at least the whole model
        assert rec.bytes_down >= 5 * model_bytes and rec.bytes_up >= 5 * model_bytes
        assert rec.seconds > 0 and rec.train_loss > 0
    assert all(b > 0 for b in hist.bytes_per_round)
    back = History.from_json(hist.to_json(tmp_path / "h.json"))
    assert back.accuracies == hist.accuracies and back.bytes_per_round == hist.bytes_per_round
    assert back.config["client"]["batch_size"] == 50


def test_client_data_stays_private_at_the_workers(fds5, mnist_small):
    _, test = mnist_small
    objects = {w.id: len(w._objects) for w in fds5.workers}
    _trainer(fds5, test, rounds=1, client=ClientConfig(batch_size=50, max_steps=1)).run()
    for shard in fds5:
        assert shard.worker.is_private(shard.data.id_at_location)
    # the model copies came back: nothing left behind at the workers
    assert {w.id: len(w._objects) for w in fds5.workers} == objects


@pytest.mark.parametrize("algorithm", ["fedprox", "scaffold"])
def test_fedprox_and_scaffold_runs_work(algorithm, mnist_small, make_workers):
    train, test = mnist_small
    fds = train.federate(make_workers(5), partition=ClassesPerClient(k=2, seed=0))
    tr = _trainer(fds, test, rounds=3, algorithm=algorithm, mu=0.1)
    before, _ = evaluate(tr.model, test)
    hist = tr.run()
    assert hist.final_accuracy > before + 0.2
    assert hist.config["algorithm"] == algorithm
    if algorithm == "scaffold":
        assert set(tr.c_clients) == {w.id for w in fds.workers}
        assert any(v.abs().sum() > 0 for v in tr.c_global.values())


def test_uniform_weighting_and_server_lr(fds5, mnist_small):
    _, test = mnist_small
    hist = _trainer(fds5, test, rounds=2, weighting="uniform", server_lr=0.5).run()
    assert hist.final_accuracy > 0.3


def test_stop_callback_and_callbacks(fds5, mnist_small):
    _, test = mnist_small
    seen = []
    tr = FederatedTrainer(_model(), fds5, test, FLConfig(rounds=5, client=ClientConfig(batch_size=50, max_steps=2)),
                          progress=False, callbacks=[lambda t, rec: seen.append(rec.round)])
    hist = tr.run(stop=lambda t: t.round >= 2)
    assert len(hist) == 2 and seen == [1, 2]
    tr.run(rounds=1)
    assert tr.round == 3


def test_centralized_baseline(mnist_small):
    train, test = mnist_small
    hist = train_centralized(_model(), train, test, epochs=2, config=CLIENT, seed=0,
                             max_steps_per_epoch=30, progress=False)
    assert len(hist) == 2 and hist.final_accuracy > 0.6
    assert hist.config["client"]["max_steps"] == 30


def test_plot_accuracy(fds5, mnist_small):
    _, test = mnist_small
    hist = _trainer(fds5, test, rounds=2, client=ClientConfig(batch_size=50, max_steps=2)).run()
    fig = plot_accuracy({"a": hist, "b": hist}, baseline=0.9)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel() == "round"
    fig2 = plot_accuracy(hist)
    assert fig2.axes[0].get_legend() is not None
    import matplotlib.pyplot as plt

    plt.close("all")
