"""``python -m fedsyft flower``: fedsyft.flower.cli.main, called directly."""

import argparse
import json
import socket

import pytest

from fedsyft.fl import History
from fedsyft.flower import cli


def test_add_parser_registers_flower_with_the_knobs_of_run():
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["flower", "--engine", "deployment", "--supernodes", "4", "--partition", "dirichlet",
                              "--alpha", "0.3", "--algorithm", "fedprox", "--mu", "0.1", "--rounds", "2",
                              "--train-subset", "800", "--batch-size", "16", "--lr", "0.05", "--momentum", "0"])
    assert (args.command, args.engine, args.clients, args.algorithm, args.mu) == ("flower", "deployment", 4, "fedprox", 0.1)
    task = cli.build_task(args)
    assert task.num_clients == 4 and task.config.algorithm == "fedprox" and task.config.client.batch_size == 16
    assert sum(len(p) for p in task.partition) == 800


def test_bad_arguments_exit_2_with_the_reason(capsys, tmp_path):
    assert cli.main(["--supernodes", "2", "--selected", "3", "--out", str(tmp_path)]) == 2
    assert "--selected (3) is greater than --supernodes (2)" in capsys.readouterr().err


def test_port_in_use_exits_2_and_names_the_port(capsys, tmp_path):
    pytest.importorskip("flwr")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = cli.main(["--engine", "deployment", "--supernodes", "1", "--port", str(port), "--rounds", "1",
                         "--train-subset", "100", "--out", str(tmp_path)])
    assert code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


@pytest.mark.slow
def test_simulation_prints_accuracy_per_round_and_writes_runs_history(capsys, tmp_path):
    pytest.importorskip("ray")
    code = cli.main(["--engine", "simulation", "--supernodes", "2", "--rounds", "2", "--model", "mcmahan_2nn",
                     "--train-subset", "400", "--test-subset", "500", "--max-steps", "3", "--lr", "0.05",
                     "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "round   1: test accuracy" in out and "round   2: test accuracy" in out
    history = History.from_json(tmp_path / "history.json")
    assert len(history) == 2 and history.config["engine"] == "flower-simulation"
    assert history.config["rounds"] == 2 and history.config["client"]["max_steps"] == 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["final_accuracy"] == history.final_accuracy > 0.3
