"""What does the virtual-worker simulation cost? fedsyft's round loop vs a plain PyTorch loop.

For 10 and for 100 clients (``--clients``), the same FedAvg rounds are run two ways, in the
same process, interleaved round by round so that both see the same machine load:

* **fedsyft**: ``FederatedTrainer`` over a federated dataset: each round it copies the model,
  ``send``s it to every client's worker, runs ``local_train`` there with ``worker.execute``,
  ``get``s it back, aggregates by sample count, evaluates, records traffic.
* **plain**: a hand-written PyTorch loop on the raw client tensors: ``deepcopy`` the model,
  SGD over the same batches (the same seeded batch order as fedsyft's ``local_train``),
  weighted average of the state dicts, the same evaluation. No workers, no pointers.

Same model, same data, same batches, same local steps, so the difference is the simulation's
overhead. One warm-up round of each is run first and not timed. Reported: median seconds
per round of each and their ratio (fedsyft / plain), and
the largest difference between the two final models (they should agree to float rounding).

Modes: ``--mode quick`` (12,000 MNIST training samples, 3 rounds, 2,000 test samples) and
``--mode full`` (all 60,000, 5 rounds, the full test set). Model: ``--model`` (default
simple_cnn), E=1, B=32, lr 0.05.

Example::

    nice python benchmarks/simulation_cost.py --mode quick --threads 1
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import apply_mode, machine_label, write_results  # noqa: E402  (benchmarks/ is on sys.path)

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig, client_seed, evaluate
from fedsyft.models import get_model
from fedsyft.partition import IID

MODES = {"quick": {"samples": 12_000, "rounds": 3, "test": 2_000},
         "full": {"samples": 60_000, "rounds": 5, "test": 10_000}}


def plain_local_sgd(model, x, y, *, epochs, batch_size, lr, seed) -> int:
    """Plain PyTorch local SGD with the batch order fedsyft's local_train uses."""
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    n = len(y)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for b in range(0, n, batch_size):
                idx = order[b:b + batch_size]
                opt.zero_grad(set_to_none=True)
                F.nll_loss(model(x[idx]), y[idx]).backward()
                opt.step()
    return n


def plain_round(global_model, clients, test, rnd, *, seed, epochs, batch_size, lr) -> float:
    t0 = time.perf_counter()
    states, sizes = [], []
    for k, (x, y) in enumerate(clients):
        local = copy.deepcopy(global_model)
        sizes.append(plain_local_sgd(local, x, y, epochs=epochs, batch_size=batch_size, lr=lr,
                                     seed=client_seed(seed, rnd, k)))
        states.append(local.state_dict())
    total = float(sum(sizes))
    avg = {name: sum(s[name] * (n / total) for s, n in zip(states, sizes)) for name in states[0]}
    global_model.load_state_dict(avg)
    evaluate(global_model, test)
    return time.perf_counter() - t0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Method and modes: see the module docstring.")
    p.add_argument("--mode", choices=sorted(MODES), default="quick")
    p.add_argument("--clients", type=int, nargs="+", default=[10, 100])
    p.add_argument("--model", default="simple_cnn", help="a fedsyft.models name for MNIST (default simple_cnn)")
    p.add_argument("--samples", type=int, help="training samples in all (mode default)")
    p.add_argument("--rounds", type=int, help="rounds per setting (mode default)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/simulation_cost_<mode>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    mode, mode_label = apply_mode(args, MODES, ("samples", "rounds"))
    date, machine = _dt.date.today().isoformat(), machine_label()
    train_full, test_full = MNIST("train"), MNIST("test")
    rng = np.random.default_rng(args.seed)
    train = train_full.subset(np.sort(rng.permutation(len(train_full))[:mode["samples"]]))
    test = test_full.subset(np.arange(mode["test"]))
    print(f"simulation cost, mode={mode_label}: {args.model}, {mode['samples']} samples, "
          f"{mode['rounds']} rounds, E={args.epochs}, B={args.batch_size}", flush=True)
    results = {}
    for k in args.clients:
        workers = [sy.VirtualWorker(id=f"simcost_{k}_{i}") for i in range(k)]
        fds = train.federate(workers, partition=IID(seed=args.seed))
        clients = [(train.data[torch.from_numpy(idx)], train.targets[torch.from_numpy(idx)])
                   for idx in fds.partition]
        torch.manual_seed(args.seed)
        m_sim = get_model(args.model)
        m_plain = copy.deepcopy(m_sim)
        cfg = FLConfig(rounds=mode["rounds"] + 1, seed=args.seed,
                       client=ClientConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr))
        trainer = FederatedTrainer(m_sim, fds, test, cfg, progress=False)
        t_sim, t_plain = [], []
        for rnd in range(1, mode["rounds"] + 2):  # round 1 warms up both and is not timed
            t0 = time.perf_counter()
            trainer.run_round()
            t_sim.append(time.perf_counter() - t0)
            t_plain.append(plain_round(m_plain, clients, test, rnd, seed=args.seed, epochs=args.epochs,
                                       batch_size=args.batch_size, lr=args.lr))
        t_sim, t_plain = t_sim[1:], t_plain[1:]
        diff = max((a - b).abs().max().item() for a, b in
                   zip(m_sim.state_dict().values(), m_plain.state_dict().values()))
        sim, plain = statistics.median(t_sim), statistics.median(t_plain)
        results[k] = {"fedsyft_s_per_round": sim, "plain_s_per_round": plain, "ratio": sim / plain,
                      "fedsyft_rounds_s": t_sim, "plain_rounds_s": t_plain,
                      "max_abs_param_diff": diff, "bytes_per_round": trainer.history.bytes_per_round[-1]}
        print(f"  {k:4d} clients: fedsyft {sim:.2f} s/round, plain {plain:.2f} s/round, "
              f"ratio {sim / plain:.3f}, max |param diff| {diff:.2e}", flush=True)
        for w in workers:
            w.shutdown()
    lines = [f"Simulation cost, mode **{mode_label}** ({args.model}, {mode['samples']} MNIST samples, "
             f"E={args.epochs}, B={args.batch_size}, median of {mode['rounds']} rounds after 1 warm-up), {machine}, {date}",
             "",
             "| clients | fedsyft s/round | plain PyTorch s/round | ratio | max param diff | MB per round |",
             "|---|---|---|---|---|---|"]
    for k, r in results.items():
        lines.append(f"| {k} | {r['fedsyft_s_per_round']:.2f} | {r['plain_s_per_round']:.2f} | "
                     f"{r['ratio']:.3f} | {r['max_abs_param_diff']:.1e} | {r['bytes_per_round'] / 1e6:.1f} |")
    table = "\n".join(lines)
    print()
    print(table)
    write_results("simulation_cost", args, {
        "benchmark": "simulation_cost", "mode": mode_label, "machine": machine, "date": date,
        "setup": {**mode, **{k: v for k, v in vars(args).items() if k != "out"}},
        "results": {str(k): v for k, v in results.items()}, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
