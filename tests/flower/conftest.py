"""Shared fixtures for the Flower bridge: a small real MNIST experiment, and the same run on
fedsyft's own loop (the reference every engine must equal)."""

import os

import pytest

os.environ["FLWR_TELEMETRY_ENABLED"] = "0"  # before anything imports flwr
os.environ["FLWR_DISABLE_UPDATE_CHECK"] = "1"


def make_task(*, algorithm="fedavg", num_selected=None, rounds=2, clients=3, per_client=200):
    from fedsyft.data import MNIST
    from fedsyft.fl import ClientConfig, FLConfig
    from fedsyft.flower import FlowerTask
    from fedsyft.partition import get_partitioner

    n = clients * per_client
    labels = MNIST("train").targets[:n].numpy()
    parts = get_partitioner("dirichlet", alpha=1.0, min_size=20, seed=3)(labels, clients)
    cfg = FLConfig(rounds=rounds, seed=7, algorithm=algorithm, mu=0.1, num_selected=num_selected,
                   client=ClientConfig(batch_size=32, lr=0.05, momentum=0.9, max_steps=4))
    return FlowerTask(parts, cfg, model="mcmahan_2nn", train_subset=n, test_subset=1000)


def trainer_reference(task):
    """Run ``task`` with fedsyft's FederatedTrainer on virtual workers; (history, state)."""
    import torch

    from fedsyft.fl import FederatedTrainer
    from fedsyft.workers import VirtualWorker

    train = task.train_set()
    workers = [VirtualWorker(id=f"client{i}") for i in range(task.num_clients)]
    fds = train.federate(workers, partition=list(task.partition))
    trainer = FederatedTrainer(task.build_model(), fds, task.test_data(), task.config, progress=False)
    # Flower's clients train with task.threads torch threads; the float sums (and so the last
    # bits of the weights) depend on the thread count, so the reference uses the same.
    threads = torch.get_num_threads()
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    try:
        history = trainer.run()
    finally:
        torch.set_num_threads(threads)
    for w in workers:
        w.clear_objects()
    return history, trainer.model.state_dict()


def assert_same_state(a, b):
    import torch

    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert torch.equal(a[k].cpu(), b[k].cpu()), (k, (a[k].double() - b[k].double()).abs().max().item())


@pytest.fixture(scope="session")
def fedavg_task():
    return make_task()


@pytest.fixture(scope="session")
def fedavg_reference(fedavg_task):
    return trainer_reference(fedavg_task)
