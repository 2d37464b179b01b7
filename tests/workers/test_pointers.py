import pickle

import pytest
import torch
import torch.nn.functional as F

import fedsyft as sy
from fedsyft.workers import (
    GetNotPermittedError,
    ObjectNotFoundError,
    PointerTensor,
    RemoteValueError,
    TensorsNotCollocatedError,
    WorkerNotFoundError,
    send,
)


def test_send_stores_a_copy(workers):
    bob = workers[0]
    x = torch.tensor([1.0, 2.0, 3.0])
    p = send(x, bob)
    x.add_(100)  # changing the local original later ...
    assert torch.equal(p.get(), torch.tensor([1.0, 2.0, 3.0]))  # ... does not reach bob


def test_pointer_attributes_and_repr(workers):
    bob = workers[0]
    p = send(torch.zeros(2, 3), bob)
    assert isinstance(p, PointerTensor) and isinstance(p, torch.Tensor)
    assert p.location is bob and p.owner is sy.local_worker and p.owner.id == "me"
    assert p.id_at_location in bob._objects
    assert p.shape == (2, 3) and p.dtype == torch.float32 and p.dim() == 2 and len(p) == 2
    assert p.stride() == (3, 1) and p.is_contiguous() and p.numel() == 6
    r = repr(p)
    assert "PointerTensor" in r and "-> bob:" in r and "shape=(2, 3)" in r


def test_arithmetic_matmul_torch_and_functional_run_remotely(workers):
    bob = workers[0]
    a, b = torch.randn(3, 4), torch.randn(4, 2)
    pa, pb = send(a, bob), send(b, bob)
    n_before = len(bob._objects)
    results = {
        "add": (pa + 1, a + 1), "mul": (pa * pa, a * a), "sub": (2 - pa, 2 - a), "div": (pa / 2, a / 2),
        "matmul": (pa @ pb, a @ b), "torch.mm": (torch.mm(pa, pb), torch.mm(a, b)),
        "relu": (F.relu(pa), F.relu(a)), "softmax": (F.softmax(pa, dim=1), F.softmax(a, dim=1)),
        "sum": (pa.sum(dim=0), a.sum(dim=0)), "index": (pa[1:, ::2], a[1:, ::2]), "T": (pa.t(), a.t()),
        "view": (pa.view(-1), a.view(-1)), "cat": (torch.cat([pa, pa]), torch.cat([a, a])),
        "to": (pa.to("cpu"), a), "max": (pa.max(dim=1).values, a.max(dim=1).values),
    }
    assert len(bob._objects) > n_before  # results stay at bob
    for name, (ptr, expected) in results.items():
        assert isinstance(ptr, PointerTensor) and ptr.location is bob, name
        assert torch.allclose(ptr.copy().get(), expected), name


def test_inplace_ops_and_setitem(workers):
    bob = workers[0]
    p = send(torch.zeros(3), bob)
    q = p.add_(2)
    assert q is p  # in-place returns the same pointer
    p[0] = 7.0
    p.mul_(send(torch.tensor(2.0), bob))
    assert p.get().tolist() == [14.0, 4.0, 4.0]


def test_get_removes_and_second_get_explains(workers):
    bob = workers[0]
    p = send(torch.ones(2), bob)
    oid = p.id_at_location
    assert torch.equal(p.get(), torch.ones(2))
    assert oid not in bob._objects
    with pytest.raises(ObjectNotFoundError, match=r"\.get\(\) was probably already called"):
        p.get()


def test_value_reads_on_pointers_say_use_get(workers):
    bob = workers[0]
    p = send(torch.tensor([1.5]), bob)
    for read in (p.item, p.tolist, p.numpy, lambda: bool(p), lambda: float(p), lambda: int(p),
                 lambda: pickle.dumps(p), lambda: torch.allclose(p, p)):
        with pytest.raises(RemoteValueError, match=r"\.get\(\)"):
            read()


def test_collocation_errors(workers):
    bob, alice, _ = workers
    pb, pa = send(torch.ones(2), bob), send(torch.ones(2), alice)
    with pytest.raises(TensorsNotCollocatedError, match="bob.*alice"):
        pb + pa
    with pytest.raises(TensorsNotCollocatedError, match="local tensor"):
        pb + torch.ones(2)
    with pytest.raises(TensorsNotCollocatedError):
        torch.cat([pb, pa])


def test_move_transfers_and_copy_duplicates(workers):
    bob, alice, _ = workers
    p = send(torch.arange(3.0), bob)
    old = p.id_at_location
    p.move(alice)
    assert p.location is alice and old not in bob._objects
    assert alice.traffic.bytes_in == 12 and bob.traffic.bytes_out == 12
    c = p.copy()
    assert c.location is alice and c.id_at_location != p.id_at_location
    c.add_(1)
    assert p.get().tolist() == [0.0, 1.0, 2.0] and c.get().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(WorkerNotFoundError, match="carol"):
        send(torch.ones(1), alice).move("carol")
    with pytest.raises(WorkerNotFoundError, match="carol"):
        send(torch.ones(1), "carol")
    assert send(torch.ones(1), "bob").location is bob  # known ids resolve


def test_private_data_refuses_get_move_copy_but_computes(workers):
    bob, alice, _ = workers
    secret = send(torch.tensor([42.0]), bob, private=True)
    for action in (secret.get, lambda: secret.move(alice), secret.copy):
        with pytest.raises(GetNotPermittedError, match="private"):
            action()
    # A virtual worker is a simulation: nothing stops a curious party computing x + 0.
    assert (secret + 0).get().item() == 42.0


def test_garbage_collected_pointer_frees_remote_object(workers):
    bob = workers[0]
    p = send(torch.ones(2), bob)
    q = p * 2
    oid = q.id_at_location
    assert oid in bob._objects
    del q
    assert oid not in bob._objects


def test_shut_down_worker(workers):
    bob = workers[0]
    p = send(torch.ones(2), bob)
    bob.shutdown()
    with pytest.raises(WorkerNotFoundError, match="shut down"):
        p + 1
    with pytest.raises(WorkerNotFoundError):
        send(torch.ones(1), bob)


def test_to_device_and_iteration(workers):
    bob = workers[0]
    p = send(torch.arange(4.0).view(2, 2), bob)
    rows = list(p)
    assert len(rows) == 2 and all(r.location is bob for r in rows)
    assert rows[1].get().tolist() == [2.0, 3.0]
    assert p.to(torch.float64).dtype == torch.float64


def test_execute_runs_function_at_worker(workers):
    bob, alice, _ = workers
    p = send(torch.ones(3), bob)
    out = bob.execute(lambda t, k: (t * k).sum(), p, 5)
    assert out.location is bob and out.get().item() == 15.0
    with pytest.raises(TensorsNotCollocatedError):
        alice.execute(lambda t: t, p)
