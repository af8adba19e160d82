"""The reconnect machine, driven headlessly: fake clock, fake sockets, exact schedules. Nothing sleeps."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from reconnect_fakes import FakeSocketFactory, FakeTimers, FixedRandom

from pyclient.protocol import MAX_CLIENT_FRAME_BYTES, Close, Reason
from pyclient.reconnect import (
    Action,
    IllegalTransition,
    Phase,
    ReconnectingSocket,
    ReconnectPolicy,
    Schedule,
    State,
    Status,
    StopReason,
    TicketRefused,
    classify,
    delay_envelope_ms,
    nominal_delay_ms,
    retry_delay_ms,
    stop_message,
)

POLICY = ReconnectPolicy()


class Harness:
    """One machine wired to fakes, recording everything it reports."""

    def __init__(
        self,
        *,
        rand: FixedRandom | None = None,
        ticket: bool = False,
        policy: ReconnectPolicy = POLICY,
        first_ticket: str | None = None,
    ):
        self.timers = FakeTimers()
        self.factory = FakeSocketFactory(self.timers)
        self.states: list[Status] = []
        self.messages: list[object] = []
        self.dropped: list[tuple[int, str]] = []
        self.tickets: list[tuple[object, object]] = []  # pending (resolve, reject)
        self.log: list[str] = []
        self.handshakes = 0
        self.opens = 0
        self.uncertain: list[bytes] = []
        self.conn = ReconnectingSocket(
            open_socket=self.factory,
            set_timeout=self.timers.set_timeout,
            clear_timeout=self.timers.clear_timeout,
            now_ms=self.timers.now_ms,
            random=rand or FixedRandom(0.0),
            policy=policy,
            get_ticket=(lambda resolve, reject: self.tickets.append((resolve, reject))) if ticket else None,
            on_state=self.states.append,
            handshake=self._handshake,
            on_open=self._on_open,
            on_message=self.messages.append,
            on_input_dropped=lambda n, why: self.dropped.append((n, why)),
            on_input_uncertain=self.uncertain.append,
            log=self.log.append,
            first_ticket=first_ticket,
        )

    def _handshake(self) -> bytes:
        self.handshakes += 1
        return b"HANDSHAKE"

    def _on_open(self) -> None:
        self.opens += 1

    @property
    def state(self) -> State:
        return self.conn.state

    def open_now(self) -> None:
        self.factory.last.answer()
        assert self.state is State.OPEN

    def attempt_times(self) -> list[float]:
        return [s.created_at for s in self.factory.sockets]


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


# ------------------------------------------------------------------------------------------------------------------
# The schedule as a pure function


def test_nominal_schedule_is_exact() -> None:
    assert [nominal_delay_ms(POLICY, k) for k in range(1, 10)] == [150, 800, 1600, 3200, 6400, 8000, 8000, 8000, 8000]


def test_jitter_stays_inside_the_documented_envelope() -> None:
    for k in range(1, 12):
        lo, hi = delay_envelope_ms(POLICY, k)
        for r in (0.0, 0.25, 0.5, 0.999999):
            assert lo <= retry_delay_ms(POLICY, k, r) <= hi
    assert delay_envelope_ms(POLICY, 1) == (150, 150)  # the first retry is not jittered
    assert delay_envelope_ms(POLICY, 2) == (400, 800)
    assert delay_envelope_ms(POLICY, 20) == (4000, 8000)
    assert retry_delay_ms(POLICY, 3, 0.5) == 1200


def test_schedule_survives_a_very_long_outage() -> None:
    assert nominal_delay_ms(POLICY, 10_000) == 8000


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        ReconnectPolicy(factor=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        POLICY.cap_ms = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------------------------
# What an ending means: the close table, row by row


@pytest.mark.parametrize(
    ("code", "reason", "clean", "ticket_status", "action", "stop"),
    [
        (1000, "session ended", True, None, Action.STOP, StopReason.SESSION_ENDED),
        (1000, "bye", True, None, Action.RETRY, None),
        (1000, "", False, None, Action.RETRY, None),
        (1006, "", False, None, Action.RETRY, None),
        (1009, "message too big", True, None, Action.RETRY, None),
        (1012, "service restart", True, None, Action.RESTART, None),
        (1012, "", False, None, Action.RESTART, None),
        (1013, "try again later", True, None, Action.BACK_OFF, None),
        (1014, "bad gateway", True, None, Action.RETRY, None),
        (4400, "bad request: columns", True, None, Action.RETRY, None),
        (4401, "unauthorized", True, None, Action.STOP, StopReason.UNAUTHORIZED),
        (4403, "origin not allowed", True, None, Action.STOP, StopReason.FORBIDDEN),
        (4404, "no such session", True, None, Action.STOP, StopReason.NO_SUCH_SESSION),
        (None, "connect timeout", True, None, Action.RETRY, None),  # a local failure
        (None, "", True, 401, Action.STOP, StopReason.UNAUTHORIZED),
        (None, "", True, 403, Action.STOP, StopReason.FORBIDDEN),
        (None, "", True, 500, Action.RETRY, None),
        (None, "", True, 404, Action.RETRY, None),
    ],
)
def test_close_table(
    code: int | None, reason: str, clean: bool, ticket_status: int | None, action: Action, stop: StopReason | None
) -> None:
    verdict = classify(code, reason, clean=clean, ticket_status=ticket_status)
    assert (verdict.action, verdict.stop) == (action, stop)


@pytest.mark.parametrize(("status", "fatal"), [(401, True), (403, True), (502, False), (None, False)])
def test_a_ticket_error_is_fatal_exactly_when_the_table_says_stop(status: int | None, fatal: bool) -> None:
    assert TicketRefused("x", status=status).fatal is fatal


# ------------------------------------------------------------------------------------------------------------------
# The schedule object: (its state, a drop) -> (delay, its new state), row by row

R = 0.5  # the random draw for every row: 1 - jitter * R = 0.75 of nominal


@pytest.mark.parametrize(
    ("failures", "restart_until", "action", "open_for", "now", "delay", "failures_after", "restart_after"),
    [
        # never opened: one more failure, the nominal schedule (the first retry unjittered)
        (0, None, Action.RETRY, None, 0, 150, 1, None),
        (1, None, Action.RETRY, None, 0, 600, 2, None),
        (4, None, Action.RETRY, None, 0, 4800, 5, None),
        (9, None, Action.RETRY, None, 0, 6000, 10, None),
        # a stable connection resets first; a short one does not
        (6, None, Action.RETRY, 5000, 0, 150, 1, None),
        (6, None, Action.RETRY, 4999, 0, 6000, 7, None),
        # 1012: reset, a spread first try, a window
        (6, None, Action.RESTART, 100, 1000, 125, 0, 11_000),
        # inside the window: the second failure on retries every restart_retry_ms (jittered)
        (0, 11_000, Action.RETRY, None, 2000, 150, 1, 11_000),
        (1, 11_000, Action.RETRY, None, 2000, 187.5, 2, 11_000),
        (30, 11_000, Action.RETRY, None, 10_999, 187.5, 31, 11_000),
        # the window is over: the normal schedule at the count reached
        (30, 11_000, Action.RETRY, None, 11_000, 6000, 31, None),
        # 1013: at least the second step, the window closed
        (0, None, Action.BACK_OFF, 60_000, 0, 600, 2, None),
        (3, 11_000, Action.BACK_OFF, None, 2000, 2400, 4, None),
    ],
)
def test_schedule_after_drop(
    failures: int,
    restart_until: float | None,
    action: Action,
    open_for: float | None,
    now: float,
    delay: float,
    failures_after: int,
    restart_after: float | None,
) -> None:
    schedule = Schedule(POLICY)
    schedule.failures, schedule.restart_until_ms = failures, restart_until
    assert schedule.after_drop(action, open_for, now, R) == delay
    assert (schedule.failures, schedule.restart_until_ms) == (failures_after, restart_after)
    assert schedule.restarting is (restart_after is not None)


@pytest.mark.parametrize(
    ("failures", "restart_until", "failures_after"),
    [(3, None, 3), (3, 11_000, 0)],  # only failures inside an announced restart are forgotten on open
)
def test_schedule_on_open(failures: int, restart_until: float | None, failures_after: int) -> None:
    schedule = Schedule(POLICY)
    schedule.failures, schedule.restart_until_ms = failures, restart_until
    schedule.on_open()
    assert (schedule.failures, schedule.restart_until_ms) == (failures_after, None)


# ------------------------------------------------------------------------------------------------------------------
# States and the schedule, driven through the machine


def test_first_connect_reports_connecting_then_open() -> None:
    h = Harness()
    h.conn.start()
    assert [s.state for s in h.states] == [State.CONNECTING]
    assert h.factory.last.binaryType == "arraybuffer"
    h.open_now()
    assert [(s.state, s.phase) for s in h.states] == [
        (State.CONNECTING, Phase.ATTEMPTING),
        (State.OPEN, Phase.OPEN),
    ]


def test_a_server_that_stays_down_gets_the_exact_schedule_and_states() -> None:
    h = Harness()
    h.conn.start()
    seen_states = []
    for _ in range(8):
        h.factory.last.fail()
        seen_states.append(h.state)
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    assert gaps(h.attempt_times()) == [150, 800, 1600, 3200, 6400, 8000, 8000, 8000]
    # The quiet first retry reads "connecting"; from the second retry on, "reconnecting".
    assert seen_states[0] is State.CONNECTING
    assert all(s is State.RECONNECTING for s in seen_states[1:])


def test_jitter_spreads_attempts_two_onward() -> None:
    h = Harness(rand=FixedRandom(0.5))
    h.conn.start()
    for _ in range(4):
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    assert gaps(h.attempt_times()) == [150, 600, 1200, 2400]


def test_a_drop_after_a_stable_connection_restarts_the_schedule() -> None:
    h = Harness()
    h.conn.start()
    for _ in range(4):  # escalate first
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.timers.advance(POLICY.stable_after_ms)
    h.factory.last.server_close(1006)
    assert h.conn.status.failures == 1
    assert h.state is State.CONNECTING
    assert h.conn.status.retry_at_ms - h.timers.now == 150


def test_a_flapping_server_escalates_to_the_cap_instead_of_being_hammered() -> None:
    h = Harness()
    h.conn.start()
    delays = []
    for _ in range(8):
        h.open_now()
        h.timers.advance(1000)  # accepted, then dropped well before stable_after
        h.factory.last.server_close(1006)
        delays.append(h.conn.status.retry_at_ms - h.timers.now)
        h.timers.advance(delays[-1])
    assert delays == [150, 800, 1600, 3200, 6400, 8000, 8000, 8000]


def test_messages_reach_the_pane_and_handshake_precedes_everything() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.message(b"0hello")
    assert h.messages == [b"1bash", b"0hello"]
    assert h.factory.last.sent == [b"HANDSHAKE"]


# ------------------------------------------------------------------------------------------------------------------
# Intentional close and stale events


def test_close_while_waiting_cancels_the_timer_and_never_reopens() -> None:
    h = Harness()
    h.conn.start()
    h.factory.last.fail()
    assert h.timers.pending()
    h.conn.close()
    assert h.timers.pending() == []
    h.timers.advance(3_600_000)
    assert len(h.factory.sockets) == 1
    assert h.state is State.CLOSED
    assert h.conn.status.stop_reason is StopReason.CLOSED_BY_CLIENT


def test_close_while_open_closes_the_socket_with_1000_and_ignores_its_late_events() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    sock = h.factory.last
    onclose, onmessage = sock.onclose, sock.onmessage
    h.conn.close()
    assert sock.closed_with == (1000, "pane closed")
    assert not sock.attached
    # The browser delivers the close (and a straggling message) after we asked: both are ignored.
    onmessage(type("E", (), {"data": b"0late"})())
    onclose(type("E", (), {"code": 1006, "reason": ""})())
    h.timers.advance(60_000)
    assert h.messages == [b"1bash"]
    assert len(h.factory.sockets) == 1
    assert h.timers.pending() == []
    h.conn.close()  # a second close does nothing
    h.conn.retry_now()
    assert len(h.factory.sockets) == 1


def test_close_while_attempting_abandons_the_attempt() -> None:
    h = Harness()
    h.conn.start()
    sock = h.factory.last
    onopen = sock.onopen
    h.conn.close()
    assert sock.closed_with == (1000, "pane closed")
    onopen(None)  # the open that raced the close
    assert h.state is State.CLOSED
    assert h.timers.pending() == []


def test_events_from_a_replaced_socket_are_ignored() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    old = h.factory.last
    stale_message, stale_close = old.onmessage, old.onclose
    old.server_close(1006)
    h.timers.advance(150)
    new = h.factory.last
    assert new is not old
    new.answer()
    stale_message(type("E", (), {"data": b"0stale"})())
    stale_close(type("E", (), {"code": 1006, "reason": ""})())
    assert h.messages == [b"1bash", b"1bash"]
    assert h.state is State.OPEN
    assert h.factory.live() == [new]


def test_start_twice_is_an_illegal_transition_and_changes_nothing() -> None:
    h = Harness()
    h.conn.start()
    with pytest.raises(IllegalTransition):
        h.conn.start()
    assert h.conn.phase is Phase.ATTEMPTING
    assert len(h.factory.sockets) == 1


# ------------------------------------------------------------------------------------------------------------------
# The close-code contract


@pytest.mark.parametrize(
    ("code", "reason", "stop"),
    [
        (1000, "session ended", StopReason.SESSION_ENDED),
        (4404, "no such session", StopReason.NO_SUCH_SESSION),
        (4401, "unauthorized", StopReason.UNAUTHORIZED),
        (4403, "origin not allowed", StopReason.FORBIDDEN),
    ],
)
def test_codes_that_stop_for_good(code: int, reason: str, stop: StopReason) -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(code, reason)
    assert h.state is State.CLOSED
    assert h.conn.status.stop_reason is stop
    assert h.conn.status.close_code == code
    assert h.conn.status.message
    assert h.timers.pending() == []
    h.timers.advance(60_000)
    h.conn.retry_now()
    assert len(h.factory.sockets) == 1


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, "bye"), (1003, ""), (1006, ""), (1009, ""), (1011, ""), (1014, ""), (4400, "bad")]
)
def test_every_other_code_is_a_drop_and_is_retried(code: int, reason: str) -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(code, reason)
    assert h.conn.phase is Phase.WAITING
    assert h.conn.status.close_code == code
    h.timers.advance(150)
    assert len(h.factory.sockets) == 2


def test_1012_retries_at_once_with_jitter_and_a_reset_schedule() -> None:
    h = Harness(rand=FixedRandom(0.4))
    h.conn.start()
    for _ in range(5):  # escalate first: the restart must not inherit this
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.timers.advance(100)
    h.factory.last.server_close(1012, "service restart")
    assert h.conn.status.failures == 0
    assert h.state is State.CONNECTING
    assert h.conn.status.retry_at_ms - h.timers.now == pytest.approx(0.4 * POLICY.restart_spread_ms)
    # While the server restarts, refused attempts retry fast instead of escalating.
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    start = len(h.factory.sockets) - 1
    for _ in range(6):
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    assert gaps(h.attempt_times()[start:]) == [150, 200, 200, 200, 200, 200]  # 250 * (1 - 0.5 * 0.4)


def test_the_restart_window_ends_and_the_normal_schedule_resumes() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(1012)
    while h.timers.now < POLICY.restart_window_ms + 1:
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
        h.factory.last.fail()
    assert h.conn.status.retry_at_ms - h.timers.now == nominal_delay_ms(POLICY, h.conn.status.failures)


def test_1013_backs_off_without_the_quick_retry() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.timers.advance(60_000)  # stable: still no quick retry for "try again later"
    h.factory.last.server_close(1013, "try again later")
    assert h.conn.status.retry_at_ms - h.timers.now == 800
    assert h.state is State.RECONNECTING


# ------------------------------------------------------------------------------------------------------------------
# Timeouts


def test_an_attempt_that_hangs_is_abandoned_after_the_connect_timeout() -> None:
    h = Harness()
    h.conn.start()
    hung = h.factory.last
    h.timers.advance(POLICY.connect_timeout_ms - 1)
    assert h.conn.phase is Phase.ATTEMPTING
    h.timers.advance(1)
    assert hung.closed_with == (4000, "connect timeout")
    assert not hung.attached
    assert h.conn.status.failures == 1
    h.timers.advance(150)
    assert len(h.factory.sockets) == 2
    hung.accept()  # far too late: ignored
    assert h.conn.phase is Phase.ATTEMPTING


def test_the_watchdog_drops_a_silent_socket_after_two_and_a_half_keepalives() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    assert h.conn.keepalive_ms is None
    h.conn.expect_keepalive(10_000)
    assert h.conn.keepalive_ms == 10_000
    for _ in range(6):  # keepalives arriving on time keep it alive
        h.timers.advance(10_000)
        h.factory.last.message(b"0")
    assert h.state is State.OPEN
    silent = h.factory.last
    h.timers.advance(24_999)
    assert h.state is State.OPEN
    h.timers.advance(1)
    assert h.conn.phase is Phase.WAITING
    assert silent.closed_with == (4000, "keepalive timeout")
    assert not silent.attached
    assert h.conn.keepalive_ms is None  # belonged to the dropped connection


def test_no_watchdog_without_an_advertised_keepalive() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.timers.advance(3_600_000)
    assert h.state is State.OPEN
    assert h.timers.pending() == []


def test_the_watchdog_belongs_to_one_connection() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.conn.expect_keepalive(1000)
    h.factory.last.server_close(1006)
    h.timers.advance(150)
    h.open_now()  # the new socket has not advertised a keepalive (e.g. a plain ttyd)
    h.timers.advance(60_000)
    assert h.state is State.OPEN


# ------------------------------------------------------------------------------------------------------------------
# retry_now


def test_retry_now_skips_the_wait() -> None:
    h = Harness()
    h.conn.start()
    for _ in range(5):
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.factory.last.fail()
    assert h.conn.status.retry_at_ms - h.timers.now == 8000
    h.timers.advance(1000)
    h.conn.retry_now()
    assert len(h.factory.sockets) == 7
    assert h.factory.last.created_at == h.timers.now
    assert len(h.timers.pending()) == 1  # the new attempt's connect timeout only: the old retry timer is gone


def test_retry_now_does_nothing_while_attempting_or_open() -> None:
    h = Harness()
    h.conn.start()
    h.conn.retry_now()
    assert len(h.factory.sockets) == 1
    h.open_now()
    h.conn.retry_now()
    assert len(h.factory.sockets) == 1
    assert h.state is State.OPEN


# ------------------------------------------------------------------------------------------------------------------
# Held input


def test_keys_typed_while_down_arrive_in_order_after_the_handshake() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(1006)
    for key in (b"0e", b"0c", b"0h", b"0o"):
        assert h.conn.send(key)
    assert h.conn.held_bytes == 8
    h.timers.advance(150)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0e", b"0c", b"0h", b"0o"]
    assert h.conn.held_bytes == 0


def test_held_input_is_bounded_and_the_excess_is_reported() -> None:
    h = Harness(policy=dataclasses.replace(POLICY, held_input_limit_bytes=4096))
    h.conn.start()
    chunk = b"0" + b"x" * 1023
    assert all(h.conn.send(chunk) for _ in range(4))
    assert not h.conn.send(b"0y")
    assert h.dropped == [(1, "not connected and 4 KiB already waiting (at most 4 KiB is held)")]
    assert h.conn.status.held_inputs == 4
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", chunk, chunk, chunk, chunk]
    assert h.conn.status.held_inputs == 0


def test_terminal_replies_are_never_held() -> None:
    h = Harness()
    h.conn.start()
    assert not h.conn.send(b"0\x1b[>0;276;0c", hold=False)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE"]
    assert h.dropped == []


def test_held_input_is_dropped_visibly_when_the_session_ends() -> None:
    h = Harness()
    h.conn.start()
    h.conn.send(b"0ls\r")
    h.factory.last.server_close(1000, "session ended")
    assert h.dropped == [(3, "session ended")]
    assert not h.conn.send(b"0more")
    assert h.dropped[-1] == (4, "session ended")


# ------------------------------------------------------------------------------------------------------------------
# The ticket step


def test_each_attempt_fetches_a_fresh_ticket() -> None:
    h = Harness(ticket=True)
    h.conn.start()
    assert h.factory.sockets == []
    resolve, _ = h.tickets.pop()
    resolve("t1")
    assert h.factory.last.ticket == "t1"
    h.factory.last.fail()
    h.timers.advance(150)
    resolve, _ = h.tickets.pop()
    resolve("t2")
    assert [s.ticket for s in h.factory.sockets] == ["t1", "t2"]


@pytest.mark.parametrize(("status", "stop"), [(401, StopReason.UNAUTHORIZED), (403, StopReason.FORBIDDEN)])
def test_a_refused_ticket_is_fatal(status: int, stop: StopReason) -> None:
    h = Harness(ticket=True)
    h.conn.start()
    _, reject = h.tickets.pop()
    reject(TicketRefused(f"HTTP {status}", fatal=True, status=status))
    assert h.state is State.CLOSED
    assert h.conn.status.stop_reason is stop
    h.timers.advance(60_000)
    assert h.tickets == [] and h.factory.sockets == []


# The server's one-line reasons (livepane_server/app.py ROTATED_TEXT, auth.Refusal.body and .close_reason).
ROTATED = "unauthorized: the access token was rotated; open the new URL that serve.py printed"
ORIGIN_BODY = (
    "forbidden: origin https://example.org is not this server's (http://127.0.0.1:8765): set --public-url, "
    "or proxy_set_header Host $http_host"
)
ORIGIN_CLOSE = "origin not allowed: set --public-url, or proxy_set_header Host $http_host"


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (401, ROTATED, ROTATED),
        (403, ORIGIN_BODY, ORIGIN_BODY),
        (401, "", "not authorized: reload the page with the token URL"),  # a body without text: the fixed words
        (403, "", "forbidden by the server"),
    ],
)
def test_a_refused_ticket_says_the_servers_reason(status: int, reason: str, message: str) -> None:
    h = Harness(ticket=True)
    h.conn.start()
    _, reject = h.tickets.pop()
    reject(TicketRefused(f"HTTP {status}: {reason}", status=status, reason=reason))
    assert h.state is State.CLOSED
    assert h.conn.status.message == message


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (4403, ORIGIN_CLOSE, ORIGIN_CLOSE),
        (4401, "ticket invalid: expired", "ticket invalid: expired"),
        (4401, "", "not authorized: reload the page with the token URL"),
        (4403, "", "forbidden by the server"),
    ],
)
def test_a_refused_socket_says_the_close_reason(code: int, reason: str, message: str) -> None:
    h = Harness()
    h.conn.start()
    h.factory.last.server_close(code, reason)
    assert h.state is State.CLOSED
    assert h.conn.status.message == message


def test_keys_dropped_at_a_refusal_are_reported_with_the_servers_reason() -> None:
    h = Harness(ticket=True)
    h.conn.start()
    h.conn.send(b"0ls")  # held: not open yet
    _, reject = h.tickets.pop()
    reject(TicketRefused("HTTP 401", status=401, reason=ROTATED))
    assert h.dropped == [(2, ROTATED)]


def test_a_stop_message_is_one_line_and_only_refusals_take_the_servers_words() -> None:
    assert stop_message(StopReason.FORBIDDEN, "  forbidden:\n origin  x \r\n") == "forbidden: origin x"
    assert stop_message(StopReason.UNAUTHORIZED, " \n ") == "not authorized: reload the page with the token URL"
    # An ending the pane words itself (its panels offer a relaunch) keeps its own text whatever the reason says.
    assert stop_message(StopReason.SESSION_ENDED, "session ended") == "session ended"
    assert stop_message(StopReason.NO_SUCH_SESSION, "no such session: x") == "no such session"


@pytest.mark.parametrize("error", [TicketRefused("HTTP 502", fatal=False, status=502), OSError("network down")])
def test_any_other_ticket_failure_is_transient(error: BaseException) -> None:
    h = Harness(ticket=True)
    h.conn.start()
    _, reject = h.tickets.pop()
    reject(error)
    assert h.conn.phase is Phase.WAITING
    h.timers.advance(150)
    assert len(h.tickets) == 1


def test_the_pages_ticket_opens_the_first_socket_without_a_fetch() -> None:
    """Issue #14: the page carries the first ticket; only later attempts fetch one."""
    h = Harness(ticket=True, first_ticket="from-the-page")
    h.conn.start()
    assert h.tickets == []
    assert [s.ticket for s in h.factory.sockets] == ["from-the-page"]
    h.factory.last.fail()
    h.timers.advance(150)
    resolve, _ = h.tickets.pop()
    resolve("fetched")
    assert [s.ticket for s in h.factory.sockets] == ["from-the-page", "fetched"]


