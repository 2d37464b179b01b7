import json
import subprocess
import sys

import pytest

from fedsyft.cli import build_parser, main


def test_module_help_answers():
    out = subprocess.run([sys.executable, "-m", "fedsyft", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout and "run" in out.stdout
    out = subprocess.run([sys.executable, "-m", "fedsyft", "run", "--help"], capture_output=True, text=True, check=True)
    for flag in ("--dataset", "--model", "--partition", "--alpha", "--clients", "--selected", "--rounds",
                 "--epochs", "--batch-size", "--lr", "--algorithm", "--seed", "--out", "--resume"):
        assert flag in out.stdout


def test_run_writes_history_and_plots_then_resumes(tmp_path, capsys):
    args = ["run", "--model", "mcmahan_2nn", "--partition", "classes_per_client", "--k", "2", "--clients", "5",
            "--selected", "3", "--rounds", "2", "--batch-size", "64", "--train-subset", "3000",
            "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    files = {p.name for p in tmp_path.iterdir()}
    assert {"history.json", "accuracy.png", "label_distribution.png", "checkpoint.pt"} <= files
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [r["round"] for r in hist["rounds"]] == [1, 2]
    assert all(len(r["clients"]) == 3 and r["bytes_total"] > 0 for r in hist["rounds"])
    # resume for two more rounds
    i = args.index("--rounds")
    assert main([*args[:i], "--rounds", "4", *args[i + 2:], "--resume"]) == 0
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [r["round"] for r in hist["rounds"]] == [1, 2, 3, 4]
    # a different configuration cannot resume this run
    j = args.index("--selected")
    assert main([*args[:j], "--selected", "2", *args[j + 2:], "--resume"]) == 2
    assert "different configuration" in capsys.readouterr().err


def test_bad_configuration_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "--clients", "3", "--selected", "5", "--out", str(tmp_path), "--no-progress"])
    assert code == 2
    assert "--selected (5) is greater than --clients (3)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--algorithm", "fedsgd"])
