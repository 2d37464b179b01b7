"""The package surface: get_partitioner, the classes, purity of the layer."""

import ast
import pathlib

import numpy as np
import pytest

import fedsyft.partition as fp
from fedsyft.partition import PARTITIONERS, Partitioner, get_partitioner

from ._helpers import assert_exactly_once, same

NAMES = ["iid", "shards", "classes_per_client", "real_world", "dirichlet", "label_quantity",
         "quantity_skew", "linear", "square", "exponential"]


def test_names():
    assert list(PARTITIONERS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_get_partitioner_default_call(name):
    p = get_partitioner(name)
    assert isinstance(p, Partitioner)
    labels = np.repeat(np.arange(10), 40)
    parts = p(labels, 10)  # the federate() contract: p(labels_int64, num_workers)
    assert len(parts) == 10
    assert_exactly_once(parts, 400)
    assert same(parts, p(labels, 10))
    assert eval(repr(p), vars(fp)) == p  # repr round-trips
    fn = getattr(fp, name)
    assert same(parts, fn(labels, 10, **p.params))


def test_get_partitioner_params_and_errors():
    assert get_partitioner("Dirichlet", alpha=0.1) == fp.Dirichlet(alpha=0.1)
    assert get_partitioner("classes-per-client", k=3) == fp.ClassesPerClient(k=3)
    with pytest.raises(ValueError, match="name='pathological' .*iid, shards, .*exponential"):
        get_partitioner("pathological")
    with pytest.raises(ValueError, match="name=3"):
        get_partitioner(3)
    with pytest.raises(ValueError, match=r"\['beta'\] are invalid for 'dirichlet'.*alpha"):
        get_partitioner("dirichlet", beta=0.5)
    with pytest.raises(ValueError, match="alpha=-1"):
        get_partitioner("dirichlet", alpha=-1)


def test_all_exports_exist():
    for name in fp.__all__:
        assert hasattr(fp, name), name


def test_partition_layer_is_pure():
    """fedsyft.partition must not import the higher layers (fl, privacy, workers, data)."""
    forbidden = ("fl", "privacy", "workers", "data")
    root = pathlib.Path(fp.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level >= 2:  # from ..x import y
                    assert mod.split(".")[0] not in forbidden, (path.name, mod)
                    assert mod or all(a.name not in forbidden for a in node.names), path.name
                assert not any(mod.startswith(f"fedsyft.{f}") for f in forbidden), (path, mod)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    assert not any(a.name.startswith(f"fedsyft.{f}") for f in forbidden), path
