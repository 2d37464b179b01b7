import pytest
import torch
from torch import nn

from fedsyft.data import federate
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, weighted_mean
from fedsyft.privacy import SecureAggregator, secure_aggregate, trusted_aggregate
from fedsyft.privacy.sharing import ShareHolderGoneError
from fedsyft.workers import module_location, send_module

from ._helpers import random_updates, tiny_dataset, tiny_model, workers

TOL = 1e-7  # fixed-precision resolution 1e-10 times a few clients, then float32 rounding


@pytest.mark.parametrize("k", [2, 3, 5])
def test_matches_plaintext_fedavg(k):
    ups = random_updates(k, seed=k)
    wts = torch.rand(k, generator=torch.Generator().manual_seed(k))
    wts = (wts / wts.sum()).tolist()
    holders = workers("h1", "h2", "h3")
    out = secure_aggregate(ups, wts, holders)
    ref = weighted_mean(ups, wts)
    assert out.keys() == ref.keys()
    for key in ref:
        assert out[key].dtype == ref[key].dtype and out[key].shape == ref[key].shape
        assert torch.allclose(out[key], ref[key], atol=TOL, rtol=0)


def test_shares_are_made_at_the_clients_and_only_sums_reach_the_server():
    clients = workers("c0", "c1", "c2")
    ups = random_updates(3, seed=1)
    agg = SecureAggregator(report_error=True)  # the clients hold the shares
    out = agg(ups, [0.2, 0.3, 0.5], round=1, clients=[c.id for c in clients])
    ref = weighted_mean(ups, [0.2, 0.3, 0.5])
    assert all(torch.allclose(out[k], ref[k], atol=TOL, rtol=0) for k in ref)
    info = agg.last_round_info
    n = sum(v.numel() for v in ups[0].values())
    # each client keeps one share and sends 2 (int64); 3 sums of int64 go to the server
    assert info["secure_bytes"] == 3 * 2 * n * 8 + 3 * n * 8
    assert info["plain_bytes"] == 3 * n * 4
    assert info["holders"] == [c.id for c in clients]
    assert info["max_abs_error"] < TOL and info["secure_seconds"] > 0
    for c in clients:
        assert c.traffic.bytes_out >= 2 * n * 8  # its shares left it
        assert not c._objects  # nothing left behind after reconstruction


def test_secure_aggregator_in_the_federated_loop_equals_fedavg():
    ws = workers("bob", "alice", "charlie")
    cfg = FLConfig(rounds=2, client=ClientConfig(epochs=1, batch_size=16, lr=0.1), seed=3)
    runs = {}
    for name, agg in [("plain", None), ("secure", SecureAggregator())]:
        fds = federate(tiny_dataset(), ws)
        model = tiny_model()
        tr = FederatedTrainer(model, fds, tiny_dataset(60, seed=1)[:], cfg, aggregator=agg, progress=False)
        tr.run()
        runs[name] = (model.state_dict(), tr.history)
    for k, v in runs["plain"][0].items():
        assert torch.allclose(v, runs["secure"][0][k], atol=1e-6)
    extra = runs["secure"][1].rounds[-1].extra
    assert extra["secure_bytes"] > extra["plain_bytes"] > 0


def test_in_the_loop_no_client_model_or_update_ever_reaches_the_server(monkeypatch):
    """The server process only reconstructs the sum: trained models are never fetched and
    every client deletes its update once it is shared."""
    import fedsyft.fl.loop as loop

    def no_fetch(model):
        raise AssertionError("a trained client model was fetched by the server")

    monkeypatch.setattr(loop, "get_module", no_fetch)
    ws = workers("bob", "alice", "charlie")
    fds = federate(tiny_dataset(), ws)
    model = tiny_model()
    cfg = FLConfig(rounds=1, client=ClientConfig(batch_size=16, lr=0.1), seed=5)
    tr = FederatedTrainer(model, fds, tiny_dataset(60, seed=1)[:], cfg,
                          aggregator=SecureAggregator(report_error=True), progress=False)
    tr.run()
    assert tr.history.rounds[-1].extra["max_abs_error"] < TOL
    for w in ws:  # only the private data shards remain at the clients
        assert sorted(w._objects) == sorted([fds[w].data.id_at_location, fds[w].targets.id_at_location])


def test_overflow_and_gone_holders_are_reported():
    holders = workers("h1", "h2")
    with pytest.raises(OverflowError, match="safe range"):
        secure_aggregate([{"w": torch.tensor([1e9])}], [1.0], holders)
    with pytest.raises(ValueError, match="two share holders"):
        SecureAggregator([holders[0]])
    with pytest.raises(ValueError, match="two share holders"):
        secure_aggregate(random_updates(2), [0.5, 0.5], None)
    holders[1].shutdown()
    with pytest.raises(Exception, match=holders[1].id):
        secure_aggregate(random_updates(2), [0.5, 0.5], holders)
    assert issubclass(ShareHolderGoneError, LookupError)


def test_trusted_aggregator_moves_models_to_the_secure_worker():
    bob, alice, secure = workers("bob", "alice", "secure")
    m1, m2 = nn.Linear(3, 2), nn.Linear(3, 2)
    expected = {k: 0.25 * m1.state_dict()[k] + 0.75 * m2.state_dict()[k] for k in m1.state_dict()}
    send_module(m1, bob)
    send_module(m2, alice)
    out = trusted_aggregate([m1, m2], secure, weights=[0.25, 0.75])
    for k in expected:
        assert torch.allclose(out[k], expected[k])
    assert secure.traffic.bytes_in > 0 and bob.traffic.bytes_out > 0  # the models travelled
    assert module_location(m1) is secure and module_location(m2) is secure


def test_a_nan_client_is_rejected_at_its_worker_before_sharing():
    """The finiteness check runs at the client (one bit leaves it); its update is never shared."""
    ws = workers("bob", "alice", "charlie")
    ds = tiny_dataset()
    ds.tensors[0][:40] = float("nan")  # bob's shard
    cfg = FLConfig(rounds=1, client=ClientConfig(batch_size=16, lr=0.1), seed=5)
    agg = SecureAggregator(report_error=True)
    fds = federate(ds, ws)
    tr = FederatedTrainer(tiny_model(), fds, tiny_dataset(60, seed=1)[:], cfg, aggregator=agg, progress=False)
    rec = tr.run().rounds[-1]
    assert rec.extra["rejected_clients"] == [ws[0].id] and rec.clients == [ws[1].id, ws[2].id]
    assert rec.extra["num_clients"] == 2 and rec.extra["max_abs_error"] < TOL
    assert all(bool(torch.isfinite(v).all()) for v in tr.model.state_dict().values())
    for w in ws:  # the rejected update was dropped at bob too
        assert sorted(w._objects) == sorted([fds[w].data.id_at_location, fds[w].targets.id_at_location])
