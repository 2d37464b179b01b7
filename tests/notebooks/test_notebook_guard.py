"""Every notebook, in notebooks/ and notebooks/solutions/, is executed by CI (nbval) and never skipped.

Also the course furniture of every notebook: the Colab badge and the install cell first, and, in
every main notebook, learning objectives and references. Only the real-PySyft notebook (08) may
run outside the core environment: the root conftest.py leaves it to the syft 0.9.5 environment
(.venv-syft), where `make test` runs it with pytest/nbval (tools/test_syft.sh). No other notebook,
and no solution notebook, may be left out.
"""

import importlib.util
import json
import re
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
SOLUTIONS = sorted((NB_DIR / "solutions").glob("*.ipynb"))
ALL = NOTEBOOKS + SOLUTIONS
MARK = "# NBVAL_IGNORE_OUTPUT"
# The one notebook that may run in its own environment instead of the main nbval run.
SEPARATE_ENV = {"08_real_pysyft.ipynb"}
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/fedsyft/fedsyft/blob/main/{path})")
INSTALL = """# On Colab or any fresh kernel: install fedsyft from its repository if it is not importable.
try:
    import fedsyft
except ImportError:
    %pip install -q "fedsyft @ git+https://github.com/fedsyft/fedsyft"
    import fedsyft"""


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _nb(path: Path) -> dict:
    return json.loads(path.read_text())


