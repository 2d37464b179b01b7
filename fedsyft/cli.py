"""fedsyft's command line: ``fedsyft ...`` (the console script) or ``python -m fedsyft ...``.

``fedsyft demo`` is the preset that the README's first command runs: FedAvg on the shipped
MNIST across 10 virtual workers with a non-IID (Dirichlet 0.5) split. ``fedsyft run --help``
lists every option; ``fedsyft run --preset NAME`` starts from a published setup
(:mod:`fedsyft.presets`).

What a user can rely on:

- every argument is checked before any work starts (before a dataset is loaded or the output
  folder is made), and the message names the option: ``--rounds must be an integer >= 1``;
- exit status 2 for a usage error (a bad option), 1 for an error while running (a missing
  dataset, a damaged checkpoint), 0 on success; a user's mistake never prints a traceback
  (set ``FEDSYFT_DEBUG=1`` to see one);
- a run that fails before writing anything leaves no empty output folder behind, and a
  folder that already existed is never removed;
- the choices of ``--model``, ``--partition``, ``--algorithm`` and ``--weighting`` come from
  the package's registries (:data:`fedsyft.models.MODELS`,
  :data:`fedsyft.partition.PARTITIONERS`, :data:`fedsyft.fl.loop.ALGORITHMS`,
  :data:`fedsyft.fl.aggregate.WEIGHTINGS`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .device import DEVICES, resolve_device
from .fl.aggregate import WEIGHTINGS
from .fl.batched.backend import BACKENDS
from .fl.loop import ALGORITHMS
from .flower.cli import add_parser as add_flower_parser
from .flower.cli import main as flower_main
from .models import MODELS
from .partition import PARTITIONERS
from .presets import PRESETS
from .workers.errors import WorkerError

__all__ = ["build_parser", "main", "run_experiment", "positive_int", "nonnegative_int",
           "finite_positive_float", "finite_nonnegative_float", "momentum_float", "device_arg"]


@dataclass(frozen=True)
class _Dataset:
    """What the CLI needs to know about a dataset before loading it."""

    loader: str          # name of the constructor in fedsyft.data
    channels: int
    image_size: int
    num_classes: int
    downloadable: bool   # the loader accepts download=True


DATASETS: dict[str, _Dataset] = {
    "mnist": _Dataset("MNIST", 1, 28, 10, downloadable=False),
    "fashion_mnist": _Dataset("FashionMNIST", 1, 28, 10, downloadable=False),
    "cifar10": _Dataset("CIFAR10", 3, 32, 10, downloadable=True),
}
#: ``classic`` is not a partitioner: it is federate()'s default, classic PySyft's contiguous split.
PARTITION_CHOICES = (*PARTITIONERS, "classic")
#: execution backends of FederatedTrainer (issue 13); "workers" is the teaching path.

# The demo is a preset of `run`: these are its arguments (do not change: README, benchmarks).
DEMO_ARGS = ["--dataset", "mnist", "--model", "simple_cnn", "--partition", "dirichlet", "--alpha", "0.5",
             "--clients", "10", "--epochs", "1", "--batch-size", "32", "--lr", "0.01", "--momentum", "0.9",
             "--algorithm", "fedavg", "--seed", "0"]
DEMO = {"out": "runs/demo", "rounds": 8}

# Errors of a run that are the user's to fix (data missing, a damaged file, a setting the
# data cannot satisfy): one line on stderr, exit 1. Anything else is a bug: a traceback.
_RUN_ERRORS = (ValueError, TypeError, OSError, RuntimeError, WorkerError)


# -- argument types: each message says what the option must be -----------------------------
def _int_at_least(low: int, name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    parse.__name__ = parse.__qualname__ = name
    return parse


positive_int = _int_at_least(1, "positive_int")
positive_int.__doc__ = """An integer >= 1 (argparse ``type=``).

