"""McMahan et al. 2017 (FedAvg), MNIST: communication rounds to reach a target accuracy.

The paper's setup: 100 clients; IID (600 random samples each) or pathological non-IID
(sort by label, 200 shards of 300, 2 shards per client: ``Shards(shards_per_client=2)``);
C=0.1 (10 clients per round), E=5 local epochs, B=10; the CNN (two 5x5 convs 32/64, fc 512,
1,663,370 parameters) to 99% test accuracy. Table 2 of the paper reports 20 rounds (IID) and
229 rounds (non-IID) for this cell (CNN, E=5, B=10), with a tuned learning rate.

Modes
-----
``--mode full``   the CNN to 99%, at most 500 rounds. About 7M samples for the non-IID run,
                  i.e. ~4 h on a 2-core CPU (a GPU is advised).
``--mode quick``  the 2NN (two hidden layers of 200, 199,210 parameters) to 97% (the paper's
                  2NN target), same clients, shards, C, E and B, at most 50 rounds per run.
                  Rounds-to-target for the 2NN are *not* comparable with the CNN's 20/229.

A run stops at the first round whose test accuracy reaches the target (or at the round
cap, then reported as "> cap"). Every option can be overridden. Output: a markdown table
labelled with mode, machine and date; JSON (``--out``, default
``benchmarks/results/mcmahan_<mode>.json``).

Example::

    nice python benchmarks/mcmahan.py --mode quick --threads 1
    python benchmarks/mcmahan.py --mode full --device cuda --backend batched     # GPU: rounds to 99%
"""

from __future__ import annotations

import argparse
import datetime as _dt
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
from fedsyft.partition import IID, Shards

MODES = {
    "full": {"model": "mcmahan_cnn", "target": 0.99, "max_rounds": 500},
    "quick": {"model": "mcmahan_2nn", "target": 0.97, "max_rounds": 50},
}
PAPER = {"mcmahan_cnn": {"IID": 20, "non-IID": 229, "target": 0.99}}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Setup and modes: see the module docstring.")
    p.add_argument("--mode", choices=sorted(MODES), default="quick")
    p.add_argument("--model", choices=["mcmahan_cnn", "mcmahan_2nn"], help="(mode default)")
    p.add_argument("--target", type=float, help="target test accuracy in [0, 1] (mode default)")
    p.add_argument("--max-rounds", type=int, help="round cap per run (mode default)")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--fraction", type=float, default=0.1, help="C: fraction of clients per round")
    p.add_argument("--epochs", type=int, default=5, help="E")
    p.add_argument("--batch-size", type=int, default=10, help="B")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--splits", nargs="+", choices=["IID", "non-IID"], default=["IID", "non-IID"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--backend", choices=BACKENDS, default="workers",
                   help="workers (the model travels) or batched (the round's clients in one program)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/mcmahan_<mode>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    mode, mode_label = apply_mode(args, MODES, ("model", "target", "max_rounds"))
    date, machine = _dt.date.today().isoformat(), machine_label()
    num_selected = max(1, round(args.fraction * args.clients))
    train, test = MNIST("train"), MNIST("test")
    print(f"McMahan 2017 MNIST, mode={mode_label}: {mode['model']}, {args.clients} clients, "
          f"{num_selected} per round, E={args.epochs}, B={args.batch_size}, lr={args.lr}, "
          f"target {100 * mode['target']:.0f}%, cap {mode['max_rounds']} rounds", flush=True)
    partitions = {"IID": IID(seed=args.seed), "non-IID": Shards(shards_per_client=2, seed=args.seed)}
    results = {}
    for split in args.splits:
        workers = [sy.VirtualWorker(id=f"mcm_client{i}") for i in range(args.clients)]
        fds = train.federate(workers, partition=partitions[split])
        torch.manual_seed(args.seed)
        model = get_model(mode["model"])
        cfg = FLConfig(rounds=mode["max_rounds"], num_selected=num_selected, seed=args.seed,
                       client=ClientConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr))
        trainer = FederatedTrainer(model, fds, test, cfg, progress=False, device=args.device,
                                   backend=args.backend)
        t0 = time.perf_counter()

        def stop(tr, _target=mode["target"]):
            r = tr.history.rounds[-1]
            if r.round % 10 == 0:
                print(f"    round {r.round}: {100 * r.test_accuracy:.2f}%", flush=True)
            return r.test_accuracy >= _target

        hist = trainer.run(stop=stop)
        secs = time.perf_counter() - t0
        reached = hist.rounds_to_accuracy(mode["target"])
        results[split] = {"rounds_to_target": reached, "rounds_run": len(hist),
                          "final_accuracy": hist.final_accuracy, "best_accuracy": max(hist.accuracies),
                          "accuracies": hist.accuracies, "seconds": secs,
                          "seconds_per_round": secs / len(hist)}
        shown = reached if reached is not None else f"> {mode['max_rounds']}"
        print(f"  {split:8s} rounds to {100 * mode['target']:.0f}%: {shown}  "
              f"(best {100 * max(hist.accuracies):.2f}%, {secs:.0f} s)", flush=True)
        for w in workers:
            w.shutdown()

    paper = PAPER.get(mode["model"]) if mode["target"] == PAPER.get(mode["model"], {}).get("target") else None
    lines = [f"McMahan et al. 2017 MNIST, mode **{mode_label}** ({mode['model']}, target "
             f"{100 * mode['target']:.0f}%, C={args.fraction}, E={args.epochs}, B={args.batch_size}, "
             f"lr={args.lr}, cap {mode['max_rounds']}), {machine}, {date}",
             "",
             "| split | rounds to target | best acc. (%) | s/round | paper (CNN, 99%) |",
             "|---|---|---|---|---|"]
    for split, r in results.items():
        shown = r["rounds_to_target"] if r["rounds_to_target"] is not None else f"> {mode['max_rounds']}"
        pub = paper[split] if paper else "n/a (different model/target)"
        lines.append(f"| {split} | {shown} | {100 * r['best_accuracy']:.2f} | "
                     f"{r['seconds_per_round']:.1f} | {pub} |")
    table = "\n".join(lines)
    print()
    print(table)
    write_results("mcmahan", args, {
        "benchmark": "mcmahan2017_mnist", "mode": mode_label, "machine": machine, "date": date,
        "setup": {**mode, "clients": args.clients, "num_selected": num_selected, "epochs": args.epochs,
                  "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                  "device": args.device, "backend": args.backend},
        "paper": PAPER, "results": results, "table": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