@pytest.mark.parametrize("reason", ["ticket invalid: already used", "ticket invalid: expired", "ticket invalid"])
def test_a_refused_page_ticket_fetches_one_at_once_and_counts_no_failure(reason: str) -> None:
    """A spent or expired page ticket must not stop the pane (a fetched one's 4401 does): the next attempt starts at
    once, with a fetched ticket, and the keys typed meanwhile wait for it."""
    h = Harness(ticket=True, first_ticket="spent")
    h.conn.start()
    h.conn.send(b"0ls")
    h.factory.last.server_close(4401, reason)
    assert h.conn.phase is Phase.ATTEMPTING and h.conn.status.failures == 0
    resolve, _ = h.tickets.pop()
    resolve("fetched")
    h.open_now()
    assert h.factory.last.ticket == "fetched"
    assert h.factory.last.input_frames() == [b"0ls"]
    assert h.dropped == []


def test_a_refused_fetched_ticket_still_stops_after_a_refused_page_ticket() -> None:
    h = Harness(ticket=True, first_ticket="spent")
    h.conn.start()
    h.factory.last.server_close(4401, "ticket invalid: already used")
    resolve, _ = h.tickets.pop()
    resolve("fetched")
    h.factory.last.server_close(4401, "ticket invalid: expired")
    assert h.state is State.CLOSED and h.conn.status.stop_reason is StopReason.UNAUTHORIZED