>>> positive_int("3")
3
"""
nonnegative_int = _int_at_least(0, "nonnegative_int")
nonnegative_int.__doc__ = "An integer >= 0 (argparse ``type=``)."


def _finite_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def finite_positive_float(text: str) -> float:
    """A finite number > 0 (argparse ``type=``): ``inf`` and ``nan`` are refused.

    >>> finite_positive_float("0.1")
    0.1
    """
    value = _finite_float(text, "a finite number > 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def finite_nonnegative_float(text: str) -> float:
    """A finite number >= 0 (argparse ``type=``)."""
    value = _finite_float(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def momentum_float(text: str) -> float:
    """A number in [0, 1) (argparse ``type=``)."""
    value = _finite_float(text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def device_arg(text: str):
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against this machine
    (:func:`fedsyft.device.resolve_device`); returns the :class:`torch.device`."""
    try:
        return resolve_device(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- the parser -------------------------------------------------------------------------
# What an option left at None means, for --help.
_NONE_MEANS = {"selected": "all", "max_steps": "no cap", "train_subset": "all",
               "data_root": "$FEDSYFT_DATA, else the data folder that ships with fedsyft"}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default once, and only where there is one to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or "(default:" in text or not action.option_strings
                or action.default is False or action.default == argparse.SUPPRESS
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        if action.default is None:
            meaning = _NONE_MEANS.get(action.dest)
            return f"{text} (default: {meaning})" if meaning else text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with ``allow_abbrev=False`` and messages that start with the option's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--round 1` must not mean `--rounds 1`
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """``run --preset NAME`` makes the preset's settings the defaults of ``run`` for this
        parse (so ``--help`` shows them, and options given explicitly still win)."""
        args = list(sys.argv[1:] if args is None else args)
        run = getattr(self, "_fedsyft_commands", {}).get("run")
        name = _preset_named_in(args) if run is not None else None
        if name not in PRESETS:
            return super().parse_known_args(args, namespace)
        settings = PRESETS[name].settings
        saved_actions = {a.dest: a.default for a in run._actions if a.dest in settings}
        saved = dict(run._defaults)
        run.set_defaults(**settings)
        try:
            return super().parse_known_args(args, namespace)
        finally:
            run._defaults.clear()
            run._defaults.update(saved)
            for action in run._actions:
                if action.dest in saved_actions:
                    action.default = saved_actions[action.dest]

    def error(self, message: str):  # type: ignore[override]
        # "argument --rounds: must be ..." -> "--rounds must be ..."
        message = re.sub(r"^argument (--[\w-]+): must be ", r"\1 must be ", message)
        super().error(message)


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("fedsyft")
    except (ImportError, PackageNotFoundError):
        from . import __version__

        return __version__


def _used_by(param: str) -> str:
    """The partitions whose class takes ``param`` (for the help of --alpha, --k, ...)."""
    names = [name for name, cls in PARTITIONERS.items()
             if param in inspect.signature(cls.__init__).parameters]
    return ", ".join(names) or "none"


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_arg, default="auto", metavar="{" + ",".join(DEVICES) + "}",
                   help="where to train: auto picks CUDA, then MPS, then the CPU; cuda:N picks a GPU")
    p.add_argument("--backend", choices=BACKENDS, default="workers",
                   help="workers: the model travels to each virtual worker (the teaching path); "
                        "batched: all selected clients train in one program; auto: choose per model")
    p.add_argument("--compile", action="store_true",
                   help="with --backend batched: compile the clients' step with torch.compile "
                        "(a one-off compile, then faster steps)")


