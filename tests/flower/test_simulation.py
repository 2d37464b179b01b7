"""Flower's simulation engine (Ray) trains the same model as fedsyft's own loop."""

import pytest

from .conftest import assert_same_state

pytest.importorskip("flwr", reason='the Flower bridge needs flwr: pip install "flwr[simulation]==1.41.*"')
pytest.importorskip("ray", reason='Flower simulation needs ray: pip install "flwr[simulation]==1.41.*"')


@pytest.mark.slow
def test_simulation_equals_federated_trainer_bit_for_bit(fedavg_task, fedavg_reference):
    import psutil
    import ray

    from fedsyft.flower import run_simulation

    ref_history, ref_state = fedavg_reference
    seen = []
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = run_simulation(fedavg_task, num_cpus=2, cpus_per_client=1, on_round=seen.append)
    assert_same_state(result.state, ref_state)
    assert result.history.accuracies == ref_history.accuracies
    assert [r.round for r in seen] == [1, 2]
    assert [r.clients for r in result.history.rounds] == [["client0", "client1", "client2"]] * 2
    assert result.history.rounds[0].bytes_up > 0 and result.history.rounds[0].bytes_down > 0
    # Ray is shut down and its worker processes are gone
    assert not ray.is_initialized()
    left = [p for p in psutil.Process().children(recursive=True)
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
