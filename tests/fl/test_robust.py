"""Robust aggregation (fedsyft.fl.robust): median, trimmed mean, and the scaled-update attack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, WeightedMean
from fedsyft.fl.robust import CoordinateMedian, ScaledUpdateAttack, TrimmedMean
from fedsyft.models import get_model


def _updates(k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g)} for _ in range(k)]


@pytest.mark.parametrize("k", [1, 4, 5])
def test_median_equals_numpy_median_per_coordinate(k):
    ups = _updates(k)
    out = CoordinateMedian()(ups, [1 / k] * k)
    for key in ("w", "b"):
        ref = np.median(np.stack([u[key].numpy() for u in ups]), axis=0)
        np.testing.assert_allclose(out[key].numpy(), ref, rtol=1e-6, atol=1e-7)
        assert out[key].dtype == ups[0][key].dtype


@pytest.mark.parametrize("k, trim", [(10, 0.1), (10, 0.25), (7, 0.3), (4, 0.0)])
def test_trimmed_mean_matches_a_sort_and_cut_reference(k, trim):
    ups = _updates(k, seed=1)
    out = TrimmedMean(trim=trim)(ups, [1 / k] * k)
    b = int(trim * k)
    for key in ("w", "b"):
        s = np.sort(np.stack([u[key].numpy().astype(np.float64) for u in ups]), axis=0)
        np.testing.assert_allclose(out[key].numpy(), s[b:k - b].mean(0), rtol=1e-6, atol=1e-7)


def test_robust_aggregators_ignore_weights_and_bound_outliers():
    honest = [{"w": torch.full((5,), 1.0 + 0.01 * i)} for i in range(8)]
    evil = [{"w": torch.full((5,), -1000.0)} for _ in range(2)]
    ups, weights = honest + evil, [0.01] * 8 + [0.46, 0.46]   # attackers also claim huge weights
    mean = WeightedMean()(ups, weights)["w"]
    med = CoordinateMedian()(ups, weights)["w"]
    tm = TrimmedMean(trim=0.2)(ups, weights)["w"]
    assert (mean < -900).all()                       # FedAvg is dragged wherever the attackers want
    lo, hi = 1.0, 1.07
    assert ((med >= lo) & (med <= hi)).all(), med    # the median stays among the honest values
    assert ((tm >= lo) & (tm <= hi)).all(), tm       # so does the trimmed mean (2 trimmed per side)
    # with too little trimming the trimmed mean is poisoned again
    assert (TrimmedMean(trim=0.1)(ups, weights)["w"] < -50).all()


def test_attack_scales_only_the_attackers_updates():
    ups = [{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}]
    seen = {}

    def spy(updates, weights, *, round=0, clients=None):
        seen["updates"] = updates
        return updates[0]

    attack = ScaledUpdateAttack(spy, attackers=["mallory"], scale=-3.0)
    attack(ups, [0.5, 0.5], round=2, clients=["bob", "mallory"])
    assert torch.equal(seen["updates"][0]["w"], ups[0]["w"])
    assert torch.equal(seen["updates"][1]["w"], torch.tensor([-9.0, -12.0]))
    assert torch.equal(ups[1]["w"], torch.tensor([3.0, 4.0]))      # the caller's update is untouched
    assert attack.last_round_info["attackers_this_round"] == 1.0


@pytest.mark.parametrize("bad, match", [
    (lambda: TrimmedMean(trim=0.5), "trim must be in"),
    (lambda: ScaledUpdateAttack(WeightedMean(), attackers="mallory"), "list of worker ids"),
    (lambda: CoordinateMedian()([], []), "zero client updates"),
    (lambda: CoordinateMedian()(_updates(2), [1.0]), "2 updates but 1 weights"),
    (lambda: ScaledUpdateAttack(WeightedMean(), attackers=["m"])(_updates(2), [0.5, 0.5]), "needs clients="),
])
def test_bad_input_says_what_to_do(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad()


def test_median_resists_a_sign_flipping_client_in_real_training(fds5, mnist_small):
    """5 MNIST clients, one sends -10x its update: FedAvg collapses, the median keeps learning."""
    _, test = mnist_small
    attacker = fds5.workers[4].id
    cfg = FLConfig(rounds=3, client=ClientConfig(epochs=1, batch_size=20, lr=0.05), seed=0)

    def run(aggregator):
        torch.manual_seed(0)
        return FederatedTrainer(get_model("mcmahan_2nn"), fds5, test, cfg, aggregator=aggregator,
                                progress=False).run().final_accuracy

    clean = run(WeightedMean())
    fedavg = run(ScaledUpdateAttack(WeightedMean(), attackers=[attacker], scale=-10.0))
    median = run(ScaledUpdateAttack(CoordinateMedian(), attackers=[attacker], scale=-10.0))
    assert fedavg < 0.3, fedavg                       # poisoned FedAvg is near chance
    assert median > clean - 0.08, (median, clean)     # the median is close to the clean run


def test_they_are_aggregators_with_checkpointable_state():
    from fedsyft.fl.aggregator import Aggregator

    attack = ScaledUpdateAttack(TrimmedMean(trim=0.2), attackers=["m"], scale=-2.0)
    for agg in (CoordinateMedian(), TrimmedMean(), attack):
        assert isinstance(agg, Aggregator) and agg.remote_updates is False
        agg.load_state_dict(agg.state_dict())
    assert attack.state_dict()["inner"]["aggregator"].endswith("TrimmedMean")