def test_a_page_ticket_is_used_once_even_when_its_socket_opens() -> None:
    h = Harness(ticket=True, first_ticket="page")
    h.conn.start()
    h.open_now()
    h.factory.last.fail()
    h.timers.advance(150)
    assert len(h.tickets) == 1  # the reconnect fetches
    # A 4401 on a later socket (a fetched ticket) is a stop, as without a page ticket.
    resolve, _ = h.tickets.pop()
    resolve("fetched")
    h.factory.last.server_close(4401, "ticket invalid: already used")
    assert h.state is State.CLOSED


def test_a_ticket_that_never_comes_times_out_and_a_late_one_is_ignored() -> None:
    h = Harness(ticket=True)
    h.conn.start()
    late_resolve, _ = h.tickets.pop()
    h.timers.advance(POLICY.connect_timeout_ms)
    assert h.conn.phase is Phase.WAITING
    late_resolve("too-late")
    assert h.factory.sockets == []


def test_a_ticket_resolved_after_close_opens_nothing() -> None:
    h = Harness(ticket=True)
    h.conn.start()
    resolve, _ = h.tickets.pop()
    h.conn.close()
    resolve("t")
    assert h.factory.sockets == []


def test_a_socket_factory_that_raises_is_a_failed_attempt() -> None:
    h = Harness()

    def broken(ticket: str | None) -> object:
        raise ValueError("bad url")

    h.conn._open_socket = broken
    h.conn.start()
    assert h.conn.phase is Phase.WAITING
    assert any("bad url" in line for line in h.log)


