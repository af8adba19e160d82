"""Properties of the reconnect machine over random event sequences (hypothesis).

Whatever the server, the network and the user do, in any order:
- at most one socket is live (connecting or open, and hooked to the machine) at a time;
- after ``close()`` no socket is ever opened and no timer is left armed;
- every retry delay lies inside the documented envelope;
- input is never reordered: what the server receives is a subsequence, in order, of what the user typed.
"""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from reconnect_fakes import FakeSocket, FakeSocketFactory, FakeTimers

from pyclient.reconnect import (
    Phase,
    ReconnectingSocket,
    ReconnectPolicy,
    State,
    Status,
    TicketRefused,
    delay_envelope_ms,
)

POLICY = ReconnectPolicy()
EPS_MS = 1e-6
CODES = st.sampled_from([1000, 1001, 1003, 1006, 1009, 1011, 1012, 1013, 1014, 4400, 4401, 4403, 4404])
REASONS = st.sampled_from(["", "session ended", "bye"])


class ReconnectMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.timers = FakeTimers()
        self.factory = FakeSocketFactory(self.timers)
        self.tickets: list[tuple[object, object]] = []
        self.rand_values: list[float] = []
        self.closed_at_sockets: int | None = None
        self.typed: list[bytes] = []
        self.key = 0
        self.restart_seen_at: float | None = None
        self.delays: list[tuple[float, Status]] = []
        self.use_ticket = False
        self.conn = self._make(False)

    def _make(self, use_ticket: bool) -> ReconnectingSocket:
        self.use_ticket = use_ticket
        return ReconnectingSocket(
            open_socket=self.factory,
            set_timeout=self.timers.set_timeout,
            clear_timeout=self.timers.clear_timeout,
            now_ms=self.timers.now_ms,
            random=self._rand,
            policy=POLICY,
            get_ticket=(lambda res, rej: self.tickets.append((res, rej))) if use_ticket else None,
            on_state=self._on_state,
            log=lambda _: None,
        )

    def _rand(self) -> float:
        return self.rand_values.pop() if self.rand_values else 0.5

    def _on_state(self, status: Status) -> None:
        if status.phase is Phase.WAITING and status.retry_at_ms is not None:
            self.delays.append((status.retry_at_ms - self.timers.now, status))
            if status.close_code == 1012:
                self.restart_seen_at = self.timers.now

    # -- rules -----------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.conn.phase is Phase.IDLE)
    @rule(use_ticket=st.booleans())
    def start(self, use_ticket: bool) -> None:
        if use_ticket:
            self.conn = self._make(True)
        self.conn.start()

    @rule(ms=st.sampled_from([0, 1, 149, 150, 400, 1000, 5000, 8000, 25_000]), r=st.floats(0, 0.999999))
    def advance(self, ms: float, r: float) -> None:
        self.rand_values.append(r)
        self.timers.advance(ms)

    @precondition(lambda self: self.factory.live())
    @rule()
    def server_accepts(self) -> None:
        sock = self.factory.live()[-1]
        if sock.readyState == FakeSocket.CONNECTING:
            sock.accept()

    @precondition(lambda self: self.factory.live())
    @rule()
    def network_fails(self) -> None:
        self.factory.live()[-1].fail()

    @precondition(lambda self: self.factory.live())
    @rule(code=CODES, reason=REASONS)
    def server_closes(self, code: int, reason: str) -> None:
        self.factory.live()[-1].server_close(code, reason)

    @precondition(lambda self: self.factory.live())
    @rule()
    def server_sends(self) -> None:
        sock = self.factory.live()[-1]
        if sock.readyState == FakeSocket.OPEN:
            sock.message(b"0x")

    @rule(ms=st.sampled_from([100, 1000, 10_000]))
    def keepalive_advertised(self, ms: float) -> None:
        self.conn.expect_keepalive(ms)

    @precondition(lambda self: self.tickets)
    @rule(outcome=st.sampled_from(["ok", "transient", "fatal"]))
    def ticket_answers(self, outcome: str) -> None:
        resolve, reject = self.tickets.pop(0)
        if outcome == "ok":
            resolve("t")
        else:
            reject(TicketRefused(outcome, fatal=outcome == "fatal", status=401 if outcome == "fatal" else 502))

    @rule()
    def user_types(self) -> None:
        self.key += 1
        frame = b"0k%d" % self.key
        if self.conn.send(frame):
            self.typed.append(frame)

    @rule()
    def retry_now(self) -> None:
        self.conn.retry_now()

    @rule()
    def close(self) -> None:
        self.conn.close()
        if self.closed_at_sockets is None:
            self.closed_at_sockets = len(self.factory.sockets)

    # -- invariants ------------------------------------------------------------------------------------------------

    @invariant()
    def at_most_one_live_socket(self) -> None:
        assert len(self.factory.live()) <= 1

    @invariant()
    def nothing_happens_after_close(self) -> None:
        if self.conn.phase is Phase.CLOSED:
            assert self.timers.pending() == []
            assert self.factory.live() == []
        if self.closed_at_sockets is not None:
            assert len(self.factory.sockets) == self.closed_at_sockets
            assert self.conn.state is State.CLOSED

    @invariant()
    def every_delay_is_inside_its_envelope(self) -> None:
        # Delays are read back as retry_at_ms - now: allow float rounding of a microsecond.
        def within(lo: float, delay: float, hi: float) -> bool:
            return lo - EPS_MS <= delay <= hi + EPS_MS

        for delay, status in self.delays:
            assert within(0, delay, POLICY.cap_ms)
            lo, hi = delay_envelope_ms(POLICY, status.failures)
            if status.close_code == 1012:
                assert within(0, delay, POLICY.restart_spread_ms)
            elif status.close_code == 1013:
                assert within(lo, delay, hi) and delay >= POLICY.base_ms * (1 - POLICY.jitter) - EPS_MS
            else:
                in_restart = within(POLICY.restart_retry_ms * (1 - POLICY.jitter), delay, POLICY.restart_retry_ms)
                assert within(lo, delay, hi) or (self.restart_seen_at is not None and in_restart)
        self.delays.clear()

    @invariant()
    def input_arrives_in_order_without_duplicates(self) -> None:
        received = [f for s in self.factory.sockets for f in s.sent]
        positions = [self.typed.index(f) for f in received]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)

    @invariant()
    def held_input_is_bounded(self) -> None:
        assert 0 <= self.conn.held_bytes <= POLICY.held_input_limit_bytes


# Locally each run explores new sequences; CI replays a fixed set, so a red CI is reproducible.
ReconnectMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, derandomize=bool(os.environ.get("CI"))
)
TestReconnectProperties = ReconnectMachine.TestCase