def build_parser(prog: str = "fedsyft") -> argparse.ArgumentParser:
    """The command-line parser: ``demo`` and ``run`` (whose ``--preset`` sets its defaults)."""
    p = _Parser(prog=prog, description=(
        "Federated learning with virtual workers, from the command line.\n\n"
        "  %(prog)s demo          FedAvg on the shipped MNIST across 10 non-IID clients\n"
        "  %(prog)s run --help    every option: dataset, model, partition, algorithm, presets\n"
        "  %(prog)s flower --help the same clients on Flower (simulation, SuperLink + SuperNodes)"))
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="FedAvg on MNIST, 10 non-IID clients (the README's demo)",
                          description="FedAvg on the shipped MNIST, 10 clients with a Dirichlet(0.5) label\n"
                                      "split, simple-cnn; writes history.json, plots, a checkpoint and\n"
                                      "summary.json to --out.")
    demo.add_argument("--out", default=DEMO["out"], metavar="FOLDER", help="output folder")
    demo.add_argument("--rounds", type=positive_int, default=DEMO["rounds"], metavar="N", help="communication rounds")
    _add_engine_options(demo)
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    run = sub.add_parser("run", help="any combination of dataset, model, partition and algorithm",
                         description="One federated experiment. Writes history.json, label_distribution.png,\n"
                                     "accuracy.png, checkpoint.pt and summary.json to --out.")
    run.add_argument("--preset", choices=list(PRESETS), default=None, metavar="NAME",
                     help="start from a published setup; options given explicitly override it. "
                          + "; ".join(f"{name}: {pr.summary}" for name, pr in PRESETS.items()))
    run.add_argument("--dataset", choices=list(DATASETS), default="mnist", help="the dataset")
    run.add_argument("--data-root", default=None, metavar="FOLDER",
                     help="folder holding the datasets")
    run.add_argument("--download", action="store_true",
                     help="fetch CIFAR-10 (md5-checked) into the data folder if it is not there; "
                          "needs internet")
    run.add_argument("--model", choices=list(MODELS), default="simple_cnn", metavar="NAME",
                     help="one of: " + "; ".join(f"{n}: {s.summary}" for n, s in MODELS.items()))
    run.add_argument("--partition", choices=PARTITION_CHOICES, default="iid", metavar="NAME",
                     help="how the training set is split across the clients, one of: "
                          + ", ".join(PARTITION_CHOICES) + " (classic: classic PySyft's contiguous split)")
    run.add_argument("--alpha", type=finite_positive_float, default=0.5, metavar="X",
                     help=f"Dirichlet concentration, smaller is more skewed ({_used_by('alpha')})")
    run.add_argument("--beta", type=finite_positive_float, default=0.5, metavar="X",
                     help=f"size concentration ({_used_by('beta')})")
    run.add_argument("--k", type=positive_int, default=2, metavar="K",
                     help=f"classes per client ({_used_by('k')})")
    run.add_argument("--shards-per-client", type=positive_int, default=2, metavar="N",
                     help=f"shards per client ({_used_by('shards_per_client')})")
    run.add_argument("--min-size", type=nonnegative_int, default=10, metavar="N",
                     help=f"minimum client size ({_used_by('min_size')})")
    run.add_argument("--clients", type=positive_int, default=10, metavar="N", help="number of virtual workers")
    run.add_argument("--selected", type=positive_int, default=None, metavar="N",
                     help="clients sampled per round")
    run.add_argument("--rounds", type=positive_int, default=10, metavar="N", help="communication rounds")
    run.add_argument("--epochs", type=positive_int, default=1, metavar="E", help="local epochs E per round")
    run.add_argument("--batch-size", type=positive_int, default=32, metavar="B", help="local batch size B")
    run.add_argument("--lr", type=finite_positive_float, default=0.01, metavar="LR", help="local learning rate")
    run.add_argument("--momentum", type=momentum_float, default=0.9, metavar="M", help="local SGD momentum, in [0, 1)")
    run.add_argument("--max-steps", type=positive_int, default=None, metavar="N",
                     help="cap on local steps per round")
    run.add_argument("--algorithm", choices=list(ALGORITHMS), default="fedavg", help="the federated algorithm")
    run.add_argument("--mu", type=finite_nonnegative_float, default=0.01, metavar="MU", help="FedProx proximal weight")
    run.add_argument("--weighting", choices=list(WEIGHTINGS), default="samples",
                     help="how client updates are weighted: by sample count (FedAvg) or uniformly")
    run.add_argument("--seed", type=nonnegative_int, default=0, metavar="SEED",
                     help="the seed of every random choice (split, sampling, initial model, batches)")
    run.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                     help="use only the first N training samples")
    _add_engine_options(run)
    run.add_argument("--out", default="runs/run", metavar="FOLDER", help="output folder for history.json, plots and checkpoint")
    run.add_argument("--resume", action="store_true", help="continue from the checkpoint.pt in --out")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    flower = add_flower_parser(sub)  # fedsyft.flower.cli: flwr itself is imported only when it runs
    p._fedsyft_commands = {"demo": demo, "run": run, "flower": flower}  # type: ignore[attr-defined]
    return p


