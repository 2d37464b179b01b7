import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedsyft.privacy import FixedPrecisionTensor, decode, encode, fix_precision, float_precision
from fedsyft.workers import send

from ._helpers import workers

finite = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(xs=st.lists(finite, min_size=1, max_size=20), prec=st.integers(0, 6))
def test_roundtrip_within_half_unit(xs, prec):
    x = torch.tensor(xs, dtype=torch.float64)
    fp = fix_precision(x, precision_fractional=prec)
    assert fp.child.dtype == torch.int64
    assert torch.all((fp.float_precision() - x).abs() <= 0.5 * 10.0**-prec + 1e-9)


@settings(max_examples=60, deadline=None)
@given(a=st.lists(finite, min_size=3, max_size=3), b=st.lists(finite, min_size=3, max_size=3))
def test_arithmetic_matches_floats(a, b):
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    fa, fb = fix_precision(ta), fix_precision(tb)
    tol = 1e-3
    assert torch.allclose((fa + fb).float_precision(), ta + tb, atol=tol)
    assert torch.allclose((fa - fb).float_precision(), ta - tb, atol=tol)
    assert torch.allclose((fa * 3).float_precision(), ta * 3, atol=2 * tol)
    # product: both inputs off by <= 5e-4, so the error grows with their size
    bound = 5e-4 * (ta.abs() + tb.abs()) + 1e-3
    assert torch.all(((fa * fb).float_precision() - ta * tb).abs() <= bound)
    assert torch.allclose(fa.sum().float_precision(), ta.sum(), atol=2e-3)


def test_matmul_and_float_scalar():
    a = torch.tensor([[1.5, -2.0], [0.25, 3.0]])
    b = torch.tensor([[2.0], [-1.0]])
    out = (fix_precision(a) @ fix_precision(b)).float_precision()
    assert torch.allclose(out, a @ b, atol=1e-3)
    assert torch.allclose((fix_precision(a) * 0.5).float_precision(), a * 0.5, atol=1e-3)
    assert torch.allclose((1.0 - fix_precision(a)).float_precision(), 1 - a, atol=1e-3)


def test_encoding_documented_example():
    x = fix_precision(torch.tensor([3.14159, -2.0]))
    assert x.child.tolist() == [3142, -2000]
    assert (x.base, x.precision_fractional, x.scale) == (10, 3, 1000)
    assert "FixedPrecisionTensor" in repr(x)


def test_ring_wraps_around_like_int64():
    big = torch.tensor([2**62], dtype=torch.int64)
    assert (big * 4).item() == 0  # 2**64 == 0 in the ring
    assert (torch.tensor([2**63 - 1]) + 1).item() == -(2**63)


def test_overflow_is_detected_at_encoding_and_product():
    with pytest.raises(OverflowError, match=r"2\*\*31"):
        fix_precision(torch.tensor([3e6]))
    fix_precision(torch.tensor([2e6]))  # inside the safe range
    with pytest.raises(OverflowError, match="precision_fractional"):
        fix_precision(torch.tensor([1.0]), precision_fractional=19)
    big = FixedPrecisionTensor(torch.tensor([2**40]))
    with pytest.raises(OverflowError, match="wrap"):
        big * big
    with pytest.raises(ValueError, match="NaN"):
        fix_precision(torch.tensor([math.nan]))


def test_headroom_bits_widens_the_range():
    x = torch.tensor([1e7])
    assert float(fix_precision(x, headroom_bits=8).float_precision()) == 1e7


def test_mixed_encodings_refused():
    with pytest.raises(ValueError, match="different encodings"):
        fix_precision(torch.ones(1)) + fix_precision(torch.ones(1), precision_fractional=2)


def test_encode_decode_functions_and_int_tensors():
    assert encode(torch.tensor([0.5]), precision_fractional=2).tolist() == [50]
    assert decode(torch.tensor([50]), precision_fractional=2).tolist() == [0.5]
    assert fix_precision(torch.tensor([2])).child.tolist() == [2000]
    assert float_precision(torch.tensor([1500])).tolist() == [1.5]
    with pytest.raises(TypeError):
        float_precision(torch.tensor([1.5]))
    with pytest.raises(TypeError, match="int64"):
        FixedPrecisionTensor(torch.tensor([1.0]))


def test_fix_precision_of_a_pointer_runs_at_its_worker():
    (bob,) = workers("bob")
    p = send(torch.tensor([1.25, -0.5]), bob)
    cmds = bob.traffic.commands
    fp = fix_precision(p)
    assert fp.location is bob and not fp.is_local
    assert bob.traffic.commands > cmds
    assert bob.get_obj(fp.child.id_at_location).dtype == torch.int64  # encoded at bob
    with pytest.raises(TypeError, match=r"\.get\(\)"):
        fp.float_precision()
    assert fp.get().float_precision().tolist() == [1.25, -0.5]


# -- issue 10.5: the decoded dtype ----------------------------------------------------------
@pytest.mark.parametrize("x,dtype", [
    (torch.tensor([0.6, 0.45]), torch.float32),
    (torch.tensor([0.6, 0.45], dtype=torch.float64), torch.float64),
    (torch.tensor([3, -2]), torch.float32),            # integers: float32, as classic PySyft
    ([0.6, 0.45], torch.get_default_dtype()),          # a list: torch's default dtype
])
def test_float_precision_returns_the_encoded_dtype(x, dtype):
    out = fix_precision(x).float_precision()
    assert out.dtype == dtype
    assert torch.allclose(out, torch.as_tensor(x).to(dtype))


def test_remote_encoding_remembers_the_dtype():
    (bob,) = workers("bob")
    enc = fix_precision(send(torch.tensor([0.5], dtype=torch.float64), bob))
    assert enc.dtype == torch.float64 and enc.get().float_precision().dtype == torch.float64


@pytest.mark.parametrize("bad", [torch.int64, torch.bool, "float32", None.__class__])
def test_the_decoded_dtype_must_be_floating(bad):
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        FixedPrecisionTensor(torch.tensor([1]), dtype=bad)


@pytest.mark.parametrize("bad", [torch.tensor([1.5]), torch.tensor([1], dtype=torch.int32), [1]])
def test_the_child_must_be_int64(bad):
    with pytest.raises(TypeError, match="holds int64 ring elements"):
        FixedPrecisionTensor(bad)
