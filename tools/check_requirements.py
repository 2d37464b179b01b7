"""Check that the core requirements resolve on every Python the README promises.

    .venv/bin/python tools/check_requirements.py                  # 3.10 3.11 3.12 3.13 3.14
    .venv/bin/python tools/check_requirements.py --python 3.14

For each version it asks pip to resolve requirements.txt for that interpreter, from binary
wheels only (``pip install --dry-run --python-version X --only-binary=:all:``), as a student's
machine would. pip evaluates environment markers (``; python_version >= "3.11"``) against the
interpreter that runs it, not the target, so this script evaluates them for the target first.
Prints the versions of the key packages it would install and exits 1 if any version fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
KEY = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "opacus", "tenseal", "flwr")


def requirements_for(path: Path, python: str) -> list[str]:
    """The requirement lines of ``path`` whose markers hold on Python ``python``."""
    env = {"python_version": python, "python_full_version": f"{python}.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is None or Marker(str(req.marker)).evaluate(env):
            req.marker = None
            lines.append(str(req))
    return lines


def resolve(python: str, reqs: list[str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        req_file, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        req_file.write_text("\n".join(reqs) + "\n")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--python-version", python, "--only-binary=:all:", "--report", str(report),
               "-r", str(req_file)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            errors = [ln for ln in out.stderr.splitlines() if ln.startswith("ERROR")]
            raise RuntimeError("\n".join(errors[-5:]) or out.stderr[-2000:])
        installed = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", nargs="*", default=list(PYTHONS), help="target versions (default: %(default)s)")
    p.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    args = p.parse_args(argv)
    failed = []
    for python in args.python:
        try:
            got = resolve(python, requirements_for(args.requirements, python))
        except RuntimeError as exc:
            failed.append(python)
            print(f"Python {python}: does NOT resolve\n{exc}", flush=True)
            continue
        summary = ", ".join(f"{k} {got[k]}" for k in KEY if k in got)
        print(f"Python {python}: resolves ({len(got)} packages): {summary}", flush=True)
    if failed:
        print(f"requirements.txt does not resolve on Python {', '.join(failed)}.")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
