import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fedsyft as sy
from fedsyft.privacy import (
    AdditiveSharingTensor,
    FixedPrecisionTensor,
    ShareHolderGoneError,
    fix_precision,
    random_ring,
    share,
    split,
)
from fedsyft.workers import ObjectNotFoundError, PointerTensor, send

from ._helpers import CHI2_15_CRITICAL, chi2_top_bits, workers

int64s = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=40, deadline=None)
@given(vals=st.lists(int64s, min_size=1, max_size=8), n=st.integers(2, 5))
def test_split_reconstructs_exactly(vals, n):
    x = torch.tensor(vals, dtype=torch.int64)
    parts = split(x, n)
    assert len(parts) == n
    assert torch.equal(torch.stack(parts).sum(0), x)  # sum wraps modulo 2**64


def test_share_places_one_share_at_each_worker_and_counts_traffic():
    bob, alice, charlie = workers("bob", "alice", "charlie")
    x = torch.tensor([1, 2, 3])
    s = share(x, bob, alice, charlie)
    assert isinstance(s, AdditiveSharingTensor)
    assert [w.id for w in s.workers] == [bob.id, alice.id, charlie.id]
    for w in (bob, alice, charlie):
        assert isinstance(s.shares[w.id], PointerTensor)
        assert s.shares[w.id].location is w
        assert w.traffic.bytes_in == 3 * 8
        assert not torch.equal(w.get_obj(s.shares[w.id].id_at_location), x)
    assert torch.equal(s.get(), x)
    with pytest.raises(ObjectNotFoundError, match="already"):
        s.get()


def test_classic_api_with_the_hook():
    hook = sy.TorchHook(torch)
    try:
        bob, alice, james = workers("bob", "alice", "james")
        x = torch.tensor([0.1, 0.2, 0.3]).fix_precision().share(bob, alice, crypto_provider=james)
        y = torch.tensor([1.0, 2.0, 3.0]).fix_precision().share(bob, alice, crypto_provider=james)
        z = x * y + x
        out = z.get()
        assert isinstance(out, FixedPrecisionTensor)
        assert torch.allclose(out.float_precision(), torch.tensor([0.2, 0.6, 1.2]), atol=1e-3)  # float32, as classic PySyft
        # a tensor sent to a worker is encoded and shared from there
        p = torch.tensor([2.5]).send(bob)
        s = p.fix_precision().share(bob, alice)
        assert s.get().float_precision().tolist() == [2.5]
        q = torch.tensor([7]).send(alice).share(bob, alice)
        assert q.get().tolist() == [7]
        assert torch.tensor([1500]).float_precision().tolist() == [1.5]
    finally:
        hook.unhook()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_beaver_mul_and_matmul(n):
    ws = workers(*[f"h{i}" for i in range(n)])
    (james,) = workers("james")
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(4, 3, generator=g) * 3, torch.randn(3, 2, generator=g) * 3
    A = fix_precision(a).share(*ws, crypto_provider=james)
    B = fix_precision(b).share(*ws, crypto_provider=james)
    assert torch.allclose((A @ B).get().float_precision(), a @ b, atol=0.03)
    A = fix_precision(a).share(*ws, crypto_provider=james)
    A2 = fix_precision(a).share(*ws, crypto_provider=james)
    assert torch.allclose((A * A2).get().float_precision(), a * a, atol=0.02)
    assert james.traffic.bytes_out > 0  # the triples came from the crypto provider


def test_beaver_on_plain_integers_is_exact():
    bob, alice, james = workers("bob", "alice", "james")
    x = share(torch.tensor([[2, -3], [4, 5]]), bob, alice, crypto_provider=james)
    y = share(torch.tensor([[1, 1], [-2, 3]]), bob, alice, crypto_provider=james)
    assert (x @ y).get().tolist() == [[8, -7], [-6, 19]]
    x = share(torch.tensor([-7, 9]), bob, alice, crypto_provider=james)
    y = share(torch.tensor([6, -5]), bob, alice, crypto_provider=james)
    assert (x * y).get().tolist() == [-42, -45]


def test_linear_operations_with_public_values():
    bob, alice = workers("bob", "alice")
    v = torch.tensor([1.5, -2.0, 0.25])
    x = fix_precision(v).share(bob, alice)
    out = ((x + 1.0) - torch.tensor([0.5, 0.5, 0.5]) + fix_precision(v)).get().float_precision()
    assert torch.allclose(out, 2 * v + 0.5, atol=1e-3)
    x = fix_precision(v).share(bob, alice)
    assert torch.allclose((-x * 2 * 0.5).get().float_precision(), -v, atol=1e-3)
    x = fix_precision(v).share(bob, alice)
    assert abs(float(x.sum().get().float_precision()) - float(v.sum())) < 1e-3
    x = fix_precision(v).share(bob, alice)
    assert torch.allclose((10 - x).get().float_precision(), 10 - v, atol=1e-3)


def test_float_tensor_without_fix_precision_raises_type_error():
    bob, alice = workers("bob", "alice")
    with pytest.raises(TypeError, match=r"fix_precision\(\)"):
        share(torch.tensor([1.0]), bob, alice)
    with pytest.raises(TypeError, match=r"fix_precision\(\)"):
        share(send(torch.tensor([1.0]), bob), bob, alice)


