"""FedAvg on real PySyft 0.9.5 datasites (fedsyft.syft_bridge), against the virtual-worker run.

syft writes its state under the temp folder and reads HOME, so the module-scoped ``syft_env``
fixture points HOME, TMPDIR and ``tempfile.tempdir`` into a pytest tmp folder *before* syft is
imported, and checks at the end that nothing was left there.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch

from fedsyft.syft_bridge import (
    INSTALL_HINT,
    DatasiteDownError,
    RequestNotApprovedError,
    SyftFederation,
    _quiet,
    import_syft,
    make_mock,
    shards_from,
)

ROUNDS = 2
SAMPLES = 4000  # 2 sites x ~2,000 MNIST samples


@pytest.fixture(scope="module")
def syft_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("syft_env")
    home, tmp = root / "home", root / "tmp"
    home.mkdir()
    tmp.mkdir()
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("TMPDIR", str(tmp))
        mp.setattr(tempfile, "tempdir", str(tmp))
        mp.delenv("SYFT_TEMP_ROOT", raising=False)
        torch.set_num_threads(1)  # small models on a shared CPU: one thread is fastest
        try:
            sy = pytest.importorskip("syft")
            yield sy
        finally:
            torch.set_num_threads(threads)
    # torch itself keeps a compile cache there (torchinductor_<user>): not syft's or ours.
    leftovers = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor"))
    assert leftovers == [], f"syft/fedsyft left state behind in TMPDIR: {leftovers}"
    assert not (home / ".syft").exists()


@pytest.fixture(scope="module")
def setup():
    from fedsyft.data import MNIST
    from fedsyft.fl import ClientConfig, FLConfig
    from fedsyft.models import get_model
    from fedsyft.partition import Dirichlet

    train, test = MNIST("train").subset(range(SAMPLES)), MNIST("test")
    parts = Dirichlet(alpha=0.5, seed=0)(train.targets.numpy(), 2)
    cfg = FLConfig(rounds=ROUNDS, client=ClientConfig(epochs=1, batch_size=32, lr=0.05), seed=0)
    torch.manual_seed(0)
    model = get_model("mcmahan_2nn")
    return {"train": train, "test": test, "parts": parts, "cfg": cfg, "model": model}


@pytest.fixture(scope="module")
def virtual_history(setup):
    from fedsyft.fl import FederatedTrainer
    from fedsyft.workers import VirtualWorker

    fds = setup["train"].federate([VirtualWorker(id="vw_bob"), VirtualWorker(id="vw_alice")],
                                  partition=setup["parts"])
    model = copy.deepcopy(setup["model"])
    return FederatedTrainer(model, fds, setup["test"], setup["cfg"], progress=False).run()


def _no_server_children():
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.is_alive()] == []


# -- without syft -----------------------------------------------------------------------
def test_import_syft_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "syft", None)  # makes `import syft` raise ImportError
    with pytest.raises(ImportError, match="pip install syft==0.9.5 sniffio"):
        import_syft()
    fed = SyftFederation(["bob"])
    with pytest.raises(ImportError, match="syft==0.9.5"):
        fed.launch()
    assert INSTALL_HINT == "pip install syft==0.9.5 sniffio"


def test_import_fedsyft_does_not_import_syft():
    code = ("import sys, fedsyft, fedsyft.syft_bridge; "
            "assert 'syft' not in sys.modules, 'syft imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_mock_is_generated_not_real():
    rng = np.random.default_rng(1)
    x = rng.random((50, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 50).astype(np.int64)
    mx, my = make_mock(x, y)
    assert mx.shape == x.shape and mx.dtype == x.dtype and my.shape == y.shape and my.dtype == y.dtype
    assert not any(np.array_equal(m, r) for m in mx for r in x)
    assert not np.array_equal(my, y)


def test_model_names_come_from_the_one_registry():
    """The sites rebuild the model by its fedsyft.models name, found from models.MODELS."""
    from fedsyft.models import MODELS, get_model
    from fedsyft.syft_bridge.round import _model_spec

    shapes = {"cifar_cnn": (3, 32, 32)}
    for name in MODELS:
        if name.startswith("vgg"):
            continue  # one class, several depths: named explicitly
        shape = shapes.get(name, (1, 28, 28))
        model = get_model(name, in_channels=shape[0], image_size=shape[-1])
        assert _model_spec(model, None, shape)[0] == name
    vgg = get_model("vgg11", in_channels=3)
    assert _model_spec(vgg, "vgg11", (3, 32, 32))[0] == "vgg11"
    with pytest.raises(ValueError, match="pass model_name"):
        _model_spec(torch.nn.Linear(2, 2), None, (1, 28, 28))


def test_only_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        SyftFederation(["bob"], loopback=True, host="0.0.0.0")
    with pytest.raises(ValueError, match="distinct"):
        SyftFederation(["bob", "bob"])


# -- in memory ---------------------------------------------------------------------------
def test_in_memory_fedavg_matches_virtual_workers(syft_env, setup, virtual_history):
    shards = shards_from(setup["train"], setup["parts"])
    model = copy.deepcopy(setup["model"])
    with SyftFederation(["bob", "alice"]) as fed:
        state_dir = fed.state_dir
        assert os.path.isdir(state_dir)
        fed.upload_shards(shards)
        clients = fed.login_scientist()
        assert set(clients) == {"bob", "alice"}
        for (x, y), site in zip(shards, fed.sites.values()):
            assert site.num_samples == len(y)
            # The scientist sees the mock: generated, same shape and dtype, not the real shard.
            mock = np.asarray(site.images.mock)
            assert mock.shape == x.shape and mock.dtype == np.float32
            assert not np.array_equal(mock, x)
            assert np.asarray(site.labels.mock).dtype == np.int64
            # ... and cannot read the private data.
            with _quiet():
                private = site.images.data
            assert not isinstance(private, np.ndarray)
            # The data scientist is not an admin of the datasite.
            assert site.scientist.user_role.name == "DATA_SCIENTIST"

        fed.request_training(max_rounds=ROUNDS)
        review = fed.review("bob")
        assert "def fedsyft_local_train(images, labels, weights, config):" in review
        assert "status PENDING" in review and "Dana Scientist" in review
        assert "images = your asset" in review and "weights = any dict" in review
        fed.approve()
        assert "status APPROVED" in fed.review("alice")

        history = fed.fit(model, setup["cfg"], setup["test"])
    assert not os.path.exists(state_dir)
    assert len(history) == ROUNDS
    diff = abs(history.final_accuracy - virtual_history.final_accuracy)
    assert diff < 0.01, (history.accuracies, virtual_history.accuracies)
    assert history.final_accuracy > 0.5
    assert all(r.extra["transport"] == "memory" and r.bytes_up > 0 for r in history.rounds)


def test_unapproved_request_and_landed_site(syft_env, setup):
    small = shards_from(setup["train"], [np.arange(200)])
    model = copy.deepcopy(setup["model"])
    with SyftFederation(["carol"]) as fed:
        fed.upload_shards(small)
        fed.login_scientist()
        with pytest.raises(RequestNotApprovedError, match="no training request"):
            fed.fit(model, setup["cfg"], setup["test"])
        fed.request_training()
        with pytest.raises(RequestNotApprovedError, match=r"not approved yet.*fed.approve\('carol'\)"):
            fed.fit(model, setup["cfg"], setup["test"])
        fed.approve("carol")
        rec = fed.train_round(model, 1, setup["cfg"], setup["test"])
        assert rec.clients == ["carol"]
        fed.site("carol").land()
        with pytest.raises(DatasiteDownError, match="'carol' has been shut down"):
            fed.train_round(model, 2, setup["cfg"], setup["test"])
    with pytest.raises(KeyError, match="carol"):
        fed.site("dave")


# -- server processes on loopback --------------------------------------------------------
def test_loopback_servers_match_and_site_down(syft_env, setup, virtual_history):
    shards = shards_from(setup["train"], setup["parts"])
    model = copy.deepcopy(setup["model"])
    fed = SyftFederation(["bob", "alice"], loopback=True)
    try:
        fed.launch()
        state_dir = fed.state_dir
        for site in fed.sites.values():
            assert site.url.startswith("http://127.0.0.1:") and site.ping()
        assert len({s.port for s in fed.sites.values()}) == 2
        fed.prepare(shards, max_rounds=ROUNDS)
        history = fed.fit(model, setup["cfg"], setup["test"])
        assert abs(history.final_accuracy - virtual_history.final_accuracy) < 0.01
        assert all(r.extra["transport"] == "http" for r in history.rounds)

        # alice's server process dies (not via fedsyft): the next round names her.
        with _quiet():
            fed.site("alice").handle.shutdown()
        assert not fed.site("alice").ping()
        with pytest.raises(DatasiteDownError, match=r"'alice' at http://127\.0\.0\.1:\d+ does not answer"):
            fed.train_round(model, ROUNDS + 1, setup["cfg"], setup["test"])
    finally:
        fed.land()
    assert not os.path.exists(state_dir)
    assert _no_server_children()
