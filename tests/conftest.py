import matplotlib
import pytest

# Agg for this process only: setting MPLBACKEND in the environment would leak into the
# notebook kernels that nbval starts, and their figures would vanish.
matplotlib.use("Agg")


@pytest.fixture
def hook():
    """The classic hook, removed again after the test."""
    import torch

    import fedsyft as sy

    h = sy.TorchHook(torch)
    yield h
    h.unhook()


@pytest.fixture
def workers():
    """bob, alice and james, fresh for each test."""
    from fedsyft import VirtualWorker

    ws = [VirtualWorker(id=name) for name in ("bob", "alice", "james")]
    yield ws
    for w in ws:
        w.clear_objects()