def test_errors_name_what_to_do():
    bob, alice, james = workers("bob", "alice", "james")
    with pytest.raises(ValueError, match="at least two"):
        share(torch.tensor([1]), bob)
    with pytest.raises(ValueError, match="different worker"):
        share(torch.tensor([1]), bob, bob)
    with pytest.raises(ValueError, match="crypto provider"):
        share(torch.tensor([1]), bob, james, crypto_provider=james)
    x = share(torch.tensor([1]), bob, alice)
    with pytest.raises(ValueError, match="crypto_provider"):
        x * share(torch.tensor([1]), bob, alice)
    with pytest.raises(ValueError, match="different holders"):
        x + share(torch.tensor([1]), alice, bob)


def test_gone_share_holder_is_named_at_reconstruction():
    bob, alice = workers("bob", "alice")
    x = fix_precision(torch.tensor([1.0])).share(bob, alice)
    alice.shutdown()
    with pytest.raises(ShareHolderGoneError, match=alice.id):
        x.get()


def test_random_ring_uses_the_whole_int64_range_independently_of_torch_seed():
    torch.manual_seed(0)
    r1 = random_ring((4000,))
    torch.manual_seed(0)
    r2 = random_ring((4000,))
    assert not torch.equal(r1, r2)  # masks do not follow torch's seed
    assert (r1 < 0).any() and (r1 > 2**62).any()
    assert chi2_top_bits(r1) < CHI2_15_CRITICAL


def _first_shares(value: float, n: int, scheme) -> torch.Tensor:
    """The share that contains the secret (x - sum of masks), for n copies of ``value``."""
    secret = fix_precision(torch.full((n,), value), headroom_bits=8).child
    return scheme(secret)


def _fedsyft_scheme(secret):
    bob, alice = workers("bob", "alice")
    s = share(secret, bob, alice)
    return bob.get_obj(s.shares[bob.id].id_at_location)


def _no_mask(secret):  # broken: share = (x, 0)
    return secret.clone()


def _small_mask(secret):  # broken: masks from a 32-bit range only
    return secret - torch.randint(0, 2**32, secret.shape)


def _looks_uniform_and_hides(scheme) -> bool:
    """A single share of 0 and of 1e6 must both be uniform and indistinguishable."""
    n = 8000
    s0, s1 = _first_shares(0.0, n, scheme), _first_shares(1e6, n, scheme)
    uniform = chi2_top_bits(s0) < CHI2_15_CRITICAL and chi2_top_bits(s1) < CHI2_15_CRITICAL
    # two-sample Kolmogorov-Smirnov on the shares read as numbers in [0, 1)
    u0 = torch.sort((s0.double() / 2.0**64) % 1.0).values
    u1 = torch.sort((s1.double() / 2.0**64) % 1.0).values
    grid = torch.cat([u0, u1])
    cdf0 = torch.searchsorted(u0, grid, right=True).double() / n
    cdf1 = torch.searchsorted(u1, grid, right=True).double() / n
    ks = float((cdf0 - cdf1).abs().max())
    ks_critical = 2.69 * (2 / n) ** 0.5  # alpha ~ 1e-6
    return uniform and ks < ks_critical


def test_a_single_share_reveals_nothing():
    assert _looks_uniform_and_hides(_fedsyft_scheme)


@pytest.mark.parametrize("broken", [_no_mask, _small_mask])
def test_the_uniformity_check_catches_broken_schemes(broken):
    assert not _looks_uniform_and_hides(broken)


# -- issue 10.5: float_precision() returns float32, or the dtype that was encoded ----------
def test_classic_comparison_with_a_float32_tensor_works():
    """The classic tutorials' check: torch.allclose(result, torch.tensor([0.6, 0.45, 0.2]))."""
    hook = sy.TorchHook(torch)
    try:
        bob, alice, james = workers("bob", "alice", "james")
        x = torch.tensor([0.1, 0.2, 0.3]).fix_precision().share(bob, alice, crypto_provider=james)
        y = torch.tensor([0.5, 0.25, -0.1]).fix_precision().share(bob, alice, crypto_provider=james)
        result = (x + y).get().float_precision()
        assert result.dtype == torch.float32
        assert torch.allclose(result, torch.tensor([0.6, 0.45, 0.2]))
        a = torch.tensor([0.3, 0.9, 0.5]).fix_precision().share(bob, alice, crypto_provider=james)
        b = torch.tensor([2.0, 0.5, 0.4]).fix_precision().share(bob, alice, crypto_provider=james)
        product = (a * b).get().float_precision()  # Beaver product: off by at most 1e-3
        assert product.dtype == torch.float32
        assert torch.allclose(product, torch.tensor([0.6, 0.45, 0.2]), atol=2e-3)
    finally:
        hook.unhook()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_shared_values_decode_to_the_dtype_that_was_encoded(dtype):
    bob, alice, james = workers("bob", "alice", "james")
    x = fix_precision(torch.tensor([1.5, -0.25], dtype=dtype)).share(bob, alice, crypto_provider=james)
    out = (x * x + x).get()
    assert isinstance(out, FixedPrecisionTensor) and out.dtype == dtype
    assert out.float_precision().dtype == dtype
    assert torch.allclose(out.float_precision().double(), torch.tensor([3.75, -0.1875], dtype=torch.float64), atol=2e-3)


def test_integer_sharings_still_come_back_as_int64():
    bob, alice = workers("bob", "alice")
    assert share(torch.tensor([3, 4]), bob, alice).get().dtype == torch.int64
