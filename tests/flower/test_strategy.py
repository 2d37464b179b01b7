"""FedsyftStrategy's bookkeeping of lost clients (no engine started; imports flwr)."""

import pytest

from .conftest import make_task

pytest.importorskip("flwr", reason='the Flower bridge needs flwr: pip install "flwr[simulation]==1.41.*"')


def _strategy(**kw):
    from fedsyft.flower import FedsyftStrategy

    task = make_task(rounds=2, clients=3, per_client=30)
    return FedsyftStrategy(task, initial_state=task.build_model().state_dict(), **kw)


def test_a_client_without_reply_fails_the_round_and_is_named():
    from fedsyft.flower import ClientLostError

    s = _strategy()
    s.node_of, s._sent = {0: 11, 1: 22, 2: 33}, {11: 0, 33: 2}
    with pytest.raises(ClientLostError, match=r"Round 4 failed \(on_client_failure='raise'\): lost "
                                              r"client0 \(partition-id=0, node 11\): no reply .*SuperNode may have "
                                              r"died.*client2 \(partition-id=2, node 33\)") as err:
        s.aggregate_train(4, [])
    assert err.value.round == 4 and len(err.value.lost) == 2
    assert sorted(s.lost) == [0, 2]


def test_in_the_first_round_the_lost_partition_is_named_from_the_ones_that_answered():
    s = _strategy(on_client_failure="continue")
    s.node_of, s._sent = {0: 11, 1: 22}, {11: 0, 22: 1, 33: None}
    lost = s._name_lost({33: "no reply"})
    assert lost == {"client2 (partition-id=2) on node(s) 33": "no reply"}
    assert s.lost == {2: "no reply"}


def test_continue_with_no_answer_at_all_still_fails():
    from fedsyft.flower import ClientLostError

    s = _strategy(on_client_failure="continue")
    s.node_of, s._sent = {0: 11, 1: 22, 2: 33}, {11: 0}
    with pytest.raises(ClientLostError, match="no client answered"):
        s.aggregate_train(1, [])


def test_failure_policy_is_checked():
    with pytest.raises(ValueError, match=r"on_client_failure must be one of \('raise', 'continue'\)"):
        _strategy(on_client_failure="ignore")
