import pytest
import tenseal as ts
import torch

from fedsyft.data import federate
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, weighted_mean
from fedsyft.privacy import CKKSAggregator, ckks_aggregate

from ._helpers import tiny_dataset, tiny_model, workers


@pytest.fixture(scope="module")
def agg():
    return CKKSAggregator()


def _updates(k, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"a": torch.randn(n, generator=g) * 0.05, "b": torch.randn(3, 2, generator=g) * 0.05}
            for _ in range(k)]


def test_error_vs_plaintext_below_1e_3_with_chunking(agg):
    ups = _updates(4, 10_000)  # longer than the 4096 slots: 3 ciphertexts per client
    wts = [0.1, 0.2, 0.3, 0.4]
    out = agg(ups, wts, round=1)
    ref = weighted_mean(ups, wts)
    for k in ref:
        assert out[k].shape == ref[k].shape and out[k].dtype == ref[k].dtype
        assert float((out[k] - ref[k]).abs().max()) <= 1e-3
    info = agg.last_round_info
    assert info["max_abs_error"] <= 1e-5
    assert info["ciphertexts_per_client"] == 3
    assert info["ckks_bytes_up"] > 10 * info["plain_bytes"]  # the price of encryption
    assert info["ckks_bytes_down"] > 0 and info["ckks_seconds"] > info["plain_seconds"]


def test_server_side_has_no_secret_key(agg):
    assert not agg.public_context.is_private()
    assert b"" != agg.public_context_bytes
    chunks = agg.encrypt(torch.tensor([1.0, 2.0]))
    summed = agg.add_encrypted([chunks, chunks])  # works without the secret key
    with pytest.raises(ValueError, match="secret"):
        ts.ckks_vector_from(agg.public_context, summed[0]).decrypt()
    assert torch.allclose(agg.decrypt(summed, 2), torch.tensor([2.0, 4.0], dtype=torch.float64), atol=1e-4)


def test_functional_form():
    out = ckks_aggregate([{"w": torch.tensor([1.0, -1.0])}, {"w": torch.tensor([3.0, 1.0])}], [0.5, 0.5])
    assert torch.allclose(out["w"], torch.tensor([2.0, 0.0]), atol=1e-4)


def test_ckks_in_the_federated_loop(agg):
    ws = workers("bob", "alice")
    cfg = FLConfig(rounds=1, client=ClientConfig(batch_size=16, lr=0.1), seed=0)
    states = []
    for a in (None, agg):
        model = tiny_model()
        FederatedTrainer(model, federate(tiny_dataset(), ws), tiny_dataset(60, seed=1)[:], cfg,
                         aggregator=a, progress=False).run()
        states.append(model.state_dict())
    for k in states[0]:
        assert torch.allclose(states[0][k], states[1][k], atol=1e-4)


def test_in_the_loop_clients_encrypt_at_their_workers(agg, monkeypatch):
    """No trained model is fetched; what leaves each client is ciphertext, counted as traffic."""
    import fedsyft.fl.loop as loop

    def no_fetch(model):
        raise AssertionError("a trained client model was fetched by the server")

    monkeypatch.setattr(loop, "get_module", no_fetch)
    ws = workers("bob", "alice")
    fds = federate(tiny_dataset(), ws)
    cfg = FLConfig(rounds=1, client=ClientConfig(batch_size=16, lr=0.1), seed=0)
    before = [w.traffic.bytes_out for w in ws]
    tr = FederatedTrainer(tiny_model(), fds, tiny_dataset(60, seed=1)[:], cfg, aggregator=agg, progress=False)
    tr.run()
    info = tr.history.rounds[-1].extra
    assert info["max_abs_error"] < 1e-3
    sent = [w.traffic.bytes_out - b for w, b in zip(ws, before)]
    # the ciphertexts left the clients (serialized sizes differ a little between clients)
    assert sum(sent) >= info["ckks_bytes_up"] and min(sent) > 0.4 * info["ckks_bytes_up"]
    for w in ws:  # only the private data shards remain
        assert sorted(w._objects) == sorted([fds[w].data.id_at_location, fds[w].targets.id_at_location])
