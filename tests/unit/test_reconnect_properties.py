"""Properties of the reconnect machine over random event sequences (hypothesis).

Whatever the server, the network, the browser and the user do, in any order:
- at most one socket is live (connecting or open, and hooked to the machine) at a time;
- after ``close()`` no socket is ever opened and no timer is left armed;
- every retry delay lies inside the documented envelope;
- typed input is never reordered or duplicated: what all sockets carried, joined, is a prefix of what was typed
  (a socket a settled 1012 closed carried only what it acked: the rest was not written, and goes again);
- every typed byte is exactly one of: sent and acknowledged, sent to a server that does not ack (protocol < 2), sent
  and reported uncertain, sent and still unacked on the current connection, still held or queued (a settled 1012's
  rest included), or reported dropped;
- never more than ``unacked_limit_bytes`` (or one frame) of unacked input in flight; the status counts held frames.
"""

from __future__ import annotations

import dataclasses
import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from reconnect_fakes import FakeSocket, FakeSocketFactory, FakeTimers

from pyclient.protocol import INPUT_END, MAX_CLIENT_FRAME_BYTES, Reason
from pyclient.reconnect import (
    Phase,
    ReconnectingSocket,
    ReconnectPolicy,
    State,
    Status,
    TicketRefused,
    delay_envelope_ms,
)

# Small enough limits that pastes get split (64 KiB frames), paced and refused within a few steps.
POLICY = dataclasses.replace(ReconnectPolicy(), held_input_limit_bytes=160_000, unacked_limit_bytes=100_000)
EPS_MS = 1e-6
CODES = st.sampled_from([1000, 1001, 1003, 1006, 1009, 1011, 1012, 1013, 1014, 4400, 4401, 4403, 4404])
REASONS = st.sampled_from(["", "session ended", "bye", "service restart", Reason.SETTLED])
REPLY = b"\x1b[0n"  # a terminal reply: hold=False, never counted as typed


@dataclasses.dataclass
class SocketBook:
    """What the test (playing the server) did with one socket."""

    protocol: int | None = None
    acked: int = 0  # input frames acknowledged (replies included: the server counts every input frame)
    settled: bool = False  # ended by a settled 1012 (Reason.SETTLED): only the acked frames were written

    def written(self, frames: list[bytes]) -> list[bytes]:
        """The input frames of this socket the server wrote (as far as the client may assume)."""
        return frames[: self.acked] if self.settled and (self.protocol is None or self.protocol >= 2) else frames


class ReconnectMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.timers = FakeTimers()
        self.factory = FakeSocketFactory(self.timers)
        self.tickets: list[tuple[object, object]] = []
        self.rand_values: list[float] = []
        self.closed_at_sockets: int | None = None
        self.typed = bytearray()  # every typed byte the machine accepted, in order
        self.key = 0
        self.restart_seen_at: float | None = None
        self.delays: list[tuple[float, Status]] = []
        self.last_retry_at: float | None = None
        self.use_ticket = False
        self.books: dict[int, SocketBook] = {}
        self.dropped = 0  # every byte on_input_dropped reported
        self.refused = 0  # of which: sends refused on the spot (never accepted, so not in self.typed)
        self.uncertain = 0
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
            handshake=lambda: b"{}",
            on_state=self._on_state,
            on_input_dropped=self._on_dropped,
            on_input_uncertain=self._on_uncertain,
            log=lambda _: None,
        )

    def _rand(self) -> float:
        return self.rand_values.pop() if self.rand_values else 0.5

    def _on_state(self, status: Status) -> None:
        # A new retry (not a later status of the same wait, e.g. a key held meanwhile) is read at the time it was armed.
        new_retry = status.retry_at_ms is not None and status.retry_at_ms != self.last_retry_at
        self.last_retry_at = status.retry_at_ms
        if status.phase is Phase.WAITING and new_retry:
            self.delays.append((status.retry_at_ms - self.timers.now, status))
            if status.close_code == 1012:
                self.restart_seen_at = self.timers.now

    def _on_dropped(self, nbytes: int, why: str) -> None:
        self.dropped += nbytes

    def _on_uncertain(self, data: bytes) -> None:
        assert REPLY not in data
        self.uncertain += len(data)

    def _book(self, sock: FakeSocket) -> SocketBook:
        return self.books.setdefault(id(sock), SocketBook())

    def _open_socket(self) -> FakeSocket | None:
        live = self.factory.live()
        return live[-1] if live and live[-1].readyState == FakeSocket.OPEN else None

    # -- rules -----------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.conn.phase is Phase.IDLE)
    @rule(use_ticket=st.booleans())
    def start(self, use_ticket: bool) -> None:
        if use_ticket:
            self.conn = self._make(True)  # a fresh machine: what the idle one accepted is gone with it
            self.typed.clear()
            self.dropped = self.refused = self.uncertain = 0
        self.conn.start()

    @rule(ms=st.sampled_from([0, 1, 149, 150, 400, 1000, 2000, 5000, 8000, 25_000]), r=st.floats(0, 0.999999))
    def advance(self, ms: float, r: float) -> None:
        self.rand_values.append(r)
        self.timers.advance(ms)

    @precondition(lambda self: self.factory.live())
    @rule(answer=st.booleans())
    def server_accepts(self, answer: bool) -> None:
        sock = self.factory.live()[-1]
        if sock.readyState == FakeSocket.CONNECTING:
            sock.accept()
        if answer and sock.readyState == FakeSocket.OPEN:
            sock.message(b"1title")

    @precondition(lambda self: self.factory.live())
    @rule()
    def network_fails(self) -> None:
        self.factory.live()[-1].fail()

    @precondition(lambda self: self.factory.live())
    @rule(code=CODES, reason=REASONS, clean=st.booleans())
    def server_closes(self, code: int, reason: str, clean: bool) -> None:
        sock = self.factory.live()[-1]
        book = self._book(sock)
        book.settled = code == 1012 and reason == Reason.SETTLED
        sock.server_close(code, reason, clean=clean)

    @precondition(lambda self: self._open_socket() is not None)
    @rule()
    def server_sends(self) -> None:
        self._open_socket().message(b"0x")

    @precondition(lambda self: self.conn.phase is Phase.OPEN and self.conn.server_protocol is None)
    @rule(version=st.sampled_from([0, 1, 2]))
    def server_says_its_protocol(self, version: int) -> None:
        self._book(self._open_socket()).protocol = version
        self.conn.set_server_protocol(version)

    @precondition(lambda self: self.conn.server_protocol == 2 and self._open_socket() is not None)
    @rule(fraction=st.floats(0, 1))
    def server_acks(self, fraction: float) -> None:
        sock = self._open_socket()
        book = self._book(sock)
        received = len(sock.input_frames())
        book.acked = max(book.acked, round(book.acked + (received - book.acked) * fraction))
        self.conn.ack(book.acked)

    @precondition(lambda self: self.conn.server_protocol == 2 and self._open_socket() is not None)
    @rule()
    def server_drains(self) -> None:
        self.conn.drain()  # a restart is coming: DRAIN (the close, if any, is another rule)

    @rule(keepalive_ms=st.sampled_from([100, 1000, 10_000]))
    def keepalive_advertised(self, keepalive_ms: float) -> None:
        self.conn.expect_keepalive(keepalive_ms)

    @precondition(lambda self: self.tickets)
    @rule(outcome=st.sampled_from(["ok", "transient", "fatal"]))
    def ticket_answers(self, outcome: str) -> None:
        resolve, reject = self.tickets.pop(0)
        if outcome == "ok":
            resolve("t")
        else:
            reject(TicketRefused(outcome, status=401 if outcome == "fatal" else 502))

    @rule(paste=st.sampled_from([0, 0, 0, 70_000, 150_000]))
    def user_types(self, paste: int) -> None:
        self.key += 1
        payload = b"k%d;" % self.key + b"p" * paste
        before = self.dropped
        if self.conn.send(b"0" + payload):
            self.typed += payload
            assert self.dropped == before
        else:
            assert self.dropped - before == len(payload)  # refused visibly, all of it
            self.refused += len(payload)

    @rule()
    def terminal_replies(self) -> None:
        self.conn.send(b"0" + REPLY, hold=False)

    @rule(online=st.booleans())
    def browser_goes(self, online: bool) -> None:
        self.conn.set_online(online)

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
    def no_attempt_while_offline(self) -> None:
        if self.conn.status.offline:
            assert self.conn.phase is not Phase.OPEN
            assert self.conn.status.retry_at_ms is None

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
    def typed_input_arrives_in_order_once(self) -> None:
        carried = b"".join(
            f[1:] for s in self.factory.sockets for f in self._book(s).written(s.input_frames()) if f[1:] != REPLY
        )
        assert bytes(self.typed[: len(carried)]) == carried

    @invariant()
    def every_typed_byte_is_accounted_for_exactly_once(self) -> None:
        current = self.factory.live()[-1] if self.factory.live() else None
        sent = acked = untracked = unacked_now = 0
        expected_uncertain = 0
        for sock in self.factory.sockets:
            book = self._book(sock)
            frames = book.written(sock.input_frames())  # a settled socket's rest is back in the queue
            typed = [len(f) - 1 for f in frames if f[1:] != REPLY]
            sent += sum(typed)
            acked_here = sum(len(f) - 1 for f in frames[: book.acked] if f[1:] != REPLY)
            rest = sum(typed) - acked_here
            acked += acked_here
            if book.protocol is not None and book.protocol < 2:
                untracked += rest
            elif sock is current and self.conn.phase is Phase.OPEN:
                unacked_now += rest
            else:
                expected_uncertain += rest
        assert self.uncertain == expected_uncertain
        # The machine's queue, read from inside: typed frames only (a reply may wait behind a paced paste).
        queued = sum(len(frame) - 1 for frame, typed in self.conn._queue if typed)
        dropped_later = self.dropped - self.refused  # accepted, then dropped with the queue at a stop or close
        assert len(self.typed) == sent + queued + dropped_later
        assert acked + untracked + unacked_now + expected_uncertain == sent
        assert self.conn.status.held_inputs == len(self.conn._queue)

    @invariant()
    def no_input_follows_input_end(self) -> None:
        for sock in self.factory.sockets:
            if INPUT_END in sock.sent:
                after = sock.sent[sock.sent.index(INPUT_END) + 1 :]
                assert [f for f in after if isinstance(f, bytes) and f[:1] == b"0"] == []
                assert sock.sent.count(INPUT_END) == 1

    @invariant()
    def unacked_input_is_paced(self) -> None:
        assert self.conn.unacked_bytes <= max(POLICY.unacked_limit_bytes, MAX_CLIENT_FRAME_BYTES)


# Locally each run explores new sequences; CI replays a fixed set, so a red CI is reproducible.
ReconnectMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, derandomize=bool(os.environ.get("CI"))
)
TestReconnectProperties = ReconnectMachine.TestCase
