"""Repository-wide collection rules (pytest reads this file before any other conftest).

Real PySyft 0.9.5 lives in its own environment (.venv-syft), so the core environment does not
collect its part (notebook 08 and tests/test_syft_bridge.py). It never passes that part
silently: the summary says it was not run here and how `make test` runs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SYFT_ONLY = {ROOT / "tests" / "test_syft_bridge.py", ROOT / "notebooks" / "08_real_pysyft.ipynb"}
HAS_SYFT = importlib.util.find_spec("syft") is not None
_skipped: list[str] = []


def pytest_ignore_collect(collection_path, config):
    if not HAS_SYFT and Path(collection_path).resolve() in SYFT_ONLY:
        _skipped.append(str(Path(collection_path).resolve().relative_to(ROOT)))
        return True
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _skipped:
        terminalreporter.write_sep("=", "real-PySyft part NOT RUN in this environment", yellow=True, bold=True)
        terminalreporter.write_line(
            f"not collected: {', '.join(sorted(set(_skipped)))} (syft 0.9.5 is not installed in this "
            "environment: it needs Python 3.10-3.12 and its own numpy).")
        terminalreporter.write_line(
            "`make test` runs it in .venv-syft after this part (`make test-syft` runs only it).")
