"""Safe checkpoints (fedsyft.fl.checkpoint): nothing in a checkpoint can run; damaged files get
one clear error naming the file and what to do."""

from __future__ import annotations

import builtins
import dataclasses
import pickle

import pytest
import torch

from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.fl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fedsyft.models import get_model

CFG = FLConfig(rounds=1, client=ClientConfig(batch_size=50, max_steps=1), seed=0)


class _Payload:
    """Unpickling this object would run code that writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _trainer(fds, test, tmp_path=None):
    torch.manual_seed(0)
    return FederatedTrainer(get_model("mcmahan_2nn"), fds, test, CFG, progress=False, checkpoint_dir=tmp_path)


@pytest.fixture
def saved(fds5, mnist_small, tmp_path):
    _trainer(fds5, mnist_small[1], tmp_path).run()
    return tmp_path / "checkpoint.pt"


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_crafted_checkpoint_cannot_run_code(fds5, mnist_small, tmp_path, how):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "checkpoint.pt"
    payload = {"round": 1, "model": _Payload(marker)}
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match=r"cannot be loaded safely.*Nothing in it was run.*without --resume") as err:
        _trainer(fds5, mnist_small[1]).load_checkpoint(evil)
    assert str(evil) in str(err.value)
    assert not marker.exists()  # the code in the file never ran


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "foreign"])
def test_a_damaged_checkpoint_gives_one_clear_error(fds5, mnist_small, saved, damage):
    data = saved.read_bytes()
    if damage == "truncated":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "emptied":
        saved.write_bytes(b"")
    elif damage == "overwritten":
        saved.write_text("round,accuracy\n1,0.9\n")
    else:
        torch.save({"weights": torch.ones(3)}, saved)
    with pytest.raises(CheckpointError, match=r"Delete it .*or start without --resume") as err:
        _trainer(fds5, mnist_small[1]).load_checkpoint(saved)
    assert str(saved) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_a_checkpoint_holds_only_tensors_and_plain_values(saved, tmp_path):
    ck = torch.load(saved, weights_only=True)  # PyTorch's restricted unpickler accepts it
    assert ck["round"] == 1 and ck["aggregator"] == {"aggregator": "fedsyft.fl.aggregate.WeightedMean"}
    import numpy as np
    path = save_checkpoint({"round": np.int64(2), "x": np.float32(0.5), "a": np.arange(3)}, tmp_path / "np.pt")
    back = load_checkpoint(path, required=("round",))
    assert back["round"] == 2 and type(back["round"]) is int and torch.equal(back["a"], torch.arange(3))
    with pytest.raises(TypeError, match=r"state\['bad'\] is a object"):
        save_checkpoint({"bad": object()}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"missing \['model'\]"):
        load_checkpoint(path, required=("round", "model"))


def test_a_dp_accountant_survives_a_checkpoint(fds5, mnist_small, tmp_path):
    from fedsyft.privacy import DPFedAvgAggregator

    def trainer(**kw):
        torch.manual_seed(0)
        return FederatedTrainer(get_model("mcmahan_2nn"), fds5, mnist_small[1], dataclasses.replace(CFG, rounds=2),
                                progress=False, **kw)

    def agg():
        return DPFedAvgAggregator(clip_norm=0.5, noise_multiplier=1.0, sample_rate=1.0)

    first = trainer(aggregator=agg(), checkpoint_dir=tmp_path)
    first.run()
    again = trainer(aggregator=agg())
    again.load_checkpoint(tmp_path / "checkpoint.pt")
    assert again.aggregator.epsilon == first.aggregator.epsilon > 0 and again.aggregator.rounds == 2
    plain = trainer()
    with pytest.raises(ValueError, match="saved from fedsyft.privacy.dp.DPFedAvgAggregator"):
        plain.load_checkpoint(tmp_path / "checkpoint.pt")
