"""The classic tutorials' code, verbatim in spirit: ``import fedsyft as sy``."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import fedsyft as sy


def test_hook_is_idempotent_and_removable():
    hook = sy.TorchHook(torch)
    assert sy.TorchHook(torch) is hook
    assert hasattr(torch.Tensor, "send") and hasattr(nn.Module, "get")
    assert hook.local_worker.id == "me"
    hook.unhook()
    assert not hasattr(torch.Tensor, "send") and not hasattr(nn.Module, "get")
    assert not hasattr(torch.utils.data.Dataset, "federate")
    again = sy.TorchHook(torch)
    assert hasattr(torch.Tensor, "send")
    again.unhook()


def test_everything_works_without_the_hook(workers):
    bob = workers[0]
    assert not hasattr(torch.Tensor, "send")
    p = sy.send(torch.ones(2), bob)
    assert sy.location(p) is bob and sy.get(p).tolist() == [1.0, 1.0]


def test_classic_toy_fl_reduces_loss(hook):
    """Part 2 of the classic tutorials: two workers, one model copy and optimizer each."""
    bob = sy.VirtualWorker(hook, id="bob")
    alice = sy.VirtualWorker(hook, id="alice")
    secure_worker = sy.VirtualWorker(hook, id="secure_worker")
    data = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.0]], requires_grad=True)
    target = torch.tensor([[0], [0], [1], [1.0]], requires_grad=True)
    bobs_data, bobs_target = data[0:2].send(bob), target[0:2].send(bob)
    alices_data, alices_target = data[2:].send(alice), target[2:].send(alice)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)

    def full_loss():
        return ((model(data) - target) ** 2).sum().item()

    start = full_loss()
    for _ in range(10):
        bobs_model = model.copy().send(bob)
        alices_model = model.copy().send(alice)
        bobs_opt = torch.optim.SGD(params=bobs_model.parameters(), lr=0.1)
        alices_opt = torch.optim.SGD(params=alices_model.parameters(), lr=0.1)
        for _ in range(10):
            for m, opt, x, y in ((bobs_model, bobs_opt, bobs_data, bobs_target),
                                 (alices_model, alices_opt, alices_data, alices_target)):
                opt.zero_grad()
                loss = ((m(x) - y) ** 2).sum()
                loss.backward()
                opt.step()
        alices_model.move(secure_worker)
        bobs_model.move(secure_worker)
        with torch.no_grad():
            model.weight.set_(((alices_model.weight.data + bobs_model.weight.data) / 2).get())
            model.bias.set_(((alices_model.bias.data + bobs_model.bias.data) / 2).get())
    assert full_loss() < 0.5 * start


def test_seed_article_loop_on_mnist(hook):
    """The loop of the PySyft article "Machine Learning Smarts != Privacy" over a FederatedDataLoader, on real MNIST (a subset)."""
    from fedsyft.data import MNIST
    from fedsyft.models import ClassicCNN

    bob = sy.VirtualWorker(hook, id="bob")
    alice = sy.VirtualWorker(hook, id="alice")
    mnist_train = MNIST("train").subset(np.arange(2560))
    train_loader = sy.FederatedDataLoader(mnist_train.federate((bob, alice)), batch_size=64, shuffle=True, seed=0)
    torch.manual_seed(0)
    model = ClassicCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for data, target in train_loader:
        model.send(data.location)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        model.get()
        losses.append(loss.get().item())
    assert len(losses) == len(train_loader) == 40
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert len(bob._objects) <= 4 and len(alice._objects) <= 4  # shards + at most the last batch
    assert bob.traffic.msgs_in > 20 and bob.traffic.bytes_out > 0
