"""Repository-wide collection rules (pytest reads this file before any other conftest).

Two parts need packages that not every supported Python can install, so an environment without
them does not collect those parts, and never passes them silently: the summary says what was not
run here, why, and how to run it.

- Real PySyft 0.9.5 lives in its own environment (.venv-syft): notebook 08 and
  tests/test_syft_bridge.py run there (`make test-syft`).
- Flower (flwr 1.41) needs Python >= 3.11: on 3.10 the Flower bridge's tests, the modules that
  import flwr at the top and notebook 09 are not collected.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PARTS = {
    "real-PySyft": {
        "available": importlib.util.find_spec("syft") is not None,
        "paths": {ROOT / "tests" / "test_syft_bridge.py", ROOT / "notebooks" / "08_real_pysyft.ipynb"},
        "why": "syft 0.9.5 is not installed in this environment: it needs Python 3.10-3.12 and its own numpy",
        "fix": "`make test` runs it in .venv-syft after this part (`make test-syft` runs only it).",
    },
    "Flower": {
        "available": importlib.util.find_spec("flwr") is not None,
        "paths": {ROOT / "tests" / "flower", ROOT / "fedsyft" / "flower" / "strategy.py",
                  ROOT / "fedsyft" / "flower" / "apps.py",
                  ROOT / "notebooks" / "09_from_workers_to_flower.ipynb"},
        "why": "flwr is not installed in this environment (flwr 1.41 needs Python >= 3.11)",
        "fix": 'run the tests with Python 3.11+ (`make test PYTHON=python3.11`), or '
               '`pip install "flwr[simulation]==1.41.*"`.',
    },
}
_skipped: dict[str, set[str]] = {}


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path).resolve()
    for name, part in PARTS.items():
        if not part["available"] and path in part["paths"]:
            _skipped.setdefault(name, set()).add(str(path.relative_to(ROOT)))
            return True
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for name, paths in _skipped.items():
        part = PARTS[name]
        terminalreporter.write_sep("=", f"{name} part NOT RUN in this environment", yellow=True, bold=True)
        terminalreporter.write_line(f"not collected: {', '.join(sorted(paths))} ({part['why']}).")
        terminalreporter.write_line(part["fix"])
