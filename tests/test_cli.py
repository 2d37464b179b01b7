"""The command line as a newcomer meets it: runs, resumes, and every mistake gets one clear
line that names the option, the right exit status, no traceback and no folder left behind."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fedsyft.cli as cli
from fedsyft.cli import build_parser, main
from fedsyft.device import resolve_device
from fedsyft.fl.aggregate import WEIGHTINGS
from fedsyft.fl.loop import ALGORITHMS
from fedsyft.models import MODELS
from fedsyft.partition import PARTITIONERS

REPO = Path(__file__).resolve().parents[1]
RUN_ARGS = ["run", "--model", "mcmahan_2nn", "--partition", "classes_per_client", "--k", "2", "--clients", "5",
            "--selected", "3", "--rounds", "2", "--batch-size", "64", "--train-subset", "3000", "--no-progress"]


def _module(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "fedsyft", *args], capture_output=True, text=True,
                          env=env, cwd=cwd)


def test_module_help_answers(capsys):
    out = _module("--help")
    assert out.returncode == 0
    assert "demo" in out.stdout and "run" in out.stdout
    assert out.stdout.startswith("usage: python -m fedsyft ")  # prog under -m
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr()
    for flag in ("--dataset", "--model", "--partition", "--alpha", "--clients", "--selected", "--rounds",
                 "--epochs", "--batch-size", "--lr", "--algorithm", "--seed", "--out", "--resume",
                 "--preset", "--download", "--device", "--backend"):
        assert flag in out.out


def test_console_script_name_and_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    from importlib.metadata import PackageNotFoundError, version

    try:
        expected = version("fedsyft")
    except PackageNotFoundError:
        import fedsyft

        expected = fedsyft.__version__
    assert out == f"fedsyft {expected}"
    assert main(["run", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: fedsyft run ")


def _help_of(parser, action):
    return parser._get_formatter()._expand_help(action) if action.help else ""


@pytest.mark.parametrize("command", ["demo", "run"])
def test_help_shows_each_default_once_and_no_rst(command):
    parser = build_parser()
    sub = parser._fedsyft_commands[command]
    for action in sub._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = _help_of(sub, action)
        shown = text.count("(default:")
        if action.default is False or action.dest == "preset":
            assert shown == 0, (action.option_strings, text)  # a flag, or no preset
        elif action.default is None:
            assert shown == 1 and "None" not in text, (action.option_strings, text)  # "(default: all)"
        else:
            assert shown == 1, (action.option_strings, text)
            assert str(action.default) in text
    for text in (parser.format_help(), sub.format_help()):
        assert "``" not in text and ":func:" not in text


def test_choices_come_from_the_package_registries():
    run = build_parser()._fedsyft_commands["run"]
    choices = {a.dest: list(a.choices) for a in run._actions if a.choices is not None}
    assert choices["model"] == list(MODELS)
    assert choices["partition"] == [*PARTITIONERS, "classic"]
    assert choices["algorithm"] == list(ALGORITHMS)
    assert choices["weighting"] == list(WEIGHTINGS)


def test_run_writes_history_and_plots_then_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = [*RUN_ARGS, "--out", str(out)]
    assert main(args) == 0
    files = {p.name for p in out.iterdir()}
    assert {"history.json", "accuracy.png", "label_distribution.png", "checkpoint.pt", "summary.json"} <= files
    hist = json.loads((out / "history.json").read_text())
    assert [r["round"] for r in hist["rounds"]] == [1, 2]
    assert all(len(r["clients"]) == 3 and r["bytes_total"] > 0 for r in hist["rounds"])
    # resume for two more rounds
    i = args.index("--rounds")
    assert main([*args[:i], "--rounds", "4", *args[i + 2:], "--resume"]) == 0
    hist = json.loads((out / "history.json").read_text())
    assert [r["round"] for r in hist["rounds"]] == [1, 2, 3, 4]
    capsys.readouterr()
    # a different configuration cannot resume this run: a run-time error, exit 1
    j = args.index("--selected")
    assert main([*args[:j], "--selected", "2", *args[j + 2:], "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fedsyft: error: ") and "different configuration" in err and "Traceback" not in err
    assert (out / "checkpoint.pt").is_file()  # the user's run is untouched


# -- every mistake: usage errors (exit 2) named by option, before any work ----------------
BAD_USAGE = [
    (["run", "--model", "resnet18"], "--model"),
    (["run", "--clients", "0"], "--clients must be an integer >= 1, got 0"),
    (["run", "--clients", "-3"], "--clients must be an integer >= 1, got -3"),
    (["run", "--rounds", "-1"], "--rounds must be an integer >= 1, got -1"),
    (["run", "--rounds", "0"], "--rounds must be an integer >= 1, got 0"),
    (["run", "--rounds", "2.5"], "--rounds must be an integer >= 1, got '2.5'"),
    (["run", "--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["run", "--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["run", "--lr", "0"], "--lr must be a finite number > 0, got 0"),
    (["run", "--lr", "-0.1"], "--lr must be a finite number > 0, got -0.1"),
    (["run", "--lr", "fast"], "--lr must be a finite number > 0, got 'fast'"),
    (["run", "--train-subset", "0"], "--train-subset must be an integer >= 1, got 0"),
    (["run", "--train-subset", "-5"], "--train-subset must be an integer >= 1, got -5"),
    (["run", "--clients", "3", "--selected", "5"], "--selected (5) is greater than --clients (3)"),
    (["run", "--selected", "0"], "--selected must be an integer >= 1, got 0"),
    (["run", "--partition", "dirichlet", "--alpha", "0"], "--alpha must be a finite number > 0, got 0"),
    (["run", "--alpha", "inf"], "--alpha must be a finite number > 0, got inf"),
    (["run", "--beta", "-1"], "--beta must be a finite number > 0, got -1"),
    (["run", "--k", "0"], "--k must be an integer >= 1, got 0"),
    (["run", "--partition", "classes_per_client", "--k", "11"], "--k (11) is more than the 10 classes"),
    (["run", "--shards-per-client", "0"], "--shards-per-client must be an integer >= 1"),
    (["run", "--min-size", "-1"], "--min-size must be an integer >= 0, got -1"),
    (["run", "--epochs", "0"], "--epochs must be an integer >= 1"),
    (["run", "--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["run", "--momentum", "1"], "--momentum must be a number in [0, 1), got 1"),
    (["run", "--momentum", "-0.5"], "--momentum must be a number in [0, 1)"),
    (["run", "--mu", "-1"], "--mu must be a finite number >= 0, got -1"),
    (["run", "--mu", "nan"], "--mu must be a finite number >= 0, got nan"),
    (["run", "--max-steps", "0"], "--max-steps must be an integer >= 1"),
    (["run", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["run", "--algorithm", "fedsgd"], "--algorithm"),
    (["run", "--weighting", "none"], "--weighting"),
    (["run", "--partition", "pathological"], "--partition"),
    (["run", "--dataset", "imagenet"], "--dataset"),
    (["run", "--device", "tpu"], "--device"),
    (["run", "--device", "cuda:99"], "--device"),  # no machine here has 100 GPUs
    (["run", "--backend", "gpu"], "--backend"),
    (["run", "--preset", "part1"], "--preset"),
    (["run", "--round", "1"], "--round"),  # no abbreviations: not taken as --rounds
    (["run", "--out"], "--out"),
    (["run", "--model", "vgg19", "--dataset", "mnist"], "--model vgg19 does not fit --dataset mnist"),
    (["run", "--model", "classic_cnn", "--dataset", "cifar10"], "--model classic_cnn does not fit --dataset cifar10"),
    (["run", "--download"], "--download applies to --dataset cifar10"),
    (["run", "--data-root", "/nonexistent/fedsyft-data"], "--data-root /nonexistent/fedsyft-data is not a folder"),
    (["run", "--resume"], "--resume: there is no checkpoint at"),
    (["demo", "--rounds", "0"], "--rounds must be an integer >= 1, got 0"),
    (["demo", "--device", "tpu"], "--device"),
    (["demo", "--round", "3"], "--round"),
    (["demo", "--clients", "3"], "--clients"),  # the demo's arguments are fixed
    (["train"], "train"),
]


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fails the test if a dataset is loaded: usage errors must come before any work."""
    def refuse(*_a, **_k):
        raise AssertionError("a dataset was loaded before the arguments were checked")

    monkeypatch.setattr(cli, "_load", refuse)


