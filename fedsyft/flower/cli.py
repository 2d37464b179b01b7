"""``python -m fedsyft flower``: the knobs of ``run``, on Flower's simulation or deployment engine.

    python -m fedsyft flower --engine simulation --supernodes 10 --rounds 5
    python -m fedsyft flower --engine deployment --supernodes 3 --partition dirichlet --alpha 0.5

The simulation engine runs every client as a virtual SuperNode on Ray; the deployment engine
starts a SuperLink and one SuperNode process per client on 127.0.0.1 (free ports, everything
stopped and removed at the end). Accuracy is printed per round and ``OUT/history.json`` has the
same layout as ``python -m fedsyft run`` writes. Registered in ``fedsyft/cli.py`` with
``add_parser(subparsers)``; ``main(args)`` returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATASETS = ("mnist", "fashion_mnist", "cifar10")
ENGINES = ("simulation", "deployment")


def _partition_names() -> list[str]:
    from ..partition import PARTITIONERS

    return ["classic", *PARTITIONERS]


def _model_names() -> list[str]:
    from ..models import MODELS

    return sorted(MODELS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``flower`` command to a ``subparsers`` object (from ``add_subparsers()``)."""
    p = subparsers.add_parser(
        "flower", help="the same clients on Flower: simulation (Ray) or SuperLink + SuperNodes",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(p)
    return p


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = "(default: %(default)s)"
    p.add_argument("--engine", choices=ENGINES, default="simulation", help=f"Flower's engine {d}")
    p.add_argument("--supernodes", "--clients", dest="clients", type=int, default=10,
                   help=f"SuperNodes, one per client and partition {d}")
    p.add_argument("--port", type=int, default=None, help="deployment: the SuperLink's port (default: a free one)")
    p.add_argument("--num-cpus", type=int, default=2, help=f"simulation: CPUs Ray may use {d}")
    p.add_argument("--cpus-per-client", type=float, default=1, help=f"simulation: CPUs per ClientApp {d}")
    p.add_argument("--on-client-failure", choices=("raise", "continue"), default="raise",
                   help=f"a lost SuperNode fails the run, or the round goes on without it {d}")
    p.add_argument("--round-timeout", type=float, default=600.0, help=f"seconds to wait for a round's replies {d}")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: the shipped copies)")
    p.add_argument("--model", choices=_model_names(), default="simple_cnn")
    p.add_argument("--partition", choices=_partition_names(), default="iid")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (dirichlet)")
    p.add_argument("--beta", type=float, default=0.5, help="size concentration (quantity_skew)")
    p.add_argument("--k", type=int, default=2, help="classes per client (classes_per_client, label_quantity)")
    p.add_argument("--shards-per-client", type=int, default=2, help="(shards)")
    p.add_argument("--min-size", type=int, default=10, help="minimum client size (dirichlet, quantity_skew)")
    p.add_argument("--selected", type=int, default=None, help="clients per round (default: all)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1, help="local epochs")
    p.add_argument("--batch-size", type=int, default=32, help="local batch size")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--max-steps", type=int, default=None, help="cap on local steps per round")
    p.add_argument("--algorithm", choices=("fedavg", "fedprox"), default="fedavg")
    p.add_argument("--mu", type=float, default=0.01, help="FedProx proximal weight")
    p.add_argument("--weighting", choices=("samples", "uniform"), default="samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-subset", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--threads", type=int, default=1, help="torch threads per client process (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: %(default)s)")
    p.add_argument("--out", default="runs/flower", help="output folder for history.json and summary.json")
    p.add_argument("--no-progress", action="store_true", help="do not print accuracy per round")
    return p


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser for ``flower`` (what ``python -m fedsyft flower`` parses)."""
    return configure_parser(argparse.ArgumentParser(prog="python -m fedsyft flower", description=__doc__,
                                                    formatter_class=argparse.RawDescriptionHelpFormatter))


def build_task(args):
    """The :class:`~fedsyft.flower.FlowerTask` for parsed arguments (the partition is drawn here)."""
    from ..data.federated import classic_split
    from ..fl import ClientConfig, FLConfig
    from ..partition import get_partitioner
    from .task import FlowerTask, _load_split

    if args.clients < 1:
        raise ValueError(f"--supernodes must be >= 1, got {args.clients}.")
    if args.selected is not None and args.selected > args.clients:
        raise ValueError(f"--selected ({args.selected}) is greater than --supernodes ({args.clients}).")
    train = _load_split(args.dataset, args.data_root, "train")
    n = len(train) if not args.train_subset else min(args.train_subset, len(train))
    labels = train.targets[:n].numpy()
    if args.partition == "classic":
        parts = classic_split(n, args.clients)
    else:
        params = {"seed": args.seed}
        if args.partition == "dirichlet":
            params.update(alpha=args.alpha, min_size=args.min_size)
        elif args.partition == "quantity_skew":
            params.update(beta=args.beta, min_size=args.min_size)
        elif args.partition in ("classes_per_client", "label_quantity"):
            params.update(k=args.k)
        elif args.partition == "shards":
            params.update(shards_per_client=args.shards_per_client)
        parts = get_partitioner(args.partition, **params)(labels, args.clients)
    config = FLConfig(rounds=args.rounds, num_selected=args.selected, algorithm=args.algorithm, mu=args.mu,
                      weighting=args.weighting, seed=args.seed,
                      client=ClientConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          momentum=args.momentum, max_steps=args.max_steps))
    return FlowerTask(parts, config, model=args.model, dataset=args.dataset, data_root=args.data_root,
                      train_subset=args.train_subset, test_subset=args.test_subset, device=args.device,
                      threads=args.threads)


def run_flower(args) -> dict:
    """Run the experiment of ``args``; writes ``history.json`` and ``summary.json``; returns the summary."""
    from .deployment import run_deployment
    from .simulation import run_simulation

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = build_task(args)
    progress = not args.no_progress

    def show(rec) -> None:
        if progress:
            lost = f"  lost {', '.join(rec.extra['lost_clients'])}" if rec.extra.get("lost_clients") else ""
            print(f"round {rec.round:3d}: test accuracy {100 * rec.test_accuracy:.2f}%  loss {rec.test_loss:.4f}  "
                  f"({rec.seconds:.1f} s){lost}", flush=True)

    if progress:
        print(f"Flower {args.engine} engine: {args.clients} SuperNodes, {args.dataset} ({args.partition}), "
              f"model {args.model}, {args.algorithm}, {args.rounds} rounds", flush=True)
    if args.engine == "simulation":
        result = run_simulation(task, num_cpus=args.num_cpus, cpus_per_client=args.cpus_per_client,
                                on_client_failure=args.on_client_failure, round_timeout=args.round_timeout,
                                on_round=show)
    else:
        result = run_deployment(task, port=args.port, on_client_failure=args.on_client_failure,
                                round_timeout=args.round_timeout, on_round=show)
    history = result.history
    history.config = {**history.config, "engine": f"flower-{args.engine}"}
    history.to_json(out / "history.json")
    summary = {"final_accuracy": history.final_accuracy, "rounds": len(history), "engine": args.engine,
               "seconds": round(time.perf_counter() - t0, 2), "out": str(out)}
    summary["files"] = sorted({*(p.name for p in out.iterdir()), "summary.json"})
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """Run ``flower`` from parsed arguments (or an argv list); returns the exit code."""
    if args is None or isinstance(args, list):
        args = build_parser().parse_args(args)
    from .deployment import PortInUseError

    try:
        summary = run_flower(args)
    except (ValueError, FileNotFoundError, ImportError, PortInUseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a run that failed (e.g. a lost SuperNode with --on-client-failure raise)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"final test accuracy {100 * summary['final_accuracy']:.2f}% after {summary['rounds']} rounds on "
          f"Flower's {summary['engine']} engine in {summary['seconds']:.0f} s; wrote "
          f"{', '.join(summary['files'])} to {summary['out']}/")
    return 0
