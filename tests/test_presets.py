"""The CIFAR-10 presets of the "Preserving Data Privacy in Deep Learning" series, run end to
end on generated fixtures in the real CIFAR-10 python format (never called real data)."""

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from fedsyft.cli import _partitioner, build_parser, main
from fedsyft.data import CIFAR10
from fedsyft.models import get_model
from fedsyft.partition import ClassesPerClient
from fedsyft.presets import PRESETS, get_preset

# The fixture generator of tests/data/test_cifar.py (the real pickle format), loaded by path.
_spec = importlib.util.spec_from_file_location("_cifar_fixture", Path(__file__).parent / "data" / "test_cifar.py")
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)

PER_BATCH = 20  # 5 x 20 = 100 training images: 5 per client for the presets' 20 clients


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """``cifar-10-batches-py/`` with random images and labels, written as CIFAR-10 writes it."""
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(_fixture._batch(i, PER_BATCH), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(_fixture._batch(99, PER_BATCH), protocol=2))
    meta = {b"label_names": [c.encode() for c in _fixture.cifar.CIFAR10_CLASSES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def _run_args(name, *extra):
    return build_parser().parse_args(["run", "--preset", name, *extra])


def test_presets_hold_the_articles_settings():
    part1 = _run_args("privacy-series-part1")
    assert (part1.dataset, part1.model, part1.partition) == ("cifar10", "vgg19", "iid")
    assert (part1.clients, part1.selected, part1.epochs, part1.batch_size, part1.lr, part1.rounds) == \
        (20, 6, 5, 32, 0.1, 150)
    assert (part1.momentum, part1.weighting, part1.algorithm) == (0.0, "uniform", "fedavg")
    part3 = _run_args("privacy-series-part3")
    assert (part3.partition, part3.k) == ("classes_per_client", 2)
    assert {k: v for k, v in vars(part3).items() if k not in ("partition", "k", "out", "preset")} == \
        {k: v for k, v in vars(part1).items() if k not in ("partition", "k", "out", "preset")}
    for preset in PRESETS.values():
        assert "Preserving Data Privacy in Deep Learning" in preset.source and "https://" in preset.source


def test_explicit_options_override_the_preset():
    args = _run_args("privacy-series-part1", "--rounds", "3", "--lr", "0.05", "--clients", "8")
    assert (args.rounds, args.lr, args.clients) == (3, 0.05, 8)
    assert (args.selected, args.model, args.epochs) == (6, "vgg19", 5)  # the rest stays
    parser = build_parser()
    assert parser.parse_args(["run", "--preset=privacy-series-part3", "--k", "3"]).k == 3
    assert parser.parse_args(["run", "--k", "3", "--preset", "privacy-series-part3"]).k == 3  # order does not matter
    plain = parser.parse_args(["run"])  # the same parser without a preset: the plain defaults again
    assert (plain.dataset, plain.model, plain.k, plain.selected) == ("mnist", "simple_cnn", 2, None)


def test_every_preset_setting_is_a_run_option_that_passes_its_checks():
    run = build_parser()._fedsyft_commands["run"]
    dests = {a.dest: a for a in run._actions}
    for preset in PRESETS.values():
        for key, value in preset.settings.items():
            assert key in dests, f"{preset.name}: {key} is not a run option"
            action = dests[key]
            if action.choices is not None:
                assert value in action.choices
            if callable(action.type):
                assert action.type(str(value)) == value  # the option's own validation accepts it


def test_help_lists_the_presets(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    with pytest.raises(ValueError, match="choose one of privacy-series-part1"):
        get_preset("part1")


def test_preset_over_a_small_folder_is_refused_before_work(cifar_root, tmp_path, capsys):
    # the preset's 6 selected clients cannot be drawn from 4
    assert main(["run", "--preset", "privacy-series-part1", "--clients", "4", "--data-root", str(cifar_root),
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--selected (6) is greater than --clients (4)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_runs_end_to_end_on_cifar_fixtures(name, cifar_root, tmp_path):
    """One round with one local step per client: the preset's clients, selection, model and
    split as they are, only the length capped."""
    out = tmp_path / name
    argv = ["run", "--preset", name, "--data-root", str(cifar_root), "--rounds", "1", "--max-steps", "1",
            "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    hist = json.loads((out / "history.json").read_text())
    cfg = hist["config"]
    assert (cfg["num_selected"], cfg["weighting"], cfg["algorithm"]) == (6, "uniform", "fedavg")
    assert (cfg["client"]["epochs"], cfg["client"]["batch_size"], cfg["client"]["lr"]) == (5, 32, 0.1)
    assert [len(r["clients"]) for r in hist["rounds"]] == [6]
    assert 0.0 <= hist["rounds"][0]["test_accuracy"] <= 1.0
    # the model is VGG-19 with batch norm, at its full size
    saved = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    vgg19 = get_model("vgg19", in_channels=3).state_dict()
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in vgg19.items()}
    # the split: 20 clients, IID (part 1) or exactly 2 classes each (part 3)
    args = build_parser().parse_args(argv)
    labels = CIFAR10("train", root=cifar_root).targets.numpy()
    parts = _partitioner(args)(labels, args.clients)
    assert len(parts) == 20 and sum(len(p) for p in parts) == len(labels)
    if name == "privacy-series-part3":
        assert _partitioner(args) == ClassesPerClient(k=2, seed=0)
        assert all(len(np.unique(labels[p])) == 2 for p in parts)
    else:
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
