"""Flower's deployment engine: a SuperLink and SuperNodes as separate processes on 127.0.0.1."""

import socket

import pytest

from .conftest import assert_same_state, make_task

pytest.importorskip("flwr", reason='the Flower bridge needs flwr: pip install "flwr[simulation]==1.41.*"')


def _port_free(port):
    with socket.socket() as s:  # nothing listens there (closed connections may linger in TIME_WAIT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pids):
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.slow
def test_superlink_and_three_supernodes_equal_the_trainer_and_leave_nothing(fedavg_task, fedavg_reference):
    from fedsyft.flower import LocalFederation

    ref_history, ref_state = fedavg_reference
    fed = LocalFederation(3)
    with fed:
        pids, ports, tmp = fed.pids(), fed.ports, fed._tmp
        assert len(ports) == 4 and len(pids) >= 4  # SuperLink + 3 SuperNodes (+ their SuperExecs)
        result = fed.run(fedavg_task)
    assert_same_state(result.state, ref_state)
    assert result.history.accuracies == ref_history.accuracies
    assert [r.clients for r in result.history.rounds] == [["client0", "client1", "client2"]] * 2
    assert _alive(pids) == []
    assert all(_port_free(p) for p in ports)
    assert not tmp.exists()


@pytest.mark.slow
def test_a_supernode_stopped_mid_run_is_named_and_the_round_goes_on():
    from fedsyft.flower import LocalFederation

    task = make_task(rounds=2, clients=3, per_client=100)
    with LocalFederation(3) as fed:
        def kill_after_round_one(rec):
            if rec.round == 1:
                fed.kill_supernode(2)  # SIGTERM to its process group: it leaves mid-run

        result = fed.run(task, on_client_failure="continue", round_timeout=60, on_round=kill_after_round_one)
    r1, r2 = result.history.rounds
    assert r1.clients == ["client0", "client1", "client2"] and "lost_clients" not in r1.extra
    assert r2.clients == ["client0", "client1"]
    (who, why), = r2.extra["lost_clients"].items()
    assert who.startswith("client2 (partition-id=2")
    assert "Node Unavailable" in why or "SuperNode may have died" in why


def test_a_port_in_use_is_refused_and_named():
    from fedsyft.flower import LocalFederation, PortInUseError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"Port {port} on 127\.0\.0\.1 is already in use.*Choose another port"):
            LocalFederation(1, port=port).start()