def test_each_failure_is_logged_once_with_the_next_delay() -> None:
    h = Harness()
    h.conn.start()
    h.factory.last.fail()
    assert h.log == ["connect failed (code 1006); attempt 2 in 150 ms"]


def test_failures_during_an_announced_restart_do_not_count_as_flapping_afterwards() -> None:
    # After a 1012 the attempts that meet a down server are expected; once the server is back, an early drop is the
    # first failure of a new run, not the eighth (the bench saw a SIGKILL soon after a restart wait 5 s).
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(1012, "service restart")
    for _ in range(7):
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
        h.factory.last.fail()
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.timers.advance(1000)
    h.factory.last.server_close(1006)
    assert h.conn.status.retry_at_ms - h.timers.now == 150
    h.timers.advance(150)
    h.open_now()
    h.timers.advance(1000)
    h.factory.last.server_close(1006)  # but a server that keeps dropping still escalates
    assert h.conn.status.retry_at_ms - h.timers.now == 800


# ------------------------------------------------------------------------------------------------------------------
# "open" means the terminal answered (issue 9)


def test_open_is_the_first_frame_not_the_socket() -> None:
    h = Harness()
    h.conn.start()
    h.conn.send(b"0early")
    sock = h.factory.last
    sock.accept()
    assert sock.sent == [b"HANDSHAKE"]  # the handshake goes out at once ...
    assert h.state is State.CONNECTING  # ... but nothing answered yet: keys stay held, the caption stays up
    assert h.conn.status.held_inputs == 1 and h.opens == 0
    sock.message(b"1bash")
    assert h.state is State.OPEN and h.opens == 1
    assert sock.sent == [b"HANDSHAKE", b"0early"]
    assert h.messages == [b"1bash"]  # on_open ran before the first frame reached on_message