def _preset_named_in(argv: Sequence[str]) -> str | None:
    """The value of ``--preset`` in ``argv`` (looked up before parsing: it sets defaults)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--preset="):
            return arg.split("=", 1)[1]
    return None


# -- checks before any work -------------------------------------------------------------
def _partitioner(args):
    """The configured partitioner of ``args`` (``None`` for the classic split): every CLI
    option that the partitioner's class takes is passed to it, with the seed."""
    if args.partition == "classic":
        return None
    cls = PARTITIONERS[args.partition]
    takes = inspect.signature(cls.__init__).parameters
    params = {name: getattr(args, name) for name in ("alpha", "beta", "k", "shards_per_client", "min_size")
              if name in takes}
    if "seed" in takes:
        params["seed"] = args.seed
    return cls(**params)


def _configs(args):
    from .fl import ClientConfig, FLConfig

    client = ClientConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          momentum=args.momentum, max_steps=args.max_steps)
    return FLConfig(rounds=args.rounds, num_selected=args.selected, algorithm=args.algorithm, mu=args.mu,
                    weighting=args.weighting, seed=args.seed, client=client)


def _engine_options(args) -> dict[str, Any]:
    """THE one place where the CLI tells FederatedTrainer where and how to run."""
    return {"device": args.device, "backend": args.backend, "compile": args.compile}


def _model_for(args):
    from .models import get_model

    ds = DATASETS[args.dataset]
    return get_model(args.model, in_channels=ds.channels, num_classes=ds.num_classes, image_size=ds.image_size)


