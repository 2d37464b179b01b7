import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants import RDPAccountant

from fedsyft.data import federate
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, weighted_mean
from fedsyft.privacy import (
    DPFedAvgAggregator,
    PrivacyBudgetExhaustedError,
    clip_update,
    dp_local_train,
)
from fedsyft.privacy._flat import flatten_update
from fedsyft.workers import get_module, send, send_module

from ._helpers import random_updates, tiny_dataset, tiny_model, workers


@settings(max_examples=50, deadline=None)
@given(scale=st.floats(1e-4, 1e3), clip=st.floats(1e-3, 10.0), seed=st.integers(0, 1000))
def test_no_clipped_update_exceeds_c(scale, clip, seed):
    (u,) = random_updates(1, seed=seed, scale=scale)
    clipped, norm = clip_update(u, clip)
    assert float(flatten_update(clipped).norm()) <= clip * (1 + 1e-6)
    assert norm == pytest.approx(float(flatten_update(u).norm()))
    if norm <= clip:  # small updates are untouched
        assert all(torch.allclose(clipped[k], u[k]) for k in u)


def test_aggregator_clips_each_update():
    agg = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=0.0, sample_rate=1.0)
    big = {"w": torch.tensor([30.0, 40.0])}     # norm 50 -> scaled to 1
    small = {"w": torch.tensor([0.3, 0.4])}     # norm 0.5 -> unchanged
    out = agg([big, small], [0.9, 0.1], round=1)
    assert torch.allclose(out["w"], (torch.tensor([0.6, 0.8]) + torch.tensor([0.3, 0.4])) / 2)
    assert agg.last_round_info["clipped_fraction"] == 0.5


def test_epsilon_equals_opacus_for_the_same_sigma_q_steps():
    sigma, q, rounds = 1.1, 0.1, 7
    agg = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=sigma, sample_rate=q, delta=1e-5)
    ref = RDPAccountant()
    eps = []
    for r in range(1, rounds + 1):
        agg(random_updates(3, seed=r), [1 / 3] * 3, round=r)
        ref.step(noise_multiplier=sigma, sample_rate=q)
        assert agg.last_round_info["epsilon"] == pytest.approx(ref.get_epsilon(delta=1e-5), rel=1e-12)
        eps.append(agg.epsilon)
    assert eps == sorted(eps) and eps[0] > 0


def test_no_noise_and_no_clipping_is_fedavg():
    ups = random_updates(4, seed=2)
    agg = DPFedAvgAggregator(clip_norm=math.inf, noise_multiplier=0.0, sample_rate=0.5)
    out = agg(ups, [0.1, 0.2, 0.3, 0.4], round=1)  # DP-FedAvg weighs clients equally
    ref = weighted_mean(ups, [0.25] * 4)
    for k in ref:
        assert torch.allclose(out[k], ref[k], atol=1e-7)
    assert agg.epsilon == math.inf


def test_noise_has_std_sigma_c_over_m_and_is_seeded():
    zeros = [{"w": torch.zeros(20000)} for _ in range(4)]
    agg = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=2.0, sample_rate=0.1, seed=7)
    out = agg(zeros, [0.25] * 4, round=1)["w"]
    assert float(out.std()) == pytest.approx(2.0 * 0.5 / 4, rel=0.03)
    again = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=2.0, sample_rate=0.1, seed=7)
    assert torch.equal(again(zeros, [0.25] * 4, round=1)["w"], out)
    fixed = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=2.0, sample_rate=0.1, expected_clients=8)
    assert float(fixed(zeros, [0.25] * 4, round=1)["w"].std()) == pytest.approx(2.0 * 0.5 / 8, rel=0.03)


def test_target_epsilon_stops_before_it_is_exceeded_and_checkpoints():
    agg = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=2.0, sample_rate=0.5, target_epsilon=3.0)
    r = 0
    while not agg.should_stop():
        r += 1
        agg(random_updates(2, seed=r), [0.5, 0.5], round=r)
    assert r == agg.rounds == 4 and 2.8 < agg.epsilon <= 3.0  # opacus: 2.81 after 4, 3.12 after 5
    with pytest.raises(PrivacyBudgetExhaustedError, match="target"):
        agg(random_updates(2), [0.5, 0.5], round=r + 1)
    restored = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=2.0, sample_rate=0.5)
    restored.load_state_dict(agg.state_dict())
    assert restored.epsilon == agg.epsilon and restored.rounds == agg.rounds


