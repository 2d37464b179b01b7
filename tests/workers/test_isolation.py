"""Issue 12.1: every transfer copies. Nothing at a worker changes through a tensor returned by
get(), and nothing that crosses a worker's boundary aliases what stays on the other side."""

from __future__ import annotations

import torch
from torch import nn

from fedsyft.workers import copy, get, get_module, move, send, send_module
from fedsyft.workers.module import remote_module


def test_get_of_a_slice_does_not_reach_the_worker(workers):
    """The reported case: [1, 2, 3] at bob became [101, 102, 3]."""
    bob = workers[0]
    x = send(torch.tensor([1, 2, 3]), bob)
    got = x[0:2].get()
    got.add_(100)
    assert got.tolist() == [101, 102]
    assert x.get().tolist() == [1, 2, 3]


def test_get_of_views_and_transposes_never_aliases(workers):
    bob = workers[0]
    x = send(torch.arange(6.0).reshape(2, 3), bob)
    views = {"view": x.view(-1), "transpose": x.t(), "select": x[1], "narrow": x.narrow(1, 0, 2),
             "expand": x[0].unsqueeze(0).expand(4, 3), "detach": x.detach(), "data": x.data}
    for name, ptr in views.items():
        local = ptr.get()
        local.mul_(0) if name != "expand" else local.zero_()
        assert x.copy().get().flatten().tolist() == [0, 1, 2, 3, 4, 5], name


def test_get_of_the_base_does_not_alias_a_view_left_at_the_worker(workers):
    bob = workers[0]
    x = send(torch.tensor([1.0, 2.0, 3.0]), bob)
    v = x[:2]                 # a view, stored at bob
    base = x.get()
    base.add_(100)
    assert v.get().tolist() == [1.0, 2.0]


def test_move_and_copy_hand_over_copies(workers):
    bob, alice, _ = workers
    x = send(torch.tensor([1.0, 2.0, 3.0]), bob)
    head = x[:2].move(alice)          # a view at bob moves to alice
    head.add_(100)                    # in place, at alice
    c = x.copy()
    c.add_(1000)
    assert head.location is alice and head.get().tolist() == [101.0, 102.0]
    assert c.get().tolist() == [1001.0, 1002.0, 1003.0]
    assert x.get().tolist() == [1.0, 2.0, 3.0]   # bob's tensor never changed


def test_get_keeps_requires_grad_and_grad_of_a_leaf_as_copies(workers):
    bob = workers[0]
    w = send(torch.tensor([1.0, 2.0], requires_grad=True), bob)
    (w * w).sum().backward()
    g_ptr = w.grad
    local = w.get()
    assert local.requires_grad and local.is_leaf and local.grad.tolist() == [2.0, 4.0]
    local.grad.add_(100)
    assert g_ptr.get().tolist() == [2.0, 4.0]


def test_module_parameters_do_not_alias_across_send_and_get(workers):
    bob = workers[0]
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sd = model.state_dict()            # views of the parameters, taken before send
    weight_obj = model.weight
    send_module(model, bob)
    sd["weight"].add_(100)             # a local view: must not reach bob
    at_bob = remote_module(model)
    assert at_bob.weight is weight_obj  # the parameter object travels (optimizers keep working) ...
    assert torch.equal(at_bob.weight.detach(), before["weight"])  # ... but not its old memory
    row = model.weight[0]              # a view, stored at bob
    get_module(model)
    model.weight.data.add_(100)        # the model is back: changing it must not reach bob
    assert torch.equal(row.get(), before["weight"][0])


def test_a_parameter_pointer_get_copies(workers):
    bob = workers[0]
    model = send_module(nn.Linear(2, 1), bob)
    w = model.weight.get()             # one parameter comes back alone
    with torch.no_grad():
        w.add_(100)
    assert (remote_module(model).weight.abs() < 100).all()


def test_module_move_and_copy_isolate(workers):
    bob, alice, _ = workers
    model = send_module(nn.Linear(2, 1), bob)
    bias_at_bob = model.bias * 1       # a result computed at bob
    twin = copy(model)                 # a new model at bob
    move(model, alice)
    with torch.no_grad():
        remote_module(model).bias.add_(100)       # changed at alice
        remote_module(twin).bias.add_(1000)       # changed in the copy at bob
    assert abs(bias_at_bob.get().item()) < 100
    assert abs(get(model).bias.item()) > 50 and abs(get(twin).bias.item()) > 500


def test_execute_arguments_and_object_results_are_copies(workers):
    bob = workers[0]
    local = torch.tensor([1.0, 2.0])
    kept = {}

    def remember(t, d):
        kept["t"], kept["d"] = t, d
        t.add_(100)                    # the worker mutates what it received
        return {"seen": t, "nested": [d["x"]]}

    res = bob.execute(remember, local, {"x": local})
    assert local.tolist() == [1.0, 2.0]          # the caller's tensor is untouched
    out = res.get()
    out["seen"].zero_()
    out["nested"][0].zero_()
    assert kept["t"].tolist() == [101.0, 102.0] and kept["d"]["x"].tolist() == [1.0, 2.0]


def test_state_dict_computed_at_a_worker_comes_back_as_a_copy(workers):
    bob = workers[0]
    model = send_module(nn.Linear(2, 1), bob)
    before = remote_module(model).weight.detach().clone()
    state = bob.execute(lambda m: m.state_dict(), model).get()
    state["weight"].add_(100)
    assert torch.equal(remote_module(model).weight.detach(), before)