def _src(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _excluded() -> dict[str, str]:
    """Notebooks listed under '## Excluded from CI' in notebooks/README.md, with their reasons."""
    text = (NB_DIR / "README.md").read_text()
    section = text.split("## Excluded from CI", 1)[1] if "## Excluded from CI" in text else ""
    section = section.split("\n## ", 1)[0]
    found = {}
    for line in section.splitlines():
        m = re.match(r"\s*[-*]\s*`?([\w./-]+\.ipynb)`?\s*[:—-]\s*(.+)", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def _pytest_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]


def test_the_series_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 1
    assert all(re.match(r"\d\d[a-z]?_\w+\.ipynb$", n) for n in names), names


def test_every_solution_notebook_belongs_to_a_notebook():
    prefixes = {re.match(r"(\d\d[a-z]?)_", p.name).group(1) for p in NOTEBOOKS}
    for p in SOLUTIONS:
        m = re.match(r"(\d\d[a-z]?)_solutions\.ipynb$", p.name)
        assert m, f"{_rel(p)}: solution notebooks are named NN_solutions.ipynb"
        assert m.group(1) in prefixes, f"{_rel(p)} has no notebook {m.group(1)}_*.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_a_notebook_points_to_exist(path):
    text = "\n".join(_src(c) for c in _nb(path)["cells"] if c["cell_type"] == "markdown")
    for ref in re.findall(r"notebooks/solutions/[\w.-]+\.ipynb", text):
        assert (ROOT / ref).is_file(), f"{path.name} points to {ref}, which does not exist"


def test_ci_runs_pytest_with_nbval_over_notebooks():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    m = re.search(r"^([\w-]+):.*\n\t\$\(PY\) -m pytest\s*$", makefile, re.M)
    assert m, "the Makefile must run the whole suite with a bare `$(PY) -m pytest`"
    assert m.group(1) == "test" or re.search(rf"^test:.*\b{m.group(1)}\b", makefile, re.M)
    cfg = _pytest_config()
    assert "notebooks" in cfg["testpaths"]
    assert "--nbval " in cfg["addopts"] + " " and "--nbval-lax" not in cfg["addopts"]
    assert "--ignore" not in cfg["addopts"] and "--deselect" not in cfg["addopts"]
    # nothing keeps pytest out of notebooks/solutions
    assert not any("solutions" in d or "notebooks" in d for d in cfg.get("norecursedirs", []))


def test_only_the_separate_environment_notebook_may_be_excluded():
    for name, reason in _excluded().items():
        assert name in SEPARATE_ENV, (
            f"{name} is excluded from CI; only {sorted(SEPARATE_ENV)} may run outside the main "
            f"nbval run (solutions never). Make it run in CI instead.")
        assert len(reason) > 20 and re.search(r"syft|environment|env\b", reason), (
            f"{name} is excluded without saying where it runs instead: {reason!r}")


def test_the_separate_environment_notebooks_run_there():
    """Notebook 08 is not collected in the core environment (the root conftest.py leaves it to
    .venv-syft); the real-PySyft part of `make test` must then run it, through pytest (so nbval)."""
    script = (ROOT / "tools" / "test_syft.sh").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "test-syft" in makefile and "tools/test_syft.sh" in makefile
    for name in SEPARATE_ENV:
        assert re.search(rf"-m pytest\b.*notebooks/{re.escape(name)}", script), (
            f"tools/test_syft.sh must run notebooks/{name} with pytest (nbval)")


def test_pytest_collects_every_notebook():
    """Ask pytest itself: a conftest ``collect_ignore`` or a skip hook would show up here."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-o", "addopts=--nbval --nbval-current-env", "notebooks"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    collected = {line.split("::", 1)[0] for line in out.stdout.splitlines() if ".ipynb::" in line}
    excluded = set(_excluded()) | SEPARATE_ENV      # 08 runs in .venv-syft (test above)
    if importlib.util.find_spec("flwr") is None:    # Python 3.10: conftest.py reports it NOT RUN
        excluded.add("09_from_workers_to_flower.ipynb")
    for path in ALL:
        if path.name in excluded and path.parent == NB_DIR:
            continue
        assert _rel(path) in collected, (
            f"pytest does not collect {_rel(path)}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_notebook_is_executed_and_never_skipped(path):
    excluded = _excluded()
    nb = _nb(path)
    meta = nb["metadata"].get("nbval", {})
    assert not meta.get("skip"), f"{path.name} is skipped in its metadata"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code"
    for c in code:
        tags = c["metadata"].get("tags") or []
        assert "nbval-skip" not in tags and "skip-execution" not in tags, f"{path.name} skips a cell"
        src = _src(c)
        assert "NBVAL_SKIP" not in src, f"{path.name} skips a cell: only outputs may be ignored"
        assert "NBVAL_RAISES_EXCEPTION" not in src, f"{path.name} expects a cell to fail"
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), (
            f"{path.name} has a stored error")
    if path.name in excluded:
        return   # runs in its own environment (see the module docstring); still never skipped
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    assert any(c.get("outputs") for c in code), f"{path.name} has no stored outputs: execute it"
    ignored = sum(1 for c in code if _src(c).lstrip().startswith(MARK))
    compared = [c for c in code if c.get("outputs") and not _src(c).lstrip().startswith(MARK)]
    assert ignored < len(code), f"{path.name} marks every cell as volatile"
    assert compared, f"{path.name} compares no outputs at all"
    assert "assert" in "".join(_src(c) for c in code), f"{path.name} asserts nothing"


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_colab_badge_and_install_cell_come_first(path):
    cells = _nb(path)["cells"]
    first = cells[0]
    badge = BADGE.format(path=_rel(path))
    assert first["cell_type"] == "markdown" and _src(first).splitlines()[0].strip() == badge, (
        f"{_rel(path)}: the first cell must be Markdown whose first line is\n{badge}")
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and _src(code[0]).strip() == INSTALL, (
        f"{_rel(path)}: the first code cell must be exactly the install cell of "
        f"_notes/COMMON.md:\n{INSTALL}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_main_notebook_has_objectives_and_references(path):
    md = [_src(c) for c in _nb(path)["cells"] if c["cell_type"] == "markdown"]
    headings = [line.strip().lower() for text in md for line in text.splitlines()
                if line.lstrip().startswith("#")]
    text = "\n".join(md).lower()
    assert any("objectives" in h for h in headings) or re.search(
        r"^\s*\*\*(learning )?objectives", text, re.M), (
        f"{path.name} needs learning objectives near the top ('## Learning objectives' or a "
        f"paragraph starting with '**Learning objectives.**' / '**Objectives.**')")
    assert any(re.search(r"#+\s*references", h) for h in headings), (
        f"{path.name} needs a '## References' section")
    refs = "\n".join(md).lower().split("references", 1)[-1]
    assert "http" in refs, f"{path.name}: its references need links"
    assert "seed article" not in text and "the seed's" not in text, (
        f"{path.name} says 'the seed article': name the source by its title and link it")
