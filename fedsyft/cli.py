"""``python -m fedsyft``: run federated experiments from the command line.

``python -m fedsyft demo`` is the preset that the README's first command runs: FedAvg on the
shipped MNIST across 10 virtual workers with a non-IID (Dirichlet 0.5) split.
``python -m fedsyft run --help`` lists every knob.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATASETS = ("mnist", "fashion_mnist", "cifar10")
PARTITIONS = ("iid", "classic", "shards", "classes_per_client", "real_world", "dirichlet",
              "label_quantity", "quantity_skew", "linear", "square", "exponential")

# The demo is a preset of `run`: these are its arguments.
DEMO_ARGS = ["--dataset", "mnist", "--model", "simple_cnn", "--partition", "dirichlet", "--alpha", "0.5",
             "--clients", "10", "--epochs", "1", "--batch-size", "32", "--lr", "0.01", "--momentum", "0.9",
             "--algorithm", "fedavg", "--seed", "0"]
DEMO = {"out": "runs/demo", "rounds": 8}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fedsyft", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="FedAvg on MNIST, 10 non-IID clients (the README's demo)")
    demo.add_argument("--out", default=DEMO["out"], help="output folder (default: %(default)s)")
    demo.add_argument("--rounds", type=int, default=DEMO["rounds"], help="rounds (default: %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    run = sub.add_parser("run", help="any combination of dataset, model, partition and algorithm",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("--dataset", choices=DATASETS, default="mnist")
    run.add_argument("--data-root", default=None, help="folder holding the datasets (default: the repo's data/)")
    run.add_argument("--model", default="simple_cnn",
                     help="classic_cnn, mcmahan_cnn, mcmahan_2nn, simple_cnn, cifar_cnn, vgg11/16/19")
    run.add_argument("--partition", choices=PARTITIONS, default="iid")
    run.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (dirichlet)")
    run.add_argument("--beta", type=float, default=0.5, help="size concentration (quantity_skew)")
    run.add_argument("--k", type=int, default=2, help="classes per client (classes_per_client, label_quantity)")
    run.add_argument("--shards-per-client", type=int, default=2, help="(shards)")
    run.add_argument("--min-size", type=int, default=10, help="minimum client size (dirichlet, quantity_skew)")
    run.add_argument("--clients", type=int, default=10, help="number of virtual workers")
    run.add_argument("--selected", type=int, default=None, help="clients per round (default: all)")
    run.add_argument("--rounds", type=int, default=10)
    run.add_argument("--epochs", type=int, default=1, help="local epochs")
    run.add_argument("--batch-size", type=int, default=32, help="local batch size")
    run.add_argument("--lr", type=float, default=0.01)
    run.add_argument("--momentum", type=float, default=0.9)
    run.add_argument("--max-steps", type=int, default=None, help="cap on local steps per round")
    run.add_argument("--algorithm", choices=("fedavg", "fedprox", "scaffold"), default="fedavg")
    run.add_argument("--mu", type=float, default=0.01, help="FedProx proximal weight")
    run.add_argument("--weighting", choices=("samples", "uniform"), default="samples")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--train-subset", type=int, default=None, help="use only the first N training samples")
    run.add_argument("--out", default="runs/run", help="output folder for history.json, plots and checkpoint")
    run.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _load(dataset: str, root):
    from .data import CIFAR10, MNIST, FashionMNIST

    ctor = {"mnist": MNIST, "fashion_mnist": FashionMNIST, "cifar10": CIFAR10}[dataset]
    return ctor("train", root=root), ctor("test", root=root)


def _partitioner(args):
    if args.partition == "classic":
        return None
    from .partition import get_partitioner

    params = {"seed": args.seed}
    if args.partition == "dirichlet":
        params.update(alpha=args.alpha, min_size=args.min_size)
    elif args.partition == "quantity_skew":
        params.update(beta=args.beta, min_size=args.min_size)
    elif args.partition in ("classes_per_client", "label_quantity"):
        params.update(k=args.k)
    elif args.partition == "shards":
        params.update(shards_per_client=args.shards_per_client)
    return get_partitioner(args.partition, **params)


def run_experiment(args) -> dict:
    """Run one federated experiment from parsed arguments; returns a summary dict."""
    import torch

    from .fl import ClientConfig, FederatedTrainer, FLConfig, plot_accuracy
    from .models import count_parameters, get_model
    from .partition import plot_stacked_bars
    from .workers import VirtualWorker

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = _load(args.dataset, getattr(args, "data_root", None))
    if getattr(args, "train_subset", None):
        train = train.subset(range(min(args.train_subset, len(train))))
    if args.clients < 1:
        raise ValueError(f"--clients must be >= 1, got {args.clients}.")
    if args.selected is not None and args.selected > args.clients:
        raise ValueError(f"--selected ({args.selected}) is greater than --clients ({args.clients}).")
    config = FLConfig(rounds=args.rounds, num_selected=args.selected, algorithm=args.algorithm, mu=args.mu,
                      weighting=getattr(args, "weighting", "samples"), seed=args.seed,
                      client=ClientConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          momentum=args.momentum, max_steps=getattr(args, "max_steps", None)))
    workers = [VirtualWorker(id=f"client{i}") for i in range(args.clients)]
    fds = train.federate(workers, partition=_partitioner(args))
    labels = train.targets.numpy()
    fig = plot_stacked_bars(fds.partition, labels, class_names=train.classes,
                            title=f"{args.partition} split of {args.dataset}: labels per client")
    fig.savefig(out / "label_distribution.png", dpi=120)
    torch.manual_seed(args.seed)
    in_ch, size = train.data.shape[1], train.data.shape[-1]
    model = get_model(args.model, in_channels=in_ch, num_classes=len(train.classes), image_size=size)
    progress = not args.no_progress
    if progress:
        print(f"{args.dataset}: {len(train)} train / {len(test)} test samples, {args.clients} clients "
              f"({args.partition}), model {args.model} ({count_parameters(model):,} parameters), "
              f"{args.algorithm}, {args.rounds} rounds")
    trainer = FederatedTrainer(model, fds, test, config, checkpoint_dir=out, progress=progress)
    ck = out / "checkpoint.pt"
    if getattr(args, "resume", False):
        trainer.load_checkpoint(ck)
        if progress:
            print(f"resumed from {ck} after round {trainer.round}")
    history = trainer.run()
    history.to_json(out / "history.json")
    fig = plot_accuracy(history, title=f"{args.algorithm} on {args.dataset} ({args.partition})")
    fig.savefig(out / "accuracy.png", dpi=120)
    summary = {"final_accuracy": history.final_accuracy, "rounds": len(history),
               "seconds": round(time.perf_counter() - t0, 2), "out": str(out),
               "files": sorted(p.name for p in out.iterdir())}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        argv = ["run", *DEMO_ARGS, "--rounds", str(args.rounds), "--out", args.out]
        args = parser.parse_args(argv + (["--no-progress"] if args.no_progress else []))
    try:
        summary = run_experiment(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"final test accuracy {100 * summary['final_accuracy']:.2f}% after {summary['rounds']} rounds "
          f"in {summary['seconds']:.0f} s; wrote {', '.join(summary['files'])} to {summary['out']}/")
    return 0
