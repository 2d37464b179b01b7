"""Build hook: put MNIST inside the wheel, so that a pip-installed fedsyft runs its demo offline
from any folder. Everything else about the package is declared in pyproject.toml.

The repository keeps MNIST once, in data/MNIST/raw (with data/SHA256SUMS); a non-editable build
copies those files into fedsyft/_data/ of the built package. Editable installs read data/ in the
clone directly. Fashion-MNIST and CIFAR-10 are not in the wheel: point FEDSYFT_DATA (or root=)
at a folder that holds them (a clone's data/ does).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGED = ["MNIST/raw/train-images-idx3-ubyte.gz", "MNIST/raw/train-labels-idx1-ubyte.gz",
            "MNIST/raw/t10k-images-idx3-ubyte.gz", "MNIST/raw/t10k-labels-idx1-ubyte.gz"]


class BuildPyWithMNIST(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        src, dst = HERE / "data", Path(self.build_lib) / "fedsyft" / "_data"
        missing = [name for name in PACKAGED + ["SHA256SUMS"] if not (src / name).is_file()]
        if missing:
            raise SystemExit(f"cannot build fedsyft: {', '.join(missing)} missing under {src}; "
                             f"build from a full clone (git checkout -- data/).")
        sums = [line for line in (src / "SHA256SUMS").read_text().splitlines()
                if line.split()[-1].lstrip("*") in PACKAGED]
        for name in PACKAGED:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / name, dst / name)
        (dst / "SHA256SUMS").write_text("\n".join(sums) + "\n")


setup(cmdclass={"build_py": BuildPyWithMNIST})
