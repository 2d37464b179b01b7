"""Encrypted exchange: encrypted FedAvg equals plaintext FedAvg, ciphertext is what is counted,
and tampered, replayed and wrong-key messages are refused before a round can use them."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.models import get_model
from fedsyft.partition import IID
from fedsyft.privacy import DPFedAvgAggregator, SecureAggregator
from fedsyft.privacy.encrypted import (
    EncryptedExchange,
    EncryptedFederatedTrainer,
    Endpoint,
    ReplayedMessageError,
    TamperedMessageError,
    WrongKeyError,
    derive_key,
    deserialize,
    serialize,
    states_equal,
)

ITER = 1_000  # PBKDF2 iterations for tests only (600,000 by default)
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def mnist():
    rng = np.random.default_rng(0)
    train, test = MNIST("train"), MNIST("test")
    return (train.subset(np.sort(rng.permutation(len(train))[:450])),
            test.subset(np.sort(rng.permutation(len(test))[:300])))


def _setup(mnist, *, n=3, selected=2, algorithm="fedavg", model="mcmahan_2nn"):
    train, test = mnist
    tag = next(_ids)
    workers = [sy.VirtualWorker(id=f"enc{tag}_w{i}") for i in range(n)]
    fds = train.federate(workers, partition=IID(seed=0))
    torch.manual_seed(0)
    m = get_model(model)
    cfg = FLConfig(rounds=2, num_selected=selected, algorithm=algorithm,
                   client=ClientConfig(epochs=1, batch_size=32, lr=0.05), seed=3)
    return m, fds, test, cfg


def _pair(mnist, aggregator=None, **kw):
    """(plaintext state, encrypted state, encrypted history, messages seen on the wire)."""
    m1, fds1, test, cfg = _setup(mnist, **kw)
    FederatedTrainer(m1, fds1, test, cfg, progress=False, aggregator=aggregator and aggregator()).run()
    m2, fds2, test, cfg = _setup(mnist, **kw)
    wire = []
    ex = EncryptedExchange("s3cret", iterations=ITER, taps=[lambda msg, **info: wire.append((msg, info))])
    tr = EncryptedFederatedTrainer(m2, fds2, test, cfg, exchange=ex, progress=False,
                                   aggregator=aggregator and aggregator())
    hist = tr.run()
    return m1.state_dict(), m2.state_dict(), hist, wire


def test_encrypted_fedavg_is_bit_identical_to_plaintext_fedavg(mnist):
    plain, enc, hist, wire = _pair(mnist)
    assert states_equal(plain, enc)
    assert len(wire) == 2 * 2 * 2  # 2 rounds x 2 clients x (down, up)


@pytest.mark.parametrize("algorithm", ["fedprox", "scaffold"])
def test_encrypted_fedprox_and_scaffold_match_plaintext(mnist, algorithm):
    plain, enc, _, _ = _pair(mnist, algorithm=algorithm)
    assert states_equal(plain, enc)


def test_works_with_secure_aggregation_and_dp_aggregators(mnist):
    plain, enc, _, _ = _pair(mnist, aggregator=SecureAggregator)
    assert states_equal(plain, enc)
    dp = lambda: DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=0.5, sample_rate=2 / 3, seed=1)  # noqa: E731
    plain, enc, _, _ = _pair(mnist, aggregator=dp)
    assert states_equal(plain, enc)


def test_traffic_counts_ciphertext_bytes_and_the_wire_carries_no_plain_weights(mnist):
    plain_state, _, hist, wire = _pair(mnist)
    model_bytes = sum(v.numel() * v.element_size() for v in plain_state.values())
    for rnd, rec in enumerate(hist.rounds, start=1):
        down = sum(m.numel() for m, i in wire if i["round"] == rnd and i["direction"] == "down")
        up = sum(m.numel() for m, i in wire if i["round"] == rnd and i["direction"] == "up")
        assert rec.bytes_down == down == rec.extra["ciphertext_bytes_down"]
        assert rec.bytes_up >= up == rec.extra["ciphertext_bytes_up"]
        assert 2 * model_bytes < down < 2 * model_bytes * 1.01  # ciphertext = model + small framing
    # An eavesdropper looking for a known weight row finds it in the plaintext, not the ciphertext.
    first_down, _ = wire[0]
    torch.manual_seed(0)
    sent = get_model("mcmahan_2nn").state_dict()  # the model of the first download
    needle = sent["fc1.weight"][0, :16].numpy().tobytes()
    assert needle in serialize({"state": sent})
    assert needle not in first_down.numpy().tobytes()


def _trainer(mnist, taps, **kw):
    m, fds, test, cfg = _setup(mnist, selected=None, **kw)
    ex = EncryptedExchange("s3cret", iterations=ITER, taps=taps)
    return EncryptedFederatedTrainer(m, fds, test, cfg, exchange=ex, progress=False)


def test_a_tampered_update_is_rejected_and_the_round_does_not_use_it(mnist):
    def flip(msg, *, direction, client, round, kind):
        if direction == "up" and client.endswith("_w1"):
            msg = msg.clone()
            msg[-40] ^= 1  # one bit of the ciphertext body
            return msg
        return None

    tr = _trainer(mnist, [flip])
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    with pytest.raises(TamperedMessageError, match=r"update message from 'enc\d+_w1' .* round 1 failed authentication"):
        tr.run_round()
    assert tr.round == 0 and len(tr.history) == 0
    assert states_equal(before, tr.model.state_dict())


def test_a_tampered_model_download_is_rejected_at_the_worker(mnist):
    def flip_header(msg, *, direction, **_):
        if direction == "down":
            msg = msg.clone()
            msg[30] ^= 0x80  # inside the authenticated header (the round field)
            return msg
        return None

    tr = _trainer(mnist, [flip_header])
    with pytest.raises(TamperedMessageError, match="model message from 'server'"):
        tr.run_round()
    assert tr.round == 0


def test_an_update_replayed_from_an_earlier_round_is_rejected(mnist):
    recorded = {}

    def replay(msg, *, direction, client, round, kind):
        if direction == "up" and client.endswith("_w0"):
            if round == 1:
                recorded["old"] = msg.clone()
            else:
                return recorded["old"]
        return None

    tr = _trainer(mnist, [replay])
    tr.run_round()
    state_after_1 = {k: v.clone() for k, v in tr.model.state_dict().items()}
    with pytest.raises(ReplayedMessageError, match=r"'enc\d+_w0' .* round 2 is an authentic message of round 1"):
        tr.run_round()
    assert tr.round == 1 and states_equal(state_after_1, tr.model.state_dict())


def test_the_same_message_twice_is_a_replay():
    key = derive_key("pw", b"saltsaltsaltsalt", iterations=ITER)
    a, b = Endpoint("server", "bob", key), Endpoint("bob", "server", key)
    msg = a.seal({"w": torch.ones(3)}, kind="model", round=4)
    assert torch.equal(b.open(msg, kind="model", round=4)["w"], torch.ones(3))
    with pytest.raises(ReplayedMessageError, match="already received once"):
        b.open(msg, kind="model", round=4)
    with pytest.raises(TamperedMessageError, match="misrouted"):
        a.open(b.seal({"w": torch.ones(1)}, kind="update", round=4), kind="model", round=4)
    with pytest.raises(TamperedMessageError, match="malformed"):
        b.open(b"not a message at all", kind="model", round=4)


def test_a_wrong_password_is_reported_as_such(mnist):
    w = sy.VirtualWorker(id=f"enc_wrong{next(_ids)}")
    ex = EncryptedExchange("right", iterations=ITER)
    with pytest.raises(WrongKeyError, match=f"Worker '{w.id}' derived a different key"):
        ex.enroll([w], password="wrong")
    assert not ex.is_enrolled(w)
    # Without the enrollment check the first message says it.
    m, fds, test, cfg = _setup(mnist)
    ex = EncryptedExchange("right", iterations=ITER)
    ex.enroll([s.worker for s in fds], password="wrong", verify=False)
    tr = EncryptedFederatedTrainer(m, fds, test, cfg, exchange=ex, progress=False)
    with pytest.raises(WrongKeyError, match="passwords differ"):
        tr.run_round()
    assert tr.round == 0


def test_key_derivation_is_deterministic_per_salt_and_checks_its_inputs():
    k1 = derive_key("pw", b"a" * 16, iterations=ITER)
    assert k1 == derive_key("pw", b"a" * 16, iterations=ITER)
    assert k1 != derive_key("pw", b"b" * 16, iterations=ITER)  # per-client salts: per-client keys
    assert k1 != derive_key("pw", b"a" * 16, iterations=ITER + 1)
    with pytest.raises(ValueError, match="iterations must be an integer >= 1000"):
        derive_key("pw", b"a" * 16, iterations=10)
    with pytest.raises(ValueError, match="password must be a non-empty"):
        EncryptedExchange("", iterations=ITER)
    with pytest.raises(ValueError, match="salt must be at least 8"):
        derive_key("pw", b"abc", iterations=ITER)


def test_payloads_never_unpickle_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError):
        deserialize(serialize({"x": Evil()}))
