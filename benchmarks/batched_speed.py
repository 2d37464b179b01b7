"""The batched client engine against training the clients one after another.

Both sides train the same clients from the same global model with the same seeds and the
same :class:`~fedsyft.fl.client.ClientConfig`; they differ only in *how*:

- ``sequential``: :func:`fedsyft.fl.client.local_train` on a fresh copy of the model, client
  after client (what the workers path runs at each worker, without the pointer traffic);
- ``batched``: :func:`fedsyft.fl.batched.train_clients_batched`'s engine, all clients in one
  ``torch.func`` program (engine and data pool built once, as a training run reuses them).

CPU mode (default): three cases, each timed round by round, the two sides interleaved (their
order alternating) and reported as medians of wall time and of process CPU time (CPU time
is the fairer figure on a shared machine); ``--compile`` adds the engine with
``torch.compile`` as a third side (its one-off compile time is reported, not in the medians);
each case also prints what ``backend="auto"`` picks there (its own short probe) beside the
side measured faster:

- ``mcmahan_2nn``: McMahan et al. 2017's 2NN, 100 IID MNIST clients of 600, C=0.1 (10 per
  round), E=5, B=10, lr 0.1;
- ``simple_cnn_b10`` / ``simple_cnn_b64``: NIID-Bench's simple-cnn, 10 IID MNIST clients of
  6,000, B=10 / B=64, lr 0.01, momentum 0.9.

``--mode quick`` caps every client at ``--max-steps`` local steps (default 40) so a case
takes seconds; ``--mode full`` runs the whole local epochs (E=5 for the 2NN, E=1 for the
simple-cnn cases).

GPU mode (``--device cuda --full``): one full NIID-Bench MNIST cell (10 IID parties of 6,000,
simple-cnn, E=10, B=64, lr 0.01, momentum 0.9, FedAvg, 50 rounds) through
``FederatedTrainer``: seconds per cell with ``backend="batched"`` (steps captured in CUDA
graphs; all 50 rounds measured, server step and per-round evaluation included; its final
accuracy is printed beside NIID-Bench's 99.09%) and with ``backend="workers"`` on the same
GPU (``--sequential-rounds`` rounds measured, extrapolated to 50 and labelled so). It first
checks, on the GPU, that the batched engine equals ``local_train`` within 1e-4 after 20
steps. Target: <= 40 s per cell on an H100/H200.

Example::

    nice python benchmarks/batched_speed.py --threads 1                  # CPU, quick
    python benchmarks/batched_speed.py --device cuda --full               # GPU, one ready command
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import machine_label, write_results  # noqa: E402  (benchmarks/ is on sys.path)

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.fl import (
    ClientConfig,
    FederatedTrainer,
    FLConfig,
    client_seed,
    local_train,
    sample_clients,
)
from fedsyft.fl.batched import BatchedEngine, DataPool
from fedsyft.fl.batched.backend import choose_backend
from fedsyft.models import get_model
from fedsyft.partition import IID, iid

CASES = {  # model, clients, selected per round, samples per client, config (full mode)
    "mcmahan_2nn": ("mcmahan_2nn", 100, 10, 600, ClientConfig(epochs=5, batch_size=10, lr=0.1)),
    "simple_cnn_b10": ("simple_cnn", 10, 10, 6000,
                       ClientConfig(epochs=1, batch_size=10, lr=0.01, momentum=0.9)),
    "simple_cnn_b64": ("simple_cnn", 10, 10, 6000,
                       ClientConfig(epochs=1, batch_size=64, lr=0.01, momentum=0.9)),
}
MODES = ("quick", "full")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Cases and modes: see the module docstring.")
    p.add_argument("--mode", choices=MODES, default="quick")
    p.add_argument("--device", default="cpu", help="cpu (side-by-side ratios) or cuda (with --full)")
    p.add_argument("--full", action="store_true", help="with --device cuda: one full NIID-Bench cell")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--repeats", type=int, default=5, help="rounds timed per case and side (CPU)")
    p.add_argument("--max-steps", type=int, default=40, help="quick mode: local steps per client")
    p.add_argument("--rounds", type=int, default=50, help="GPU cell: rounds")
    p.add_argument("--sequential-rounds", type=int, default=2,
                   help="GPU cell: rounds timed for the sequential side (then extrapolated)")
    p.add_argument("--compile", action="store_true",
                   help="CPU: also time the engine with torch.compile (compile time reported apart)")
    p.add_argument("--no-fast-conv", action="store_true", help="CPU: torch.func's own convolution rule")
    p.add_argument("--dry-run", action="store_true",
                   help="run the cell's code on any device with 3 local steps and 2 rounds (a check, not a figure)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/batched_speed_<mode>.json)")
    return p.parse_args(argv)


def _shards(train, num_clients: int, per_client: int, seed: int, device):
    x = train.data.to(device)
    y = train.targets.to(device)
    parts = iid(num_clients * per_client, num_clients, seed=seed)
    return [(x[torch.as_tensor(p, device=device)], y[torch.as_tensor(p, device=device)]) for p in parts]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _sequential(model, shards, chosen, config, seeds):
    return [local_train(copy.deepcopy(model), *shards[c], config, seed=s) for c, s in zip(chosen, seeds)]


def cpu_case(name: str, args, train) -> dict:
    model_name, n_clients, n_sel, per_client, config = CASES[name]
    if args.mode == "quick":
        config = ClientConfig(**{**config.as_dict(), "max_steps": args.max_steps})
    torch.manual_seed(args.seed)
    model = get_model(model_name)
    shards = _shards(train, n_clients, per_client, args.seed, "cpu")
    pool = DataPool(shards)
    engines = {"batched": BatchedEngine(model, config, fast_conv=not args.no_fast_conv)}
    if args.compile:
        engines["batched_compiled"] = BatchedEngine(model, config, compile=True)
    run = {"sequential": lambda ch, sd: _sequential(model, shards, ch, config, sd)}
    warmup = {}
    for side, eng in engines.items():
        run[side] = (lambda e: lambda ch, sd: e.train(model, pool, clients=ch, seeds=sd))(eng)
        w0 = time.perf_counter()
        run[side](*_round(args, n_clients, n_sel, 0))  # warm-up (probe, allocations, compiling)
        warmup[side] = time.perf_counter() - w0
    times: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in run}
    sides = list(run)
    steps = 0
    for r in range(1, args.repeats + 1):
        chosen, seeds = _round(args, n_clients, n_sel, r)
        order = sides if r % 2 else sides[::-1]
        for side in order:
            w0, c0 = time.perf_counter(), time.process_time()
            out = run[side](chosen, seeds)
            times[side]["wall"].append(time.perf_counter() - w0)
            times[side]["cpu"].append(time.process_time() - c0)
        steps = sum(o["steps"] for o in out)
    med = {s: {k: statistics.median(v) for k, v in t.items()} for s, t in times.items()}
    auto, auto_reason = choose_backend(model, shards, config)  # what backend="auto" would pick
    faster = "batched" if med["batched"]["cpu"] < med["sequential"]["cpu"] else "workers"
    res = {"model": model_name, "clients": n_clients, "per_round": n_sel, "samples_per_client": per_client,
           "config": config.as_dict(), "client_steps_per_round": steps, "times": times, "median": med,
           "warmup_seconds": warmup, "fast_conv": not args.no_fast_conv,
           "auto": auto, "auto_reason": auto_reason, "faster_eager_side": faster,
           "ratio_wall": {s: med["sequential"]["wall"] / med[s]["wall"] for s in engines},
           "ratio_cpu": {s: med["sequential"]["cpu"] / med[s]["cpu"] for s in engines}}
    line = f"  {name:15s} sequential {med['sequential']['wall']:6.2f} s wall / {med['sequential']['cpu']:6.2f} s cpu"
    for s_ in engines:
        line += (f" | {s_} {med[s_]['wall']:6.2f} s / {med[s_]['cpu']:6.2f} s: "
                 f"{res['ratio_wall'][s_]:.2f}x wall, {res['ratio_cpu'][s_]:.2f}x cpu")
    if args.compile:
        line += f" (compiling took {warmup['batched_compiled']:.0f} s, not in the medians)"
    print(line + f"  [{steps} client-steps/round]", flush=True)
    print(f"  {'':15s} auto picks {auto} ({auto_reason}); measured faster here: {faster}", flush=True)
    return res


def _round(args, n_clients, n_sel, r):
    chosen = sample_clients(n_clients, n_sel, seed=args.seed, rnd=r)
    return chosen, [client_seed(args.seed, r, c) for c in chosen]


def _trainer(train, test, args, config, backend, tag):
    workers = [sy.VirtualWorker(id=f"bspeed_{tag}{i}") for i in range(10)]
    fds = train.federate(workers, partition=IID(seed=args.seed))
    torch.manual_seed(args.seed)
    cfg = FLConfig(rounds=args.rounds, algorithm="fedavg", client=config, seed=args.seed)
    return FederatedTrainer(get_model("simple_cnn"), fds, test, cfg, progress=False, device=args.device,
                            backend=backend), workers


def gpu_cell(args, train, test) -> dict:
    """One NIID-Bench MNIST cell (FedAvg, IID) through FederatedTrainer, batched vs workers."""
    device = torch.device(args.device)
    config = ClientConfig(epochs=10, batch_size=64, lr=0.01, momentum=0.9,
                          max_steps=3 if args.dry_run else None)
    shards = _shards(train, 10, 6000, args.seed, device)
    torch.manual_seed(args.seed)
    model = get_model("simple_cnn").to(device)

    # 1. the same math on this device (a few steps, fresh engine, steps captured on CUDA)
    check_cfg = ClientConfig(epochs=1, batch_size=64, lr=0.01, momentum=0.9, max_steps=20)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare full float32 on both sides
    eng = BatchedEngine(model, check_cfg)
    got = eng.train(model, DataPool(shards), seeds=list(range(10)))
    worst = 0.0
    for i in range(10):
        local = copy.deepcopy(model)
        local_train(local, *shards[i], check_cfg, seed=i)
        for k, v in local.state_dict().items():
            if torch.is_floating_point(v):
                worst = max(worst, float((got[i]["state"][k] - v).norm() / v.norm().clamp_min(1e-12)))
    torch.backends.cudnn.allow_tf32 = tf32
    graph = [ws.capture_note for ws in eng._spaces.values()]
    print(f"  check: batched vs local_train on {device}: worst relative difference {worst:.2e} "
          f"(must be < 1e-4); step: {graph}", flush=True)
    del shards, eng, got

    # 2. the batched cell, all rounds, through the trainer (server step and evaluation included)
    trainer, workers = _trainer(train, test, args, config, "batched", "b")
    _sync(device)
    t0 = time.perf_counter()
    hist = trainer.run()
    _sync(device)
    batched_s = time.perf_counter() - t0
    acc = hist.final_accuracy
    print(f"  batched ({trainer.backend_reason}): {batched_s:.1f} s for {args.rounds} rounds "
          f"(target <= 40 s); final test accuracy {100 * acc:.2f}% (NIID-Bench FedAvg IID: 99.09%)",
          flush=True)
    for w in workers:
        w.shutdown()

    # 3. the workers side, a few rounds, extrapolated
    trainer, workers = _trainer(train, test, args, config, "workers", "w")
    _sync(device)
    t0 = time.perf_counter()
    trainer.run(args.sequential_rounds)
    _sync(device)
    seq_round = (time.perf_counter() - t0) / args.sequential_rounds
    seq_cell = seq_round * args.rounds
    for w in workers:
        w.shutdown()
    print(f"  workers: {seq_round:.1f} s per round -> {seq_cell:.0f} s per {args.rounds}-round cell "
          f"(extrapolated from {args.sequential_rounds} rounds); ratio {seq_cell / batched_s:.1f}x", flush=True)
    return {"setup": {"parties": 10, "samples_per_party": 6000, "model": "simple_cnn", "rounds": args.rounds,
                      "algorithm": "fedavg", "partition": "iid", **config.as_dict()},
            "check_worst_relative_difference": worst, "step": graph,
            "batched_seconds_per_cell": batched_s, "batched_final_accuracy": acc,
            "batched_accuracies": hist.accuracies, "published_accuracy": 0.9909,
            "workers_seconds_per_round": seq_round,
            "workers_seconds_per_cell_extrapolated": seq_cell,
            "workers_rounds_measured": args.sequential_rounds, "ratio": seq_cell / batched_s,
            "target_seconds_per_cell": 40}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    date = _dt.date.today().isoformat()
    machine = machine_label()
    train, test = MNIST("train"), MNIST("test")
    gpu = torch.device(args.device).type == "cuda"
    if gpu and not args.full:
        print("--device cuda measures the full NIID-Bench cell: add --full.", file=sys.stderr)
        return 2
    if args.dry_run:  # the cell's code path end to end, on any device, in seconds
        args.full, args.rounds, args.sequential_rounds = True, 2, 1
    label = ("cell-dry-run" if args.dry_run else "gpu-cell") if args.full else args.mode
    print(f"batched_speed, mode={label}, {machine}, {date}", flush=True)
    if args.full:
        payload = {"cell": gpu_cell(args, train, test)}
    else:
        payload = {"cases": {name: cpu_case(name, args, train) for name in args.cases}}
    args.mode = label
    write_results("batched_speed", args, {"benchmark": "batched_speed", "mode": label, "machine": machine,
                                          "date": date, **payload})
    return 0


if __name__ == "__main__":
    sys.exit(main())