@pytest.mark.parametrize("argv, message", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_usage_error_names_the_option_exits_2_before_any_work(argv, message, tmp_path, capsys, no_data_loading):
    out = tmp_path / "out"
    full = [*argv, "--out", str(out)] if argv[-1] != "--out" and argv != ["train"] else argv
    assert main(full) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and err.count("error:") == 1  # the usage, then one error line
    assert message in err.strip().splitlines()[-1]
    assert not out.exists()  # no output folder made


def test_usage_errors_from_a_shell(tmp_path):
    """The real process: exit status 2, the option named, no traceback, nothing created."""
    out = tmp_path / "out"
    proc = _module("run", "--rounds", "-1", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("error: --rounds must be an integer >= 1, got -1")
    assert "Traceback" not in proc.stderr and not out.exists()


# -- --out that cannot hold a run --------------------------------------------------------
def _unwritable_folder(tmp_path) -> Path:
    """A folder the OS refuses to write in: a read-only folder, or (for root, whom a mode
    does not stop) /proc/self on Linux, where nothing can be created."""
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").mkdir()
    except OSError:
        return ro
    (ro / "probe").rmdir()
    if Path("/proc/self").is_dir():
        return Path("/proc/self")
    pytest.skip("this user can write everywhere and the OS has no /proc to refuse a folder")


@pytest.mark.parametrize("case", ["existing file", "under a file", "read-only"])
def test_out_that_cannot_hold_a_run(case, tmp_path, capsys, no_data_loading):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("the user's file")
    out = {"existing file": blocker, "under a file": blocker / "run",
           "read-only": _unwritable_folder(tmp_path) / "fedsyft-run"}[case]
    assert main(["run", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and "Traceback" not in err
    assert blocker.read_text() == "the user's file"
    assert not (out.exists() and out.is_dir())


# -- run-time errors (exit 1): one line, the fix named ----------------------------------
def test_cifar10_offline_names_download_and_leaves_no_folder(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "runs" / "cifar"
    code = main(["run", "--dataset", "cifar10", "--model", "cifar_cnn", "--data-root", str(data),
                 "--out", str(out), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("fedsyft: error: CIFAR-10 not found") and err.count("\n") == 1
    assert "--download" in err and "cifar-10-python.tar.gz" in err and str(data) in err
    assert "load_cifar10(download=True)" not in err and "Traceback" not in err
    assert not out.exists() and not out.parent.exists()  # both folders were made by this run: gone
    assert data.is_dir()  # the user's folder stays


def test_more_clients_than_samples_is_a_clear_run_error(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--train-subset", "5", "--clients", "10", "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "--clients (10) is more than the 5 training samples (--train-subset)" in err
    assert "Traceback" not in err and not out.exists()


def test_existing_out_folder_is_never_removed_on_failure(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()  # the user's (empty) folder
    assert main(["run", "--train-subset", "5", "--clients", "10", "--out", str(out), "--no-progress"]) == 1
    assert out.is_dir()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    args = ["run", "--model", "mcmahan_2nn", "--clients", "2", "--rounds", "1", "--train-subset", "400",
            "--max-steps", "2", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    return args, out


@pytest.mark.parametrize("damage", ["garbage", "emptied", "truncated"])
def test_resume_on_a_damaged_checkpoint_is_one_clear_error(damage, finished_run, tmp_path, capsys):
    args, src = finished_run
    out = tmp_path / "run"
    out.mkdir()
    good = (src / "checkpoint.pt").read_bytes()
    ck = out / "checkpoint.pt"
    ck.write_bytes({"garbage": b"this is not a checkpoint \x00\x01\x02" * 10, "emptied": b"",
                    "truncated": good[: len(good) // 2]}[damage])
    i = args.index("--out")
    capsys.readouterr()
    assert main([*args[:i], "--out", str(out), *args[i + 2:], "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fedsyft: error: ") and err.count("\n") == 1, err
    assert str(ck) in err and "without --resume" in err and "Traceback" not in err
    assert out.is_dir()  # the user's run folder stays


def test_demo_is_the_same_run_with_device_and_backend_passed_on(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(args):
        seen["args"] = args
        return {"final_accuracy": 0.5, "rounds": args.rounds, "seconds": 0.0, "out": args.out, "files": []}

    monkeypatch.setattr(cli, "run_experiment", fake_run)
    assert main(["demo", "--device", "cpu", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    a = seen["args"]
    assert (a.dataset, a.model, a.partition, a.alpha, a.clients, a.epochs, a.batch_size, a.lr, a.momentum,
            a.algorithm, a.seed, a.rounds, a.selected) == \
        ("mnist", "simple_cnn", "dirichlet", 0.5, 10, 1, 32, 0.01, 0.9, "fedavg", 0, 8, None)
    assert a.device == torch.device("cpu") and a.backend == "workers" and a.no_progress
    assert build_parser().parse_args(["run"]).device == resolve_device("auto")