def test_a_socket_whose_terminal_never_answers_is_a_failed_attempt() -> None:
    h = Harness()
    h.conn.start()
    sock = h.factory.last
    sock.accept()  # e.g. a proxy that accepted and is still retrying its upstream
    h.timers.advance(POLICY.connect_timeout_ms)
    assert sock.closed_with == (4000, "connect timeout")
    assert h.conn.phase is Phase.WAITING and h.conn.status.failures == 1


def test_a_proxy_accepting_does_not_end_the_restart_window() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(1012, "service restart")
    assert h.conn.status.restarting
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.factory.last.accept()  # the proxy's accept: not the terminal
    assert h.conn.status.restarting
    h.factory.last.server_close(1014, "bad gateway: upstream")
    assert h.conn.status.restarting  # still inside the window: fast retries, steady "server restarting"
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert not h.conn.status.restarting


def test_restarting_lasts_through_the_fast_retries_and_ends_with_the_window() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.factory.last.server_close(1012, "service restart")
    seen = []
    while h.timers.now < POLICY.restart_window_ms - 500:
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
        seen.append(h.conn.status.restarting)  # attempting
        h.factory.last.fail()
        seen.append(h.conn.status.restarting)  # waiting
    assert all(seen)
    while h.conn.status.restarting:
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
        h.factory.last.fail()
    assert h.timers.now >= POLICY.restart_window_ms  # ended by the first drop after the window, not before
    assert h.conn.status.retry_at_ms - h.timers.now == nominal_delay_ms(POLICY, h.conn.status.failures)


