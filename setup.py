"""Build hook: put the shipped datasets (MNIST, Fashion-MNIST) inside the wheel, so that a
pip-installed fedsyft (Colab included) runs its demo and notebooks offline from any folder.
Everything else about the package is declared in pyproject.toml.

The repository keeps the datasets once, in data/ (with data/SHA256SUMS); a non-editable build
copies them into fedsyft/_data/ of the built package (about 41 MB). Editable installs read data/
in the clone directly. CIFAR-10 is never shipped: point FEDSYFT_DATA (or root=) at a folder that
holds it, or download it (md5-checked).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGED = [f"{folder}/raw/{name}" for folder in ("MNIST", "FashionMNIST")
            for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]


class BuildPyWithData(build_py):
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


setup(cmdclass={"build_py": BuildPyWithData})
