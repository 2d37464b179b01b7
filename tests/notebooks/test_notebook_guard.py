"""Every notebook in notebooks/ is executed by CI (nbval), or excluded with a written reason."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MARK = "# NBVAL_IGNORE_OUTPUT"


def _excluded() -> dict[str, str]:
    """Notebooks listed under '## Excluded from CI' in notebooks/README.md, with their reasons."""
    text = (ROOT / "notebooks" / "README.md").read_text()
    section = text.split("## Excluded from CI", 1)[1] if "## Excluded from CI" in text else ""
    found = {}
    for line in section.splitlines():
        m = re.match(r"\s*[-*]\s*`?([\w.-]+\.ipynb)`?\s*[:—-]\s*(.+)", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def _pytest_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]


def test_the_series_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 1
    assert all(re.match(r"\d\d_\w+\.ipynb$", n) for n in names), names


def test_ci_runs_pytest_with_nbval_over_notebooks():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\n\t\$\(PY\) -m pytest\s*$", makefile, re.M)
    cfg = _pytest_config()
    assert "notebooks" in cfg["testpaths"]
    assert "--nbval " in cfg["addopts"] + " " and "--nbval-lax" not in cfg["addopts"]
    assert "--ignore" not in cfg["addopts"] and "--deselect" not in cfg["addopts"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_or_excluded_with_reason(path):
    excluded = _excluded()
    if path.name in excluded:
        assert len(excluded[path.name]) > 20, f"{path.name} is excluded without a real reason"
        return
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    meta = nb["metadata"].get("nbval", {})
    assert not meta.get("skip"), f"{path.name} is skipped in its metadata"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code"
    for c in code:
        assert not c["metadata"].get("tags") or "nbval-skip" not in c["metadata"]["tags"], (
            f"{path.name} skips a cell")
        src = "".join(c["source"])
        assert "NBVAL_SKIP" not in src, f"{path.name} skips a cell: only outputs may be ignored"
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), (
            f"{path.name} has a stored error")
    assert any(c.get("outputs") for c in code), f"{path.name} has no stored outputs: execute it"
    ignored = sum(1 for c in code if "".join(c["source"]).lstrip().startswith(MARK))
    compared = [c for c in code if c.get("outputs") and not "".join(c["source"]).lstrip().startswith(MARK)]
    assert ignored < len(code), f"{path.name} marks every cell as volatile"
    assert compared, f"{path.name} compares no outputs at all"
    assert "assert" in "".join("".join(c["source"]) for c in code), f"{path.name} asserts nothing"