def _prepare_out(out: Path) -> list[Path]:
    """Check that ``out`` can hold the run's files, creating it if needed; returns the
    folders this created (deepest first), which are removed again if the run fails empty.
    Raises ``ValueError`` with the reason."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is an existing file, not a folder; choose a folder "
                         f"(it will hold history.json, the plots and checkpoint.pt).")
    missing = []
    p = out.absolute()
    while not p.exists():
        missing.append(p)
        p = p.parent
    if not p.is_dir():
        raise ValueError(f"--out {out}: {p} is a file, so no folder can be made under it; "
                         f"choose another --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".fedsyft-write-check-"):
            pass
    except OSError as exc:
        _remove_empty(missing)
        raise ValueError(f"--out {out} cannot be written: {exc.strerror or exc}; choose a folder "
                         f"you can write to.") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this run created, deepest first, as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()  # only ever succeeds on an empty folder
        except OSError:
            return


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """Check everything that can be checked before loading data; a problem is a usage error
    (``parser.error``, exit 2) that names the option. Then create ``--out``; returns the
    folders created (see :func:`_prepare_out`)."""
    if args.selected is not None and args.selected > args.clients:
        parser.error(f"--selected ({args.selected}) is greater than --clients ({args.clients}); "
                     f"choose at most {args.clients} clients per round.")
    ds = DATASETS[args.dataset]
    if args.partition in ("classes_per_client", "label_quantity") and args.k > ds.num_classes:
        parser.error(f"--k ({args.k}) is more than the {ds.num_classes} classes of {args.dataset}.")
    if args.download and not ds.downloadable:
        parser.error(f"--download applies to --dataset cifar10; {args.dataset} ships with fedsyft.")
    if args.data_root is not None and not Path(args.data_root).is_dir() and not args.download:
        parser.error(f"--data-root {args.data_root} is not a folder; point it at the folder that "
                     f"holds the datasets.")
    import torch

    try:
        with torch.device("meta"):  # builds the model without allocating its weights
            _model_for(args)
    except ValueError as exc:
        parser.error(f"--model {args.model} does not fit --dataset {args.dataset}: {exc}")
    try:
        _configs(args)
        _partitioner(args)
        _engine_options(args)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    out = Path(args.out)
    if args.resume and not (out / "checkpoint.pt").is_file():
        parser.error(f"--resume: there is no checkpoint at {out / 'checkpoint.pt'}; run without "
                     f"--resume to start a new run, or point --out at the run to continue.")
    try:
        return _prepare_out(out)
    except ValueError as exc:
        parser.error(str(exc))
    raise AssertionError("unreachable")  # parser.error exits


# -- the run ----------------------------------------------------------------------------
def _load(args):
    from . import data

    ds = DATASETS[args.dataset]
    ctor = getattr(data, ds.loader)
    kwargs = {"download": True} if args.download else {}
    try:
        return ctor("train", root=args.data_root, **kwargs), ctor("test", root=args.data_root, **kwargs)
    except data.DatasetNotFoundError as exc:
        msg = str(exc)
        if ds.downloadable and not args.download:
            hint = "run again with --download"
            msg = (msg.replace("call load_cifar10(download=True)", hint) if "download=True" in msg
                   else f"{msg} Or {hint} on a machine with internet access.")
            msg += " (--data-root FOLDER says where fedsyft looks.)"
        raise data.DatasetNotFoundError(msg) from exc


def _resume(trainer, ck: Path) -> None:
    """Load ``ck``; a damaged or foreign file gets one message that names it and the fix."""
    try:
        trainer.load_checkpoint(ck)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if str(ck) in str(exc):  # fedsyft's own message, which names the file
            raise
        raise ValueError(_damaged(ck, exc)) from exc
    except Exception as exc:  # noqa: BLE001 - torch and pickle raise many types on a damaged file
        raise ValueError(_damaged(ck, exc)) from exc


def _damaged(ck: Path, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"checkpoint {ck} is damaged or not a fedsyft checkpoint ({type(exc).__name__}: {first}). "
            f"Delete it, or run without --resume to start a new run (which replaces it).")


def run_experiment(args) -> dict:
    """Run one federated experiment from parsed (and checked) arguments; returns a summary dict."""
    import torch

    from .fl import FederatedTrainer, plot_accuracy
    from .models import count_parameters
    from .partition import plot_stacked_bars
    from .workers import VirtualWorker

    t0 = time.perf_counter()
    out = Path(args.out)
    config = _configs(args)
    partitioner = _partitioner(args)
    engine = _engine_options(args)
    train, test = _load(args)
    if args.train_subset:
        train = train.subset(range(min(args.train_subset, len(train))))
    if args.clients > len(train):
        raise ValueError(f"--clients ({args.clients}) is more than the {len(train)} training samples"
                         f"{' (--train-subset)' if args.train_subset else ''}; use fewer clients.")
    workers = [VirtualWorker(id=f"client{i}") for i in range(args.clients)]
    fds = train.federate(workers, partition=partitioner)
    labels = train.targets.numpy()
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_stacked_bars(fds.partition, labels, class_names=train.classes,
                            title=f"{args.partition} split of {args.dataset}: labels per client")
    fig.savefig(out / "label_distribution.png", dpi=120)
    torch.manual_seed(args.seed)
    model = _model_for(args).to(args.device)
    progress = not args.no_progress
    if progress:
        print(f"{args.dataset}: {len(train)} train / {len(test)} test samples, {args.clients} clients "
              f"({args.partition}), model {args.model} ({count_parameters(model):,} parameters), "
              f"{args.algorithm}, {args.rounds} rounds")
    trainer = FederatedTrainer(model, fds, test, config, checkpoint_dir=out, progress=progress, **engine)
    ck = out / "checkpoint.pt"
    if args.resume:
        _resume(trainer, ck)
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


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def main(argv: Sequence[str] | None = None, *, prog: str = "fedsyft") -> int:
    """Run the command line; returns the exit status (0 ok, 1 run-time error, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        command = parser._fedsyft_commands[args.command]  # type: ignore[attr-defined]
        if args.command == "flower":
            return flower_main(args)
        if args.command == "demo":
            demo_argv = ["run", *DEMO_ARGS, "--rounds", str(args.rounds), "--out", args.out,
                         "--device", str(args.device), "--backend", args.backend]
            demo_argv += ["--compile"] if args.compile else []
            args = parser.parse_args(demo_argv + (["--no-progress"] if args.no_progress else []))
        created = check_args(command, args)
    except SystemExit as exc:
        return _exit_code(exc)
    failed = True
    try:
        summary = run_experiment(args)
        failed = False
    except KeyboardInterrupt:
        print("fedsyft: interrupted", file=sys.stderr)
        return 130
    except _RUN_ERRORS as exc:
        if os.environ.get("FEDSYFT_DEBUG"):
            raise
        print(f"fedsyft: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if failed:
            _remove_empty(created)
    print(f"final test accuracy {100 * summary['final_accuracy']:.2f}% after {summary['rounds']} rounds "
          f"in {summary['seconds']:.0f} s; wrote {', '.join(summary['files'])} to {summary['out']}/")
    return 0