def test_invalid_settings_say_what_to_do():
    with pytest.raises(ValueError, match="finite clip_norm"):
        DPFedAvgAggregator(clip_norm=math.inf, noise_multiplier=1.0, sample_rate=0.1)
    with pytest.raises(ValueError, match="sample_rate"):
        DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.0)


def test_dp_fedavg_in_the_loop_with_stop_and_epsilon_in_history():
    ws = workers("c0", "c1", "c2", "c3")
    fds = federate(tiny_dataset(), ws)
    cfg = FLConfig(rounds=10, num_selected=2, client=ClientConfig(batch_size=16, lr=0.1), seed=0)
    agg = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=2.0, sample_rate=2 / 4, target_epsilon=4.0)
    tr = FederatedTrainer(tiny_model(), fds, tiny_dataset(60, seed=1)[:], cfg, aggregator=agg, progress=False)
    hist = tr.run(stop=agg.should_stop)
    assert len(hist) == 8  # opacus: epsilon 3.91 after 8 rounds, 4.14 after 9
    eps = [r.extra["epsilon"] for r in hist.rounds]
    assert eps == sorted(eps) and eps[-1] <= 4.0


def test_dp_local_train_runs_at_a_worker():
    (bob,) = workers("bob")
    ds = tiny_dataset(96)
    x, y = send(ds.tensors[0], bob), send(ds.tensors[1], bob)
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    send_module(model, bob)
    cfg = ClientConfig(epochs=2, batch_size=16, lr=0.1)
    stats = bob.execute(dp_local_train, model, x, y, cfg, seed=1, noise_multiplier=1.0,
                        max_grad_norm=1.0).get()
    get_module(model)
    assert stats["num_samples"] == 96 and stats["steps"] > 0 and stats["epsilon"] > 0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert list(model.state_dict()) == list(before)  # opacus's wrapper is gone
    assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in model.parameters())


def test_a_nan_client_never_reaches_the_dp_aggregate():
    """A client whose update is NaN would pass clipping and poison the noisy sum: the server
    step rejects it before the aggregator sees it, and names it."""
    ws = workers("c0", "c1", "c2")
    ds = tiny_dataset()
    ds.tensors[0][:40] = float("nan")  # c0's shard (the classic split)
    cfg = FLConfig(rounds=2, client=ClientConfig(batch_size=16, lr=0.1), seed=0)
    agg = DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=1.0, sample_rate=1.0)
    tr = FederatedTrainer(tiny_model(), federate(ds, ws), tiny_dataset(60, seed=1)[:], cfg, aggregator=agg,
                          progress=False)
    hist = tr.run()
    assert [r.extra["rejected_clients"] for r in hist.rounds] == [[ws[0].id]] * 2
    assert all(math.isfinite(r.extra["mean_update_norm"]) for r in hist.rounds)
    assert all(bool(torch.isfinite(v).all()) for v in tr.model.state_dict().values())


def test_secure_rng_with_a_seed_is_refused_and_state_checks_its_class():
    with pytest.raises(ValueError, match="seed=3 with secure_rng=True.*not both"):
        DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.1, seed=3, secure_rng=True)
    agg = DPFedAvgAggregator(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.1, secure_rng=True)
    a = agg([{"w": torch.zeros(100)}], [1.0], round=1)["w"]
    b = agg([{"w": torch.zeros(100)}], [1.0], round=1)["w"]
    assert not torch.equal(a, b)  # fresh noise from secrets, round after round
    from fedsyft.fl import WeightedMean
    with pytest.raises(ValueError, match="saved from fedsyft.privacy.dp.DPFedAvgAggregator"):
        WeightedMean().load_state_dict(agg.state_dict())
