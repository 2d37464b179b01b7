"""Issues 11.5 and 12.6: one live worker per id (a re-created worker retires the old one, with
an error that says so), registrations that would overwrite say so, the hook's methods do not
depend on import order, and errors after a double get(), a cleared worker or a stale optimizer
say what to do next."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fedsyft as sy
from fedsyft.workers import (
    BaseWorker,
    LocalWorker,
    ObjectNotFoundError,
    VirtualWorker,
    WorkerNotFoundError,
    get_module,
    known_workers,
    register_extension,
    resolve_worker,
    send,
    send_module,
)
from fedsyft.workers.hook import registered_extensions

ROOT = Path(__file__).resolve().parents[2]


# -- one live worker per id (11.5) -------------------------------------------------------
def test_recreating_a_worker_retires_the_old_one_with_a_clear_error():
    old = VirtualWorker(id="reg_bob")
    x = send(torch.ones(2), old)
    new = VirtualWorker(id="reg_bob")
    assert resolve_worker("reg_bob") is new and known_workers()["reg_bob"] is new
    assert not old.alive and "replaced" in repr(old) and len(old._objects) == 0
    for action in (x.get, lambda: x + 1, lambda: send(torch.ones(1), old), lambda: old.execute(len, [1])):
        with pytest.raises(WorkerNotFoundError, match=r"was replaced.*send the data or model to it again"):
            action()
    assert send(torch.ones(2), "reg_bob").location is new  # by name: the new one
    new.shutdown()


def test_rerunning_a_notebook_cell_that_creates_bob_keeps_working(hook):
    """What nbval and students do: run the cells that create bob, send and train, twice."""
    def cells():
        torch.manual_seed(0)
        bob = sy.VirtualWorker(hook, id="rerun_bob")
        data = torch.randn(8, 3).send(bob)
        target = torch.randn(8, 1).send(bob)
        model = nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.send(bob)
        opt.zero_grad()
        loss = F.mse_loss(model(data), target)
        loss.backward()
        opt.step()
        model.get()
        return bob, loss.get().item()

    bob1, loss1 = cells()
    bob2, loss2 = cells()
    assert bob1 is not bob2 and not bob1.alive and bob2.alive
    assert loss2 == loss1  # the re-run gives the same result
    bob2.shutdown()


def test_the_local_worker_id_cannot_be_taken():
    with pytest.raises(ValueError, match="'me' is the local worker's"):
        VirtualWorker(id="me")
    assert sy.local_worker.alive and isinstance(resolve_worker("me"), LocalWorker)


@pytest.mark.parametrize("bad", ["", None, 3, b"bob"])
def test_worker_ids_must_be_non_empty_strings(bad):
    with pytest.raises(ValueError, match="id must be a non-empty string"):
        VirtualWorker(id=bad)


def test_storage_workers_say_they_cannot_execute():
    store = BaseWorker(id="reg_store")
    with pytest.raises(NotImplementedError, match="use a VirtualWorker"):
        store.execute(len, [1])
    store.shutdown()


# -- registrations (11.5) --------------------------------------------------------------
class _Thing:
    pass


def _twice(self):
    return 2


def _thrice(self):
    return 3


def test_register_extension_refuses_to_overwrite_silently(hook):
    register_extension(_Thing, "reg_n", _twice)
    register_extension(_Thing, "reg_n", _twice)          # the same function again: fine
    with pytest.raises(ValueError, match=r"_Thing.reg_n is already registered as .*_twice.*replace=True"):
        register_extension(_Thing, "reg_n", _thrice)
    assert _Thing().reg_n() == 2
    register_extension(_Thing, "reg_n", _thrice, replace=True)
    assert _Thing().reg_n() == 3
    with pytest.raises(ValueError, match="one of the hook's own methods"):
        register_extension(torch.Tensor, "send", _twice)


def test_the_higher_layers_register_their_methods_once():
    names = {(cls.__name__, name) for cls, name in registered_extensions()}
    assert {("Tensor", "share"), ("Tensor", "fix_precision"), ("Tensor", "float_precision"),
            ("PointerTensor", "share"), ("Dataset", "federate")} <= names


_ORDERS = {  # each in a fresh interpreter
    "hook module only": "from fedsyft.workers.hook import TorchHook; import torch; h = TorchHook(torch)",
    "sharing first": "import fedsyft.privacy.sharing; import torch, fedsyft as sy; h = sy.TorchHook(torch)",
}


@pytest.mark.parametrize("order", list(_ORDERS))
def test_hooked_methods_do_not_depend_on_import_order(order):
    code = textwrap.dedent(f"""
        {_ORDERS[order]}
        import torch
        from torch.utils.data import Dataset
        print(sorted(n for n in ("send", "share", "fix_precision", "float_precision")
                     if hasattr(torch.Tensor, n)), hasattr(Dataset, "federate"))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "['fix_precision', 'float_precision', 'send', 'share'] True"


# -- errors that say what to do (12.6) -----------------------------------------------------
def test_double_get_says_keep_the_first_value_or_send_again(workers):
    bob = workers[0]
    p = send(torch.ones(2), bob)
    p.get()
    with pytest.raises(ObjectNotFoundError) as err:
        p.get()
    msg = str(err.value)
    assert ".get() was probably already called" in msg
    assert "keep and use the value the first .get() returned" in msg and "x.send(bob)" in msg


def test_cleared_worker_says_it_was_cleared_and_what_to_do(workers):
    bob = workers[0]
    p = send(torch.ones(2), bob)
    bob.clear_objects()
    for action in (p.get, lambda: p * 2, p.copy):
        with pytest.raises(ObjectNotFoundError, match=r"was cleared \(clear_objects\(\)\).*send the tensor again"):
            action()


def test_optimizer_built_at_the_worker_then_stepped_after_get_explains():
    bob = VirtualWorker(id="reg_opt_bob")
    model = send_module(nn.Linear(3, 1), bob)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)   # over pointers: the model is at bob
    F.mse_loss(model(send(torch.randn(4, 3), bob)), send(torch.randn(4, 1), bob)).backward()
    opt.step()                                            # fine while the model is at bob
    get_module(model)
    for action in (opt.step, opt.zero_grad):
        with pytest.raises(ObjectNotFoundError) as err:
            action()
        msg = str(err.value)
        assert "brought back (model.get()) from worker 'reg_opt_bob'" in msg
        assert "call opt.step() before model.get()" in msg
        assert "build the optimizer again over the local parameters" in msg
    opt = torch.optim.SGD(model.parameters(), lr=0.1)     # the advice works
    F.mse_loss(model(torch.randn(4, 3)), torch.randn(4, 1)).backward()
    opt.step()
    bob.shutdown()