def test_an_unknown_session_says_so() -> None:
    h = Harness()
    h.conn.start()
    h.factory.last.server_close(4404, "no such session")
    assert h.conn.status.message == "no such session"
    assert h.conn.status.stop_reason is StopReason.NO_SUCH_SESSION


# ------------------------------------------------------------------------------------------------------------------
# Offline (issue 9)


def test_offline_leaves_the_connection_at_once_holds_keys_and_attempts_nothing() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    sock = h.factory.last
    h.conn.set_online(False)
    assert sock.closed_with == (4000, "offline") and not sock.attached
    assert h.state is not State.OPEN and h.conn.status.offline
    assert h.conn.status.retry_at_ms is None and h.timers.pending() == []
    assert h.conn.send(b"0ls\r") and h.conn.status.held_inputs == 1
    h.timers.advance(600_000)
    assert len(h.factory.sockets) == 1
    h.conn.set_online(True)  # back: retry at once, not after a backoff
    assert len(h.factory.sockets) == 2 and h.factory.last.created_at == h.timers.now
    assert not h.conn.status.offline
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0ls\r"]


def test_offline_while_waiting_cancels_the_retry_and_a_stable_connection_restarts_the_schedule() -> None:
    h = Harness()
    h.conn.start()
    for _ in range(4):
        h.factory.last.fail()
        h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.timers.advance(POLICY.stable_after_ms)
    h.conn.set_online(False)
    assert h.conn.status.failures == 0  # a healthy connection: offline is not a failure
    h.conn.set_online(True)
    h.factory.last.fail()
    assert h.conn.status.retry_at_ms - h.timers.now == 150
    h.conn.set_online(False)
    assert h.timers.pending() == [] and h.conn.status.retry_at_ms is None
    h.timers.advance(60_000)
    assert len(h.factory.sockets) == 6


def test_start_while_offline_waits_for_online_and_retry_now_still_tries_once() -> None:
    h = Harness()
    h.conn.set_online(False)
    h.conn.start()
    assert h.factory.sockets == [] and h.conn.status.offline
    h.conn.retry_now()  # the user's button: one attempt even so (a local server works offline)
    assert len(h.factory.sockets) == 1
    h.factory.last.fail()
    assert h.timers.pending() == []  # no automatic retry while offline
    h.conn.retry_now()
    h.open_now()  # the terminal answered: whatever the browser said, the link works
    assert not h.conn.status.offline


# ------------------------------------------------------------------------------------------------------------------
# The probe: a link that goes silent while the user types (issue 9)


def open_v2(h: Harness) -> None:
    h.conn.start()
    h.open_now()
    h.conn.set_server_protocol(2)


def test_input_then_silence_sends_a_probe_and_an_unanswered_probe_drops_the_link() -> None:
    h = Harness()
    open_v2(h)
    sock = h.factory.last
    pressed = h.timers.now
    h.conn.send(b"0x")
    h.timers.advance(POLICY.probe_after_ms - 1)
    assert sock.sent[-1] == b"0x"
    h.timers.advance(1)
    assert sock.sent[-1] == b"91"  # PROBE with a counter as payload
    h.timers.advance(POLICY.probe_timeout_ms - 1)
    assert h.state is State.OPEN
    h.timers.advance(1)
    assert sock.closed_with == (4000, "probe timeout")
    assert h.conn.phase is Phase.WAITING
    assert h.timers.now - pressed <= 5000  # the goal: a half-open link is left within 5 s of the keypress


def test_anything_received_answers_for_the_link() -> None:
    h = Harness()
    open_v2(h)
    sock = h.factory.last
    h.conn.send(b"0x")
    h.timers.advance(10)
    sock.message(b"80")  # an ack (or the echo): alive, no probe needed
    h.timers.advance(10_000)
    assert [f for f in sock.sent if f.startswith(b"9")] == []
    h.conn.send(b"0y")
    h.timers.advance(POLICY.probe_after_ms)
    sock.message(b"91")  # the probe's answer
    h.timers.advance(60_000)
    assert h.state is State.OPEN
    assert [f for f in sock.sent if f.startswith(b"9")] == [b"91"]


