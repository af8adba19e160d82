"""The page-wide handshake gate: at most N in flight, first come first served, nothing leaks."""

from __future__ import annotations

import pytest

from pyclient.gate import GATE_POLICY, Admission, GatePolicy, HandshakeGate


def test_admits_up_to_the_limit_then_queues_in_order() -> None:
    gate = HandshakeGate(2)
    started: list[int] = []
    admissions = [gate.request(lambda _, i=i: started.append(i)) for i in range(5)]
    assert started == [0, 1]
    assert (gate.in_flight, gate.waiting) == (2, 3)
    admissions[1].release()
    assert started == [0, 1, 2]
    admissions[0].release()
    admissions[2].release()
    assert started == [0, 1, 2, 3, 4]
    assert gate.in_flight == 2


def test_release_is_idempotent_and_a_queued_request_can_leave() -> None:
    gate = HandshakeGate(1)
    started: list[str] = []
    first = gate.request(lambda _: started.append("first"))
    queued = gate.request(lambda _: started.append("abandoned"))
    last = gate.request(lambda _: started.append("last"))
    queued.release()  # e.g. the attempt timed out while waiting
    first.release()
    first.release()  # a second release must not free a second slot
    assert started == ["first", "last"]
    assert (gate.in_flight, gate.waiting) == (1, 0)
    last.release()
    assert gate.in_flight == 0


def test_a_start_that_releases_at_once_lets_the_next_one_in() -> None:
    gate = HandshakeGate(1)
    started: list[int] = []

    def start(i: int, admission: Admission) -> None:
        started.append(i)
        if i == 0:
            admission.release()  # e.g. the socket failed synchronously, before request() returned

    gate.request(lambda a: start(0, a))
    gate.request(lambda a: start(1, a))
    assert started == [0, 1]
    assert gate.in_flight == 1


def test_a_start_that_raises_holds_no_slot() -> None:
    gate = HandshakeGate(1)

    def boom(_: Admission) -> None:
        raise ValueError("bad url")

    with pytest.raises(ValueError):
        gate.request(boom)
    started: list[int] = []
    gate.request(lambda _: started.append(1))
    assert started == [1]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HandshakeGate(0)


def test_the_gate_policy_holds_its_number_and_rejects_nonsense() -> None:
    assert HandshakeGate().limit == GATE_POLICY.handshakes_in_flight == 6
    with pytest.raises(ValueError):
        GatePolicy(handshakes_in_flight=0)
