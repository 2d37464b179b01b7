import math

import pytest
import torch
from opacus.accountants import RDPAccountant

from fedsyft.data import federate
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.privacy import DPFedAvgAggregator
from fedsyft.privacy.dp_secagg import DistributedDPSecureAggregator, clip_and_noise

from ._helpers import random_updates, tiny_dataset, tiny_model, workers


def _agg(**kw):
    kw.setdefault("holders", workers("h1", "h2", "h3"))
    return DistributedDPSecureAggregator(**kw)


def test_without_noise_it_is_dp_fedavg_of_the_clipped_updates():
    ups = random_updates(4, seed=3, scale=0.5)  # norms 2.13, 2.41, 2.81, 2.62: two clipped at 2.5
    ours = _agg(clip_norm=2.5, noise_multiplier=0.0, sample_rate=0.1, report_clipping=True)
    ref = DPFedAvgAggregator(clip_norm=2.5, noise_multiplier=0.0, sample_rate=0.1)
    out, want = ours(ups, [0.25] * 4, round=1), ref(ups, [0.25] * 4, round=1)
    for k in want:
        assert torch.allclose(out[k], want[k], atol=1e-7, rtol=0)
    assert ours.last_round_info["clipped_fraction"] == ref.last_round_info["clipped_fraction"]
    assert ours.last_round_info["clipped_fraction"] == 0.5


def test_the_noise_on_the_sum_has_std_sigma_c_split_among_the_clients():
    m, d, sigma, c = 5, 40_000, 1.5, 0.4
    zeros = [{"w": torch.zeros(d)} for _ in range(m)]
    agg = _agg(clip_norm=c, noise_multiplier=sigma, sample_rate=0.2)
    noisy_sum = agg(zeros, [1 / m] * m, round=1)["w"].double() * m
    assert agg.last_round_info["noise_std_per_client"] == pytest.approx(sigma * c / math.sqrt(m))
    assert noisy_sum.std().item() == pytest.approx(sigma * c, rel=0.02)  # 40k samples: se ~0.35%
    assert abs(noisy_sum.mean().item()) < 4 * sigma * c / math.sqrt(d)


def test_tolerating_colluders_raises_each_share_so_the_honest_ones_suffice():
    m, d, sigma, c, t = 6, 40_000, 1.0, 1.0, 2
    agg = _agg(clip_norm=c, noise_multiplier=sigma, sample_rate=0.2, tolerated_colluders=t)
    zeros = [{"w": torch.zeros(d)} for _ in range(m)]
    noisy_sum = agg(zeros, [1 / m] * m, round=1)["w"].double() * m
    per_client = sigma * c / math.sqrt(m - t)
    assert agg.last_round_info["noise_std_per_client"] == pytest.approx(per_client)
    assert noisy_sum.std().item() == pytest.approx(per_client * math.sqrt(m), rel=0.02)
    # what the m - t honest clients add alone is sigma * C
    assert per_client * math.sqrt(m - t) == pytest.approx(sigma * c)
    with pytest.raises(ValueError, match="tolerated_colluders"):
        _agg(clip_norm=c, noise_multiplier=sigma, sample_rate=0.2, tolerated_colluders=m)(
            zeros, [1 / m] * m, round=1)


def test_epsilon_is_opacus_rdp_for_sigma_and_q():
    agg = _agg(clip_norm=1.0, noise_multiplier=1.1, sample_rate=0.05)
    ups = random_updates(3, seed=0)
    for r in range(1, 4):
        agg(ups, [1 / 3] * 3, round=r)
    acc = RDPAccountant()
    for _ in range(3):
        acc.step(noise_multiplier=1.1, sample_rate=0.05)
    assert agg.epsilon == pytest.approx(acc.get_epsilon(delta=1e-5), rel=1e-12)
    assert agg.last_round_info["epsilon"] == agg.epsilon


def test_same_seed_same_noise_and_rounds_differ():
    ups = random_updates(3, seed=1)
    a = _agg(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.1, seed=7)
    b = _agg(clip_norm=1.0, noise_multiplier=1.0, sample_rate=0.1, seed=7)
    ra, rb = a(ups, [1 / 3] * 3, round=1), b(ups, [1 / 3] * 3, round=1)
    assert all(torch.allclose(ra[k], rb[k], atol=1e-9, rtol=0) for k in ra)
    r2 = a(ups, [1 / 3] * 3, round=2)
    assert not torch.allclose(ra["fc.weight"], r2["fc.weight"])


def test_clip_and_noise_bounds_the_contribution():
    big = {"w": torch.full((100,), 3.0)}
    assert clip_and_noise(big, ["w"], clip_norm=0.5, noise_std=0.0, seed=0).norm().item() == pytest.approx(0.5)


def test_in_the_loop_updates_are_clipped_and_noised_at_the_clients():
    ws = workers("a", "b", "c", "d")
    ds = tiny_dataset(160)
    fds = federate(ds, ws)
    cfg = FLConfig(rounds=2, weighting="uniform", seed=0, client=ClientConfig(epochs=1, batch_size=20, lr=0.1))
    test = (ds.tensors[0], ds.tensors[1])
    # no noise, no effective clipping: the same model as plain FedAvg with uniform weights
    torch.manual_seed(0)
    plain = tiny_model()
    FederatedTrainer(plain, fds, test, cfg, progress=False).run()
    secagg = tiny_model()
    held = {w.id: len(w._objects) for w in ws}
    agg = DistributedDPSecureAggregator(clip_norm=1e6, noise_multiplier=0.0, sample_rate=1.0)
    FederatedTrainer(secagg, fds, test, cfg, aggregator=agg, progress=False).run()
    for k, v in plain.state_dict().items():
        assert torch.allclose(v, secagg.state_dict()[k], atol=1e-6, rtol=0)
    assert agg.last_round_info["holders"] == [w.id for w in ws]  # the clients held the shares
    assert {w.id: len(w._objects) for w in ws} == held  # nothing left behind at the clients
    # with noise, the loop's model differs and epsilon is spent
    noisy = tiny_model()
    dp = DistributedDPSecureAggregator(clip_norm=0.5, noise_multiplier=1.0, sample_rate=1.0)
    hist = FederatedTrainer(noisy, fds, test, cfg, aggregator=dp, progress=False).run()
    assert hist.rounds[-1].extra["epsilon"] == pytest.approx(dp.epsilon) and dp.epsilon > 0
    assert not torch.allclose(noisy.state_dict()["1.weight"], plain.state_dict()["1.weight"])


@pytest.mark.parametrize("kwargs, match", [
    ({"clip_norm": math.inf}, "clip_norm"),
    ({"noise_multiplier": -1.0}, "noise_multiplier"),
    ({"sample_rate": 0.0}, "sample_rate"),
    ({"holders": ["only_one"]}, "two share holders"),
])
def test_bad_arguments_say_what_to_do(kwargs, match):
    base = {"clip_norm": 1.0, "noise_multiplier": 1.0, "sample_rate": 0.1}
    with pytest.raises(ValueError, match=match):
        DistributedDPSecureAggregator(**{**base, **kwargs})
