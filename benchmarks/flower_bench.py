"""fedsyft's virtual workers against Flower's simulation and deployment engines, same workload.

The FedAvg workload of issue 14: 10 clients x 2,000 MNIST images (IID), NIID-Bench simple-cnn,
SGD lr 0.01 momentum 0.9, B=64, E=1, 5 rounds, evaluation on 2,000 test images. Every engine
trains the same model from the same seeds (the final weights agree; the script checks the
accuracies). Each engine runs in a fresh Python process; the parent samples the resident
memory (RSS) of that process and all its descendants (Ray's daemons and workers, the
SuperLink, SuperNodes, SuperExecs and their app processes) every 0.1 s and keeps the peak.

    python benchmarks/flower_bench.py                 # all engines, writes results/flower_bench.json
    python benchmarks/flower_bench.py --engines workers simulation

Reported per engine: wall time of the whole run (engine start and stop included), the first
round and the steady round (median of rounds 2..R) as the server timed them, peak RSS, and the
final accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

WORKLOAD = dict(clients=10, per_client=2000, model="simple_cnn", lr=0.01, momentum=0.9, batch_size=64, epochs=1,
                rounds=5, test=2000, seed=0)
ENGINES = ("workers", "batched", "simulation", "deployment")


def make_task(w=WORKLOAD):
    from fedsyft.fl import ClientConfig, FLConfig
    from fedsyft.flower import FlowerTask
    from fedsyft.partition import get_partitioner

    n = w["clients"] * w["per_client"]
    from fedsyft.data import MNIST

    labels = MNIST("train").targets[:n].numpy()
    parts = get_partitioner("iid", seed=w["seed"])(labels, w["clients"])
    cfg = FLConfig(rounds=w["rounds"], seed=w["seed"], client=ClientConfig(
        epochs=w["epochs"], batch_size=w["batch_size"], lr=w["lr"], momentum=w["momentum"]))
    return FlowerTask(parts, cfg, model=w["model"], train_subset=n, test_subset=w["test"])


def run_engine(engine: str) -> dict:
    """Runs in the child process: one engine, timed from before it starts to after it stops."""
    import torch

    torch.set_num_threads(1)  # as every Flower client (Ray actor, ClientApp process): same results
    t0 = time.perf_counter()
    task = make_task()
    if engine in ("workers", "batched"):
        from fedsyft.fl import FederatedTrainer
        from fedsyft.workers import VirtualWorker

        workers = [VirtualWorker(id=f"client{i}") for i in range(task.num_clients)]
        fds = task.train_set().federate(workers, partition=list(task.partition))
        trainer = FederatedTrainer(task.build_model(), fds, task.test_data(), task.config, progress=False,
                                   device="cpu", backend=engine)
        history = trainer.run()
    elif engine == "simulation":
        from fedsyft.flower import run_simulation

        history = run_simulation(task, num_cpus=2, cpus_per_client=1).history
    else:
        from fedsyft.flower import run_deployment

        history = run_deployment(task).history
    wall = time.perf_counter() - t0
    secs = [r.seconds for r in history.rounds]
    return {"engine": engine, "wall_s": round(wall, 2), "first_round_s": round(secs[0], 2),
            "steady_round_s": round(statistics.median(secs[1:]), 2), "round_s": [round(s, 2) for s in secs],
            "accuracy": history.final_accuracy, "accuracies": history.accuracies}


def tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(engine: str, timeout: float) -> dict:
    """Run one engine in a child process, sampling the RSS of its process tree."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", engine], stdout=subprocess.PIPE, text=True,
                             env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(child.pid))
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = child.communicate(timeout=timeout)
    done.set()
    th.join()
    if child.returncode != 0:
        return {"engine": engine, "error": f"exit code {child.returncode}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["process_s"] = round(time.perf_counter() - t0, 2)
    res["peak_rss_mb"] = round(peak[0] / 2**20)
    return res


def batched_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("fedsyft.fl.batched") is not None  # FederatedTrainer(backend="batched")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=None)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flower_bench.json")
    p.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_engine(args.child)))
        return
    from _common import machine_label

    engines = args.engines or [e for e in ENGINES if e != "batched" or batched_available()]
    rows = []
    for engine in engines:
        print(f"running {engine} ...", flush=True)
        rows.append(measure(engine, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
    base = next((r for r in rows if r["engine"] == "workers" and "error" not in r), None)
    print(f"\n{'engine':<12}{'wall s':>9}{'x workers':>10}{'1st round s':>12}{'steady s':>10}{'peak RSS MB':>12}"
          f"{'accuracy':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['engine']:<12}{r['error']}")
            continue
        ratio = f"{r['wall_s'] / base['wall_s']:.2f}" if base else "-"
        print(f"{r['engine']:<12}{r['wall_s']:>9.1f}{ratio:>10}{r['first_round_s']:>12.2f}{r['steady_round_s']:>10.2f}"
              f"{r['peak_rss_mb']:>12}{100 * r['accuracy']:>9.2f}%")
    accs = {r["engine"]: r["accuracy"] for r in rows if "error" not in r}
    payload = {"benchmark": "flower_bench", "workload": WORKLOAD, "machine": machine_label(),
               "date": time.strftime("%Y-%m-%d %H:%M"), "batched_available": batched_available(),
               # fedsyft's loop and both Flower engines compute the same weights; the batched engine
               # does the same math in another summation order (last digits may differ)
               "flower_equals_workers": len({a for e, a in accs.items() if e != "batched"}) <= 1,
               "rows": rows,
               "note": "wall_s: whole run in a fresh process (engine start/stop included); first/steady round "
                       "as the server timed it; peak_rss_mb: the process and all its descendants, sampled "
                       "every 0.1 s."}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