@pytest.mark.parametrize("protocol", [None, 0, 1])
def test_no_probe_to_a_server_that_does_not_answer_probes(protocol: int | None) -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    if protocol is not None:
        h.conn.set_server_protocol(protocol)
    h.conn.send(b"0x")
    h.timers.advance(60_000)
    assert h.state is State.OPEN
    assert [f for f in h.factory.last.sent if f.startswith(b"9")] == []


def test_an_idle_link_sends_no_probe() -> None:
    h = Harness()
    open_v2(h)
    h.timers.advance(60_000)
    assert h.state is State.OPEN and h.factory.last.sent == [b"HANDSHAKE"]


# ------------------------------------------------------------------------------------------------------------------
# Acks and the delivery guarantee (issue 10)


def test_acks_settle_input_and_a_drained_clean_1012_settles_nothing_more() -> None:
    """A drain whose deadline passed (a busy page answered late, a slow upstream behind a proxy) still ends in a
    clean 1012 "service restart": the browser may have dropped what the page sent after the close reached it, and
    the server may or may not have written the rest. Only acks say what arrived: the rest is reported."""
    h = Harness()
    open_v2(h)
    for key in (b"0a", b"0b", b"0c"):
        h.conn.send(key)
    assert h.conn.unacked_bytes == 6
    h.conn.ack(1)
    assert h.conn.unacked_bytes == 4
    h.conn.ack(1)  # never decreasing, repeats change nothing
    assert h.conn.unacked_bytes == 4
    h.conn.drain()
    h.factory.last.server_close(1012, "service restart", clean=True)
    assert h.uncertain == [b"bc"]
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE"]  # nothing resent


@pytest.mark.parametrize("clean", [True, False])
def test_a_settled_1012_sends_what_its_last_ack_did_not_cover_again_first_and_in_order(clean: bool) -> None:
    """Protocol 5: the server sealed the input (it writes nothing after its last ack) and says so in the close's
    reason, so the unacked typed frames were not written: they go again, before what was typed after the DRAIN.
    Replies belong to the old connection and go nowhere; the close's cleanliness changes nothing."""
    h = Harness()
    open_v2(h)
    for key in (b"0a", b"0b", b"0c"):
        h.conn.send(key)
    h.conn.send(b"0\x1b[0n", hold=False)  # a terminal reply, unacked too
    h.conn.ack(1)
    h.conn.drain()
    h.conn.send(b"0d")  # typed after the DRAIN: held
    h.factory.last.server_close(1012, Reason.SETTLED, clean=clean)
    assert h.uncertain == []
    assert h.conn.status.held_inputs == 3
    assert h.conn.status.restarting
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0b", b"0c", b"0d"]


def test_a_settled_1012_gives_back_a_paced_paste_in_order_with_what_waited_behind_it() -> None:
    """Unacked frames go back before the frames that were still waiting behind the unacked limit."""
    h = Harness()
    open_v2(h)
    frame = MAX_CLIENT_FRAME_BYTES - 1
    h.conn.send(b"0" + b"p" * (frame * 6))  # six full frames: four in flight (the limit), two waiting
    sock = h.factory.last
    in_flight = len(sock.input_frames())
    assert 0 < in_flight < 6
    h.conn.ack(1)
    h.conn.drain()
    sock.server_close(1012, Reason.SETTLED, clean=True)
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.conn.set_server_protocol(2)
    for count in range(1, 6):  # the new connection's acks release the rest, in order
        h.conn.ack(count)
    again = h.factory.last.input_frames()
    assert len(again) == 5
    assert b"".join(f[1:] for f in sock.input_frames()[:1] + again) == b"p" * (frame * 6)
    assert h.uncertain == []


def test_a_clean_1012_without_a_drain_reports_the_unacked_rest_as_uncertain() -> None:
    """No DRAIN came (an older server, or it gave up waiting): the browser may have dropped what the page sent after
    the close frame reached it, so the unacked rest may not have arrived. Reported, never resent."""
    h = Harness()
    open_v2(h)
    h.conn.send(b"0a")
    h.conn.send(b"0b")
    h.conn.ack(1)
    h.factory.last.server_close(1012, "service restart", clean=True)
    assert h.uncertain == [b"b"]
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE"]


def test_a_drain_ends_input_on_the_connection_and_what_is_typed_after_waits_for_the_next() -> None:
    """The server's DRAIN (a restart is coming): answer INPUT_END once and send no input after it on this socket; a
    browser would drop it once the close frame had reached it. It goes out first on the next connection."""
    h = Harness()
    open_v2(h)
    sock = h.factory.last
    h.conn.send(b"0a")
    h.conn.drain()
    h.conn.drain()  # a second DRAIN answers nothing more
    h.conn.send(b"0b")
    h.conn.send(b"0\x1b[>0;276;0c", hold=False)  # a reply to this connection's tmux: it dies with it
    assert sock.sent == [b"HANDSHAKE", b"0a", b"7"]
    assert h.conn.status.held_inputs == 1
    h.conn.ack(1)  # the server's final ack: a arrived
    sock.server_close(1012, "service restart", clean=True)
    assert h.uncertain == []
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0b"]


def test_a_drain_that_never_closes_is_a_dead_link_within_the_drain_deadline() -> None:
    """The server said DRAIN and died before its 1012 (SIGKILL mid-restart, a cut link): the pane must not look open
    while typing waits for a close that never comes. Its input after the DRAIN is held, so no probe would notice."""
    h = Harness()
    open_v2(h)
    sock = h.factory.last
    h.conn.drain()
    h.conn.send(b"0a")
    h.timers.advance(h.conn.policy.drain_close_ms - 1)
    assert h.state is State.OPEN
    h.timers.advance(1)
    assert sock.closed_with == (Close.CLIENT_TIMEOUT, Reason.DRAIN_TIMEOUT)
    assert h.state is State.CONNECTING
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0a"]  # held, so sent once, on the next connection


