"""A pip-installed fedsyft (a wheel, not the clone) runs its demo and a notebook offline, from
any folder: the path a Colab or classroom user takes.

The wheel is built from a copy of the files an sdist carries, installed with ``--no-deps`` into a
fresh virtual environment whose dependencies come from the test environment (a ``.pth`` line, so
that no editable-install hook of the clone is active there), and run from a temporary folder with
no FEDSYFT_DATA: MNIST must come from inside the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDIST_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "data/SHA256SUMS",
               "data/MNIST/raw"]

pytestmark = pytest.mark.slow


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv holding only the fedsyft wheel, a clean environment for it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SDIST_FILES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name)
        else:
            shutil.copyfile(ROOT / name, src / name)
    shutil.copytree(ROOT / "fedsyft", src / "fedsyft", ignore=shutil.ignore_patterns("__pycache__", "_data"))
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
          "-w", str(dist), str(src)])
    wheels = list(dist.glob("fedsyft-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--quiet", str(wheels[0])])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("FEDSYFT_DATA", "PYTHONPATH")}
    env.update(HOME=str(home), MPLBACKEND="Agg", FLWR_TELEMETRY_ENABLED="0")
    return python, env, wheels[0]


def test_wheel_carries_mnist_and_its_checksums(installed):
    import zipfile

    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for split in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert f"fedsyft/_data/MNIST/raw/{split}" in names
    assert "fedsyft/_data/SHA256SUMS" in names
    assert not any(n.startswith("fedsyft/_data/FashionMNIST") for n in names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_installed_demo_runs_offline_from_any_folder(installed, tmp_path):
    python, env, _ = installed
    where = _run([str(python), "-c", "import fedsyft, fedsyft.data.paths as p; print(fedsyft.__file__); "
                  "print(p.data_root())"], cwd=tmp_path, env=env).stdout.split()
    assert str(python.parents[1]) in where[0], f"fedsyft was not imported from the wheel: {where[0]}"
    assert where[1].endswith("fedsyft/_data"), where[1]
    out = _run([str(python), "-m", "fedsyft", "demo", "--rounds", "1", "--out", "demo", "--no-progress"],
               cwd=tmp_path, env=env, timeout=900)
    history = json.loads((tmp_path / "demo" / "history.json").read_text())
    acc = history["rounds"][-1]["test_accuracy"]
    assert acc > 0.8, f"one demo round reached only {acc:.3f}\n{out.stdout[-2000:]}"
    script = python.parent / "fedsyft"
    assert _run([str(script), "--version"], cwd=tmp_path, env=env).stdout.strip().endswith(
        _run([str(python), "-c", "import fedsyft; print(fedsyft.__version__)"], env=env).stdout.strip())


def test_a_notebook_runs_outside_the_repository(installed, tmp_path):
    """What Colab does: the notebook alone, a non-editable install, numpy 2, no repository."""
    python, env, _ = installed
    nb = tmp_path / "02_non_iid_data.ipynb"
    shutil.copyfile(ROOT / "notebooks" / nb.name, nb)
    _run([str(python), "-c", "import numpy; assert int(numpy.__version__.split('.')[0]) >= 2, numpy.__version__"],
         env=env)
    _run([str(python), "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
          str(nb)], cwd=tmp_path, env=env, timeout=900)
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
