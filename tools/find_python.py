"""Find a Python interpreter on this machine by version, for the Makefile.

    python3 tools/find_python.py --min 3.10 --max 3.12 --prefer 3.11   # for .venv-syft
    python3 tools/find_python.py --newest                              # for the newest-Python check

Looks at ``python3.X`` on PATH, pyenv's versions and the usual system folders, runs each
candidate to read its real version (a pyenv shim may exist for a version that is not
enabled), and prints the path of the chosen one. Exits 1 with a reason when none fits.
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys


def _version(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "-c", "import sys, venv; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def candidates() -> list[str]:
    found: list[str] = []
    for minor in range(8, 20):
        exe = shutil.which(f"python3.{minor}")
        if exe:
            found.append(exe)
    roots = [os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))]
    for root in roots:
        found += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    for folder in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"):
        found += sorted(glob.glob(os.path.join(folder, "python3.[0-9]*")))
    seen, unique = set(), []
    for exe in found:
        real = os.path.realpath(exe)
        if real not in seen and not real.endswith("-config"):
            seen.add(real)
            unique.append(exe)
    return unique


def _parse(v: str) -> tuple[int, int]:
    major, minor = v.split(".")[:2]
    return int(major), int(minor)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--min", type=_parse, default=(3, 10), help="lowest version, e.g. 3.10")
    p.add_argument("--max", type=_parse, default=(3, 99), help="highest version, e.g. 3.12")
    p.add_argument("--prefer", type=_parse, default=None, help="take this version when present")
    p.add_argument("--newest", action="store_true", help="the newest version in range")
    args = p.parse_args(argv)
    usable: dict[tuple[int, int], str] = {}
    for exe in candidates():
        v = _version(exe)
        if v is not None and args.min <= v <= args.max and v not in usable:
            usable[v] = exe
    if not usable:
        lo, hi = ".".join(map(str, args.min)), ".".join(map(str, args.max))
        print(f"no Python {lo}-{hi} interpreter (with venv) found on PATH, in pyenv or in /usr/bin; "
              f"install one (e.g. `pyenv install 3.11` or `apt-get install python3.11-venv`).",
              file=sys.stderr)
        return 1
    if args.prefer in usable and not args.newest:
        choice = usable[args.prefer]
    else:
        choice = usable[max(usable)] if args.newest else usable[min(usable)]
    print(choice)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
