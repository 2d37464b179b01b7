#!/usr/bin/env bash
# The real-PySyft part of `make test`: notebook 08 and tests/test_syft_bridge.py, run in their
# own environment (.venv-syft), because syft 0.9.5 installs on Python 3.10-3.12 only and picks
# its own numpy. It is set up here the first time (or when requirements-syft.txt changed) with a
# Python 3.10-3.12 interpreter found on this machine (SYFT_PYTHON=... chooses one).
# Without such an interpreter the part is reported as NOT RUN, with the reason and the fix;
# under CI (CI=true) that is a failure, never a silent pass. `--setup-only` only sets it up.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${SYFT_VENV:-.venv-syft}
STAMP=$VENV/.fedsyft-setup

if [ -z "${SYFT_PYTHON:-}" ]; then
  if ! SYFT_PYTHON=$("$PYTHON" tools/find_python.py --min 3.10 --max 3.12 --prefer 3.11 2>/tmp/fedsyft-find-python.$$); then
    reason=$(cat /tmp/fedsyft-find-python.$$); rm -f /tmp/fedsyft-find-python.$$
    echo "================================================================================"
    echo "real-PySyft part (notebook 08, tests/test_syft_bridge.py): NOT RUN"
    echo "  reason: $reason"
    echo "  fix:    install Python 3.10, 3.11 or 3.12, then run 'make test-syft'"
    echo "          (or SYFT_PYTHON=/path/to/python3.11 make test-syft)."
    echo "================================================================================"
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
  fi
  rm -f /tmp/fedsyft-find-python.$$
fi

# One set-up at a time (CI starts it in the background while the core tests run): a second
# caller waits here, then finds the stamp and skips.
exec 9>"$VENV.lock"
flock 9
if [ ! -f "$STAMP" ] || [ requirements-syft.txt -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setting up $VENV with $SYFT_PYTHON ($("$SYFT_PYTHON" --version))"
  [ -x "$VENV/bin/python" ] || "$SYFT_PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements-syft.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps -e .
  touch "$STAMP"
fi
flock -u 9
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

echo "real-PySyft part in $VENV ($("$VENV/bin/python" --version), syft $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("syft"))'))"
# syft keeps state under HOME and the temp folder: give it disposable ones.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/tmp"
HOME="$work/home" TMPDIR="$work/tmp" "$VENV/bin/python" -m pytest tests/test_syft_bridge.py notebooks/08_real_pysyft.ipynb
