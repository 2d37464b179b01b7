import pytest
import torch

from fedsyft.partition import FeatureNoise, GaussianNoise, feature_noise


def test_std_grows_linearly_and_client_0_is_clean():
    ts = feature_noise(5, sigma=0.4, seed=0)
    assert [t.std for t in ts] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    x = torch.zeros(200_000)
    assert ts[0](x) is x
    for i, t in enumerate(ts[1:], start=1):
        assert t(x).std().item() == pytest.approx(0.1 * i, rel=0.02)


def test_deterministic_per_seed_and_distinct_per_client():
    x = torch.ones(2, 1, 28, 28)
    a, b = feature_noise(3, sigma=1.0, seed=7), feature_noise(3, sigma=1.0, seed=7)
    assert torch.equal(a[2](x), b[2](x))
    assert torch.equal(a[2](x), a[2](x))  # the same tensor gets the same noise every time
    assert not torch.equal(a[1](x) - x, (a[2](x) - x) / 2)  # clients have independent noise
    c = feature_noise(3, sigma=1.0, seed=8)
    assert not torch.equal(a[2](x), c[2](x))
    assert a[2](x).shape == x.shape and a[2](x).dtype == x.dtype


def test_global_torch_rng_untouched():
    state = torch.random.get_rng_state().clone()
    feature_noise(3, sigma=1.0)[2](torch.zeros(10))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_single_client_gets_no_noise():
    (t,) = feature_noise(1, sigma=1.0)
    assert t.std == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="sigma=-1"):
        feature_noise(3, sigma=-1.0)
    with pytest.raises(ValueError, match="num_clients=0"):
        feature_noise(0, sigma=1.0)
    with pytest.raises(ValueError, match="seed=-2"):
        feature_noise(2, sigma=1.0, seed=-2)
    with pytest.raises(TypeError, match="floating-point"):
        feature_noise(2, sigma=1.0)[1](torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="sigma"):
        FeatureNoise(sigma=float("nan"))


def test_class():
    fn = FeatureNoise(sigma=0.5, seed=1)
    assert repr(fn) == "FeatureNoise(sigma=0.5, seed=1)"
    ts = fn(4)
    assert ts == feature_noise(4, sigma=0.5, seed=1)
    assert repr(ts[1]).startswith("GaussianNoise(std=0.166667, seed=")
    assert isinstance(ts[3], GaussianNoise)
