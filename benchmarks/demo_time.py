"""Wall time, seconds per round and final accuracy of the README's demo (`python -m fedsyft demo`).

Runs the demo as a subprocess exactly as `make demo` does, on each device asked for, and checks
the targets: at least 95% test accuracy, at most 180 s on a 2-core CPU.

    python benchmarks/demo_time.py                       # the CPU (this machine)
    python benchmarks/demo_time.py --device cpu cuda     # on the GPU machine: both, side by side

Seconds per round come from the demo's history.json (the first round, which includes warm-up,
is reported apart from the median of the others).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_label  # noqa: E402


def run_demo(device: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"fedsyft-demo-{device}-"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fedsyft", "demo", "--out", str(out), "--no-progress",
                    "--device", device], check=True)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "summary.json").read_text())
    seconds = [r["seconds"] for r in json.loads((out / "history.json").read_text())["rounds"]]
    return {"device": device, "final_accuracy": summary["final_accuracy"], "wall_s": wall,
            "first_round_s": seconds[0], "steady_round_s": statistics.median(seconds[1:] or seconds)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", nargs="+", default=["cpu"], help="devices to run on (default: cpu)")
    args = p.parse_args(argv)
    print(f"# demo benchmark, {datetime.date.today()}, {machine_label()}")
    ok = True
    for device in args.device:
        r = run_demo(device)
        print(f"{device}: final test accuracy {100 * r['final_accuracy']:.2f}% (target >= 95%), "
              f"wall {r['wall_s']:.1f} s (target <= 180 s, with start-up and data loading), "
              f"round 1 {r['first_round_s']:.2f} s, then {r['steady_round_s']:.2f} s per round")
        ok &= r["final_accuracy"] >= 0.95 and (device != "cpu" or r["wall_s"] <= 180)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
