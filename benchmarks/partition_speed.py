"""How fast are fedsyft's partitioners on a million labels?

Times, on 1,000,000 labels with 10 classes and 100 clients:

* ``dirichlet`` with alpha 0.1 and min_size 10 (NIID-Bench ``noniid-labeldir``), target <= 1 s;
* ``iid`` and ``shards`` (McMahan, 2 shards per client), target <= 0.2 s each.

Each is run ``--repeat`` times (default 5); the median is compared with the target. Prints a
table and exits with status 1 if a target is missed.

``--compare PYTHON`` also times FedLab's ``hetero_dir_partition`` and Flower Datasets'
``DirichletPartitioner`` (``self_balancing=True``, i.e. the same NIID-Bench cap) on the same
labels, in that interpreter (they have heavy, conflicting dependencies, so keep them in a
throwaway virtual environment, never in the project's)::

    python -m venv /tmp/cmpvenv && /tmp/cmpvenv/bin/pip install fedlab flwr-datasets
    python benchmarks/partition_speed.py --compare /tmp/cmpvenv/bin/python

Without ``--compare``, or when those packages are missing, the comparison is skipped with a
message. The reference runs are informational: they never change the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from fedsyft.partition import dirichlet, iid, shards

N, NUM_CLASSES, NUM_CLIENTS, ALPHA, MIN_SIZE = 1_000_000, 10, 100, 0.1, 10

# Runs in the --compare interpreter: argv = labels.npy, repeat, timeout per call (s).
_REFERENCE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
labels = np.load(sys.argv[1]); repeat = int(sys.argv[2])
N, C, K, ALPHA, MIN_SIZE = len(labels), 10, 100, 0.1, 10
out = {}

def timed(fn):
    ts = []
    for i in range(repeat):
        t0 = time.perf_counter(); parts = fn(i); ts.append(time.perf_counter() - t0)
    sizes = sorted(len(p) for p in parts)
    assert sum(sizes) == N, sum(sizes)
    return {"times": ts, "min_size": sizes[0]}

try:
    from fedlab.utils.dataset.functional import hetero_dir_partition
    def fedlab(i):
        np.random.seed(i)
        d = hetero_dir_partition(labels, K, C, ALPHA, min_require_size=MIN_SIZE)
        return list(d.values())
    out["fedlab hetero_dir_partition"] = timed(fedlab)
except ImportError as e:
    out["fedlab hetero_dir_partition"] = {"skip": f"not installed ({e})"}
except Exception as e:
    out["fedlab hetero_dir_partition"] = {"skip": f"failed: {type(e).__name__}: {e}"}

try:
    from datasets import Dataset
    from flwr_datasets.partitioner import DirichletPartitioner
    ds = Dataset.from_dict({"label": labels})
    def flower(i):
        p = DirichletPartitioner(num_partitions=K, partition_by="label", alpha=ALPHA,
                                 min_partition_size=MIN_SIZE, self_balancing=True, seed=i)
        p.dataset = ds
        p.load_partition(0)  # computes every partition's indices
        return [p._partition_id_to_indices[j] for j in range(K)]
    out["flwr-datasets DirichletPartitioner"] = timed(flower)
except ImportError as e:
    out["flwr-datasets DirichletPartitioner"] = {"skip": f"not installed ({e})"}
except Exception as e:
    out["flwr-datasets DirichletPartitioner"] = {"skip": f"failed: {type(e).__name__}: {e}"}
print("@@RESULT@@" + json.dumps(out))
"""


def _time(fn: Callable[[], list[np.ndarray]], repeat: int) -> tuple[list[float], list[np.ndarray]]:
    times, parts = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        parts = fn()
        times.append(time.perf_counter() - t0)
    return times, parts


def _row(name: str, times: list[float], target: float | None, note: str = "") -> str:
    med = statistics.median(times)
    verdict = "-" if target is None else ("pass" if med <= target else "FAIL")
    tgt = "-" if target is None else f"<= {target:.2f} s"
    return (f"{name:<38} {min(times):>9.3f} {med:>9.3f}  {tgt:>10}  {verdict:>6}  {note}").rstrip()


def _compare(python: str, labels: np.ndarray, repeat: int, timeout: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "labels.npy")
        np.save(path, labels)
        try:
            proc = subprocess.run(
                [python, "-c", _REFERENCE, path, str(repeat)],
                capture_output=True, text=True, timeout=timeout,
            )
        except FileNotFoundError:
            return [f"comparison skipped: interpreter {python!r} not found"]
        except subprocess.TimeoutExpired:
            return [f"comparison skipped: reference run took longer than {timeout:.0f} s "
                    f"(a hang?)"]
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")]
    if not marker:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return ["comparison skipped: reference run failed: " + " | ".join(tail)]
    rows = []
    for name, res in json.loads(marker[0][len("@@RESULT@@"):]).items():
        if "skip" in res:
            rows.append(f"{name:<38} skipped: {res['skip']}")
        else:
            rows.append(_row(name, res["times"], None, f"min client {res['min_size']}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per partitioner (median kept)")
    ap.add_argument("--compare", metavar="PYTHON",
                    help="interpreter with fedlab and flwr-datasets installed")
    ap.add_argument("--compare-repeat", type=int, default=3)
    ap.add_argument("--compare-timeout", type=float, default=600.0,
                    help="seconds before the reference run is abandoned")
    args = ap.parse_args(argv)

    labels = np.random.default_rng(0).integers(0, NUM_CLASSES, N)
    cases = [
        (f"fedsyft dirichlet alpha={ALPHA} min_size={MIN_SIZE}",
         lambda: dirichlet(labels, NUM_CLIENTS, alpha=ALPHA, min_size=MIN_SIZE, seed=0), 1.0),
        ("fedsyft iid", lambda: iid(labels, NUM_CLIENTS, seed=0), 0.2),
        ("fedsyft shards (2 per client)",
         lambda: shards(labels, NUM_CLIENTS, shards_per_client=2, seed=0), 0.2),
    ]
    print(f"{N:,} labels, {NUM_CLASSES} classes, {NUM_CLIENTS} clients, "
          f"{args.repeat} runs each; numpy {np.__version__}, {os.cpu_count()} CPUs")
    print(f"{'partitioner':<38} {'min (s)':>9} {'median(s)':>9}  {'target':>10}  {'result':>6}")
    ok = True
    for name, fn, target in cases:
        times, parts = _time(fn, args.repeat)
        assert sum(len(p) for p in parts) == N
        ok &= statistics.median(times) <= target
        print(_row(name, times, target, f"min client {min(len(p) for p in parts)}"))

    if args.compare:
        print(f"\nreference implementations ({args.compare}, {args.compare_repeat} runs each):")
        for line in _compare(args.compare, labels, args.compare_repeat, args.compare_timeout):
            print(line)
    else:
        print("\ncomparison skipped: pass --compare /path/to/python (a venv with fedlab and "
              "flwr-datasets) to time FedLab and Flower Datasets on the same labels")
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
