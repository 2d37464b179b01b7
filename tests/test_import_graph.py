"""The project's own import graph: no cycles between files, no lower layer importing a higher
one (tools/check_imports.py), and the checker itself catches what it claims to catch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_imports.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "fedsyft"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_fedsyft_has_no_cycles_and_respects_its_layers():
    res = _run()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no cycles, layers respected" in res.stdout


def test_a_cycle_hidden_inside_a_function_is_found(tmp_path):
    root = _package(tmp_path, {
        "workers/__init__.py": "",
        "workers/worker.py": """
            def execute():
                from .pointer import Pointer   # the classic dodge
                return Pointer
        """,
        "workers/pointer.py": "from .worker import execute\nclass Pointer: ...\n",
    })
    res = _run("--root", str(root))
    assert res.returncode == 1
    assert "import cycle: fedsyft.workers.pointer -> fedsyft.workers.worker -> fedsyft.workers.pointer" in res.stdout


def test_a_lower_layer_importing_a_higher_one_is_reported(tmp_path):
    root = _package(tmp_path, {
        "workers/__init__.py": "",
        "workers/hook.py": "import fedsyft.privacy.sharing\n",
        "privacy/__init__.py": "",
        "privacy/sharing.py": "from ..workers import hook\n",
        "data/__init__.py": "from ..fl import loop\n",
        "fl/__init__.py": "",
        "fl/loop.py": "",
        "partition/__init__.py": "from ..workers import hook\n",
        "newthing.py": "",
        "workers/uses_new.py": "from fedsyft import newthing\n",
    })
    res = _run("--root", str(root))
    assert res.returncode == 1
    out = res.stdout
    assert "fedsyft.workers.hook (layer 0, workers) imports fedsyft.privacy.sharing (layer 4, privacy)" in out
    assert "fedsyft.data (layer 1, data) imports fedsyft.fl.loop (layer 3, fl)" in out
    assert "partition/ is self-contained" in out
    assert "imports fedsyft.newthing (layer 5, newthing)" in out  # unknown modules sit on top
    assert "import cycle: fedsyft.privacy.sharing -> fedsyft.workers.hook -> fedsyft.privacy.sharing" in out


def test_type_checking_imports_count_for_layers_not_cycles(tmp_path):
    root = _package(tmp_path, {
        "fl/__init__.py": "",
        "fl/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "fl/b.py": "from .a import *\n",
        "device.py": "import importlib\nimportlib.import_module('fedsyft.fl.a')\n",
    })
    res = _run("--root", str(root))
    assert res.returncode == 1
    assert "import cycle" not in res.stdout
    assert "fedsyft.device (layer 0, device) imports fedsyft.fl.a" in res.stdout


@pytest.mark.parametrize("bad", ["", "nowhere"])
def test_a_root_that_is_not_a_package_is_a_usage_error(tmp_path, bad):
    res = _run("--root", str(tmp_path / bad))
    assert res.returncode == 2 and "not a package folder" in res.stderr
