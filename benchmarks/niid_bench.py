"""NIID-Bench's MNIST row (Li, Diao, Chen, He, ICDE 2022, Table 3) with fedsyft.

Setup (the paper's): 10 parties, simple-cnn, batch 64, SGD lr 0.01 momentum 0.9, E=10 local
epochs, 50 rounds, all parties every round; FedAvg, FedProx (mu=0.01) and SCAFFOLD under
IID, label Dirichlet(0.5) (``noniid-labeldir``) and #C=1, #C=2, #C=3 (``noniid-#label{k}``).
The table printed puts the measured top-1 test accuracy (final round, in %) beside the
published numbers.

Modes
-----
``--mode full``   the paper's setup: 50 rounds x 10 parties x 10 epochs x 6,000 samples
                  = 30M samples per cell, about 1.5 h per cell on a 2-core CPU (a GPU is
                  advised; 15 cells).
``--mode quick``  the same partitions, model and optimizer, but E=1, 10 rounds and at most
                  20 local steps (1,280 samples) per party per round: 128k samples per cell.
                  A smoke test of the pipeline and of the *ordering* of the splits, not a
                  reproduction of the published accuracies.

Engines: ``--backend batched --device cuda`` trains the 10 parties as one ``torch.func``
program on the GPU (the same math as the workers path, tested equal within 1e-4); the 15 full
cells then take minutes instead of hours. ``--seeds 0 1 2 3 4`` repeats every cell per seed
and reports mean ± standard deviation (NIID-Bench publishes #C=1 as 19.33 ± 11.82).

Every option can be overridden (``--rounds``, ``--epochs``, ``--max-steps``, ...). The table
is labelled with the mode, the machine and the date, and everything is written as JSON
(``--out``, default ``benchmarks/results/niid_bench_<mode>.json``).

Example::

    nice python benchmarks/niid_bench.py --mode quick --threads 1
    python benchmarks/niid_bench.py --mode full --device cuda --backend batched --seeds 0 1 2   # GPU
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import apply_mode, machine_label, write_results  # noqa: E402  (benchmarks/ is on sys.path)

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.fl.batched.backend import BACKENDS
from fedsyft.models import get_model
from fedsyft.partition import IID, Dirichlet, LabelQuantity

ALGORITHMS = {"FedAvg": "fedavg", "FedProx": "fedprox", "SCAFFOLD": "scaffold"}
SPLITS = {
    "IID": lambda seed: IID(seed=seed),
    "Dir(0.5)": lambda seed: Dirichlet(alpha=0.5, min_size=10, seed=seed),
    "#C=1": lambda seed: LabelQuantity(k=1, seed=seed),
    "#C=2": lambda seed: LabelQuantity(k=2, seed=seed),
    "#C=3": lambda seed: LabelQuantity(k=3, seed=seed),
}
#: NIID-Bench Table 3, MNIST, top-1 accuracy (%), in SPLITS order.
PUBLISHED = {
    "FedAvg": [99.09, 98.89, 19.33, 96.86, 97.86],
    "FedProx": [99.16, 99.02, 51.79, 96.85, 97.85],
    "SCAFFOLD": [99.06, 99.07, 9.93, 96.92, 97.91],
}
MODES = {
    "full": {"rounds": 50, "epochs": 10, "max_steps": None},
    "quick": {"rounds": 10, "epochs": 1, "max_steps": 20},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Setup and modes: see the module docstring.")
    p.add_argument("--mode", choices=sorted(MODES), default="quick")
    p.add_argument("--rounds", type=int, help="communication rounds (mode default)")
    p.add_argument("--epochs", type=int, help="local epochs E (mode default)")
    p.add_argument("--max-steps", type=int, help="cap on local steps per party per round (mode default)")
    p.add_argument("--parties", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--mu", type=float, default=0.01, help="FedProx mu")
    p.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), default=list(ALGORITHMS))
    p.add_argument("--splits", nargs="+", choices=list(SPLITS), default=list(SPLITS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (mean ± std)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--backend", choices=BACKENDS, default="workers",
                   help="workers (the model travels) or batched (all parties in one program)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/niid_bench_<mode>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    mode, mode_label = apply_mode(args, MODES, ("rounds", "epochs", "max_steps"))
    date = _dt.date.today().isoformat()
    machine = machine_label()
    train, test = MNIST("train"), MNIST("test")
    client = ClientConfig(epochs=mode["epochs"], batch_size=args.batch_size, lr=args.lr,
                          momentum=args.momentum, max_steps=mode["max_steps"])
    print(f"NIID-Bench MNIST, mode={mode_label}: {args.parties} parties, simple-cnn, "
          f"rounds={mode['rounds']}, E={mode['epochs']}, max_steps={mode['max_steps']}, "
          f"B={args.batch_size}, lr={args.lr}, momentum={args.momentum}, mu={args.mu}", flush=True)
    results: dict[str, dict[str, dict]] = {}
    t_all = time.perf_counter()
    for alg in args.algorithms:
        results[alg] = {}
        for split in args.splits:
            runs = []
            for seed in args.seeds:
                workers = [sy.VirtualWorker(id=f"niid_party{i}") for i in range(args.parties)]
                fds = train.federate(workers, partition=SPLITS[split](seed))
                torch.manual_seed(seed)
                model = get_model("simple_cnn")
                cfg = FLConfig(rounds=mode["rounds"], algorithm=ALGORITHMS[alg], mu=args.mu,
                               client=client, seed=seed)
                t0 = time.perf_counter()
                trainer = FederatedTrainer(model, fds, test, cfg, progress=False, device=args.device,
                                           backend=args.backend)
                hist = trainer.run()
                runs.append({"seed": seed, "final_accuracy": hist.final_accuracy,
                             "best_accuracy": max(hist.accuracies), "accuracies": hist.accuracies,
                             "seconds": time.perf_counter() - t0, "backend": trainer.backend_reason})
                for w in workers:
                    w.shutdown()
            finals = [r["final_accuracy"] for r in runs]
            results[alg][split] = {"final_accuracy": statistics.mean(finals),
                                   "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                                   "seconds": sum(r["seconds"] for r in runs), "runs": runs}
            print(f"  {alg:8s} {split:8s} final {100 * statistics.mean(finals):6.2f}%"
                  + (f" ± {100 * results[alg][split]['std']:.2f} over {len(finals)} seeds" if len(finals) > 1 else "")
                  + f"  ({results[alg][split]['seconds']:.0f} s, {runs[0]['backend']})", flush=True)
    total = time.perf_counter() - t_all

    lines = [f"NIID-Bench MNIST row, mode **{mode_label}** (rounds={mode['rounds']}, "
             f"E={mode['epochs']}, max_steps={mode['max_steps']}), backend {args.backend}, "
             f"seeds {args.seeds}, {machine}, {date}; "
             f"measured final-round test accuracy (%) / published (full setup)",
             "",
             "| algorithm | " + " | ".join(args.splits) + " |",
             "|---|" + "---|" * len(args.splits)]
    for alg in args.algorithms:
        cells = []
        for split in args.splits:
            pub = PUBLISHED[alg][list(SPLITS).index(split)]
            r = results[alg][split]
            spread = f" ± {100 * r['std']:.2f}" if len(args.seeds) > 1 else ""
            cells.append(f"{100 * r['final_accuracy']:.2f}{spread} / {pub:.2f}")
        lines.append(f"| {alg} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"total wall time {total / 60:.1f} min")
    table = "\n".join(lines)
    print()
    print(table)

    write_results("niid_bench", args, {
        "benchmark": "niid_bench_mnist", "mode": mode_label, "machine": machine, "date": date,
        "setup": {**mode, "parties": args.parties, "model": "simple_cnn", "batch_size": args.batch_size,
                  "lr": args.lr, "momentum": args.momentum, "mu": args.mu, "seeds": args.seeds,
                  "backend": args.backend, "device": args.device},
        "published": PUBLISHED, "results": results, "seconds_total": total, "table": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
