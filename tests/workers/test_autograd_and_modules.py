import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fedsyft as sy
from fedsyft.workers import ObjectNotFoundError, PointerTensor, TensorsNotCollocatedError, send


def test_remote_backward_gives_pointer_gradients(workers):
    bob = workers[0]
    x = send(torch.tensor([1.0, 2.0], requires_grad=True), bob)
    y = (x * x).sum()
    y.backward()
    g = x.grad
    assert isinstance(g, PointerTensor) and g.location is bob
    assert g.get().tolist() == [2.0, 4.0]


def test_module_called_on_pointer_runs_at_worker(workers):
    bob = workers[0]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    expected = model(x)
    model.send(bob) if hasattr(model, "send") else sy.send(model, bob)
    assert sy.location(model) is bob
    assert isinstance(model[0].weight, PointerTensor)
    out = model(send(x, bob))
    assert out.location is bob and torch.allclose(out.get(), expected)


def test_local_model_on_pointer_data_is_not_collocated(workers):
    with pytest.raises(TensorsNotCollocatedError):
        nn.Linear(2, 1)(send(torch.ones(1, 2), workers[0]))


def test_optimizer_created_before_send_steps_at_worker(workers):
    """The loop of the PySyft article "Machine Learning Smarts != Privacy": one optimizer, the model sent to each batch's worker."""
    bob = workers[0]
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = copy.deepcopy(model)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    xp, yp = send(x, bob), send(y, bob)
    for _ in range(3):
        sy.send(model, bob)
        opt.zero_grad()
        loss = F.mse_loss(model(xp), yp)
        loss.backward()
        opt.step()
        sy.get(model)
        ref_opt.zero_grad()
        F.mse_loss(ref(x), y).backward()
        ref_opt.step()
    assert isinstance(model.weight, nn.Parameter) and not isinstance(model.weight, PointerTensor)
    assert torch.allclose(model.weight, ref.weight) and torch.allclose(model.bias, ref.bias)


def test_optimizer_over_sent_model_with_momentum(workers):
    bob = workers[0]
    torch.manual_seed(1)
    model = nn.Linear(3, 1)
    ref = copy.deepcopy(model)
    sy.send(model, bob)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    xp, yp = send(x, bob), send(y, bob)
    for _ in range(4):
        opt.zero_grad()
        F.mse_loss(model(xp), yp).backward()
        opt.step()
        ref_opt.zero_grad()
        F.mse_loss(ref(x), y).backward()
        ref_opt.step()
    assert isinstance(model.weight.grad, PointerTensor)
    sy.get(model)
    assert torch.allclose(model.weight, ref.weight, atol=1e-6)


def test_model_get_twice_and_traffic(workers):
    bob = workers[0]
    model = nn.Linear(10, 10)  # 110 floats = 440 bytes
    sy.send(model, bob)
    assert bob.traffic.bytes_in == 440
    sy.get(model)
    assert bob.traffic.bytes_out == 440 and len(bob._objects) == 0
    with pytest.raises(ObjectNotFoundError, match="already called"):
        sy.get(model)


def test_model_copy_send_move_and_deepcopy(workers):
    bob, alice, _ = workers
    model = nn.Linear(2, 2)
    remote = sy.copy(model)
    sy.send(remote, bob)
    assert sy.location(model) is None and sy.location(remote) is bob
    twin = sy.copy(remote)  # a copy at the same worker
    assert sy.location(twin) is bob
    sy.move(remote, alice)
    assert sy.location(remote) is alice
    assert isinstance(copy.deepcopy(remote).weight, PointerTensor)
    with pytest.raises(TensorsNotCollocatedError, match="already at worker 'alice'"):
        sy.send(remote, bob)
    back = sy.get(remote)
    assert torch.equal(back.weight, model.weight) and back is remote
    assert torch.equal(sy.get(twin).weight, model.weight)


def test_batchnorm_buffers_travel(workers):
    bob = workers[0]
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    sy.send(model, bob)
    model(send(torch.randn(16, 3) * 5 + 3, bob))
    sy.get(model)
    assert model[1].num_batches_tracked.item() == 1
    assert model[1].running_mean.abs().sum() > 0


def test_trusted_aggregator_average_equals_plain_average(workers):
    bob, alice, secure = workers
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    expected_w = (a.weight.detach() + b.weight.detach()) / 2
    sy.send(a, bob)
    sy.send(b, alice)
    sy.move(a, secure)
    sy.move(b, secure)
    avg = ((a.weight.data + b.weight.data) / 2).get()
    assert torch.allclose(avg, expected_w)
    assert secure.traffic.bytes_in == 2 * (6 + 2) * 4