def test_a_drain_followed_by_its_close_leaves_no_deadline_behind() -> None:
    h = Harness()
    open_v2(h)
    h.conn.drain()
    h.factory.last.server_close(1012, "service restart", clean=True)
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.timers.advance(h.conn.policy.drain_close_ms * 3)
    assert h.state is State.OPEN


def test_a_drain_while_not_open_does_nothing() -> None:
    h = Harness()
    h.conn.start()
    h.conn.drain()
    h.conn.send(b"0a")
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0a"]


@pytest.mark.parametrize(
    ("code", "clean"), [(1006, False), (1012, False), (1011, True), (1000, True)]
)
def test_any_other_drop_reports_unacked_typing_as_uncertain_and_never_resends_it(code: int, clean: bool) -> None:
    h = Harness()
    open_v2(h)
    h.conn.send(b"0ls")
    h.conn.send(b"0\x1b[0n", hold=False)  # a terminal reply: never reported
    h.conn.send(b"0 -la\r")
    h.conn.ack(1)
    h.factory.last.server_close(code, "", clean=clean)
    assert h.uncertain == [b" -la\r"]
    h.conn.send(b"0pwd\r")
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    assert h.factory.last.sent == [b"HANDSHAKE", b"0pwd\r"]


def test_a_probe_timeout_reports_what_may_not_have_arrived() -> None:
    h = Harness()
    open_v2(h)
    h.conn.send(b"0rm x\r")
    h.timers.advance(POLICY.probe_after_ms + POLICY.probe_timeout_ms)
    assert h.conn.phase is Phase.WAITING
    assert h.uncertain == [b"rm x\r"]


def test_a_server_without_acks_is_not_tracked() -> None:
    h = Harness()
    h.conn.start()
    h.open_now()
    h.conn.set_server_protocol(1)
    h.conn.send(b"0ls\r")
    assert h.conn.unacked_bytes == 0
    h.factory.last.server_close(1006, clean=False)
    assert h.uncertain == []  # nothing to go on: protocol 1 has no acks (docs/protocol.md §2)


def test_input_sent_before_the_preferences_is_tracked_until_the_server_says_its_protocol() -> None:
    h = Harness()
    h.conn.start()
    h.conn.send(b"0held")
    h.open_now()  # the held frame goes out after the title, before the preferences
    assert h.conn.unacked_bytes == 5
    h.conn.set_server_protocol(1)
    assert h.conn.unacked_bytes == 0


# ------------------------------------------------------------------------------------------------------------------
# Large pastes: split, paced, or refused visibly (issue 10)


def test_a_paste_is_split_into_frames_under_the_limit_never_inside_a_utf8_sequence() -> None:
    h = Harness()
    open_v2(h)
    paste = "é" * 100_000  # 200,000 bytes of two-byte sequences
    h.conn.send(b"0" + paste.encode())
    h.conn.ack(10)
    frames = [f for f in h.factory.last.sent if f.startswith(b"0")]
    assert len(frames) == 4
    assert all(len(f) <= MAX_CLIENT_FRAME_BYTES for f in frames)
    assert "".join(f[1:].decode() for f in frames) == paste  # each frame decodes on its own


def test_a_paste_is_paced_by_the_unacked_limit_and_drained_by_acks_in_order() -> None:
    policy = dataclasses.replace(POLICY, unacked_limit_bytes=2 * MAX_CLIENT_FRAME_BYTES)
    h = Harness(policy=policy)
    open_v2(h)
    paste = bytes(range(97, 123)) * 40_000  # ~1 MB, 16 frames
    h.conn.send(b"0" + paste)
    sock = h.factory.last

    def inputs() -> list[bytes]:
        return [f for f in sock.sent if f.startswith(b"0")]

    assert len(inputs()) == 2 and h.conn.unacked_bytes <= policy.unacked_limit_bytes
    assert h.conn.status.held_inputs == 14
    h.conn.send(b"0after")  # typed during the paste: waits its turn
    acked = 0
    while h.conn.status.held_inputs:
        acked = len(inputs())
        h.conn.ack(acked)
        assert h.conn.unacked_bytes <= policy.unacked_limit_bytes
    assert b"".join(f[1:] for f in inputs()) == paste + b"after"


def test_a_paste_too_large_to_hold_while_down_is_refused_visibly() -> None:
    h = Harness()
    h.conn.start()
    h.conn.send(b"0" + b"x" * 2_100_000)
    assert h.dropped == [(2_100_000, "paste of 2.1 MB refused: not connected (at most 64 KiB is held)")]
    assert h.conn.status.held_inputs == 0
    assert h.conn.send(b"0" + b"y" * 60_000)  # a moderate paste is held
    h.open_now()
    assert [len(f) for f in h.factory.last.sent[1:]] == [60_001]


def test_the_unsent_rest_of_a_paste_survives_a_drop_and_replies_do_not() -> None:
    policy = dataclasses.replace(POLICY, unacked_limit_bytes=MAX_CLIENT_FRAME_BYTES)
    h = Harness(policy=policy)
    open_v2(h)
    h.conn.send(b"0" + b"p" * 200_000)  # 4 frames, one in flight
    h.conn.send(b"0\x1b[0n", hold=False)  # a reply, queued behind the paste to keep the stream in order
    first = h.factory.last.sent[1]
    h.factory.last.server_close(1006, clean=False)
    assert h.uncertain == [first[1:]]
    assert h.conn.status.held_inputs == 3
    h.timers.advance(h.conn.status.retry_at_ms - h.timers.now)
    h.open_now()
    h.conn.set_server_protocol(1)  # a plain server: no pacing
    rest = h.factory.last.sent[1:]
    assert b"".join(f[1:] for f in rest) == b"p" * (200_000 - len(first) + 1)
