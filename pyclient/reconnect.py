"""Keep one terminal WebSocket alive across real drops.

Rules of this file (after h11's ``_state.py``):

- Everything that decides when to connect, when to give up, and what a pane's health is lives here, and only here.
- It never touches time, sockets, the DOM or randomness itself. The socket factory, ``set_timeout`` /
  ``clear_timeout``, the monotonic clock and the random source are injected, so the whole machine runs under CPython
  with fakes (tests) and unchanged under Pyodide (the browser adapter passes the real ones).
- Every number is policy and lives in :class:`ReconnectPolicy`. States are enums, compared with ``is``.
- Decisions are tables: phase changes go through ``TRANSITIONS`` (an illegal one raises :class:`IllegalTransition` and
  leaves the phase unchanged); what an ending means (close code, reason, wasClean, ticket status) is ``CLOSE_TABLE`` /
  ``TICKET_TABLE`` behind :func:`classify`; the delay before each attempt is the pure :class:`Schedule`, the only
  owner of the failure count and the restart window.
- Each attempt owns its timers and socket handlers (one :class:`~pyclient.disposables.Disposables`); every callback
  of an attempt is bound to it, so once the attempt is released nothing of it reaches the machine again.

The contract this implements (close codes, schedule, state table) is written down in ``docs/protocol.md`` §3–4.
"""

from __future__ import annotations

import enum
import random as _random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .disposables import Disposables, OneShotTimer
from .protocol import INPUT, INPUT_END, Close, Reason, probe_frame, split_input

__all__ = [
    "Action",
    "Event",
    "IllegalTransition",
    "Phase",
    "ReconnectPolicy",
    "ReconnectingSocket",
    "Schedule",
    "State",
    "Status",
    "StopReason",
    "TicketRefused",
    "Verdict",
    "classify",
    "delay_envelope_ms",
    "nominal_delay_ms",
    "retry_delay_ms",
    "stop_message",
]


# --------------------------------------------------------------------------------------------------------------------
# Policy: every number in one frozen object.


@dataclass(frozen=True)
class ReconnectPolicy:
    """Every number the reconnect machine uses. Override any field with ``dataclasses.replace``."""

    # The first retry after a drop is fast and quiet: most drops are a server restart or a blip.
    first_retry_ms: float = 150
    # Then exponential: 800, 1600, 3200, 6400, capped at 8000 (a user waits at most 8 s for a server that is back).
    base_ms: float = 800
    factor: float = 2.0
    cap_ms: float = 8000
    # "Equal jitter" (AWS architecture blog, 2015): delay drawn from [nominal * (1 - jitter), nominal]. Spreads a herd
    # of panes without ever exceeding the cap or collapsing to zero (websockets draws its first delay from [0, 5 s)).
    jitter: float = 0.5
    # A connection open this long was healthy: its drop restarts the schedule (websockets resets only after success).
    stable_after_ms: float = 5000
    # 1012 (service restart): the server is coming straight back. First try within [0, restart_spread_ms); failures
    # in the next restart_window_ms retry every restart_retry_ms (equal jitter) instead of escalating.
    restart_spread_ms: float = 250
    restart_retry_ms: float = 250
    restart_window_ms: float = 10_000
    # An attempt (ticket + socket) that neither opens nor fails in this time is abandoned (a black-holed SYN would
    # otherwise hang for the OS's ~2 min TCP timeout).
    connect_timeout_ms: float = 5000
    # Silence for this many advertised keepalive intervals is a drop: tolerates one late keepalive plus jitter.
    watchdog_factor: float = 2.5
    # Input typed while not open is held up to this many bytes of frames: minutes of typing plus a moderate paste (a
    # page or two of text, one full 64 KiB frame). A larger paste while down is refused visibly: typed blind into
    # whatever runs once the link is back, a big paste does more harm than good; the user pastes it again.
    held_input_limit_bytes: int = 64 * 1024
    # Protocol 2 (a server that acks input): at most this many bytes of sent, unacknowledged input in flight; the rest
    # of a paste waits in order and goes out as acks arrive. Four full frames keep a link busy (256 KiB per round
    # trip is 5 MB/s at 50 ms) and bound what one crash can leave uncertain.
    unacked_limit_bytes: int = 256 * 1024
    # Protocol 2: input sent and nothing received for probe_after_ms -> send a probe; nothing received within
    # probe_timeout_ms after it -> the link is dead: drop and reconnect. A shell echoes within milliseconds and the
    # server acks every input frame, so 1 s of silence after a keypress is already odd; 1 + 2 s leaves a half-open
    # link well within 5 s of the keypress. An idle link stays on the keepalive watchdog (no input, no probe).
    probe_after_ms: float = 1000
    probe_timeout_ms: float = 2000
    # A DRAIN (a graceful restart began): the server closes 1012 within its drain deadline (250 ms) plus its final ack.
    # No close by drain_close_ms is a server that died mid-restart: drop and reconnect. Typing after a DRAIN is held,
    # so the probe would never notice; without this the pane would look open until the keepalive watchdog (25 s).
    drain_close_ms: float = 1500

    def __post_init__(self) -> None:
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        for name in ("first_retry_ms", "base_ms", "cap_ms", "connect_timeout_ms", "held_input_limit_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("unacked_limit_bytes", "probe_after_ms", "probe_timeout_ms", "drain_close_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


def nominal_delay_ms(policy: ReconnectPolicy, failures: int) -> float:
    """The delay before the next attempt after ``failures`` consecutive failures, before jitter."""
    if failures < 1:
        return 0.0
    if failures == 1:
        return float(policy.first_retry_ms)
    # Bound the exponent: factor ** 1000 overflows a float long before any real outage ends.
    exponent = min(failures - 2, 64)
    return float(min(policy.cap_ms, policy.base_ms * policy.factor**exponent))


def delay_envelope_ms(policy: ReconnectPolicy, failures: int) -> tuple[float, float]:
    """The closed interval every jittered delay after ``failures`` failures falls in."""
    nominal = nominal_delay_ms(policy, failures)
    if failures <= 1:
        return (nominal, nominal)
    return (nominal * (1 - policy.jitter), nominal)


def retry_delay_ms(policy: ReconnectPolicy, failures: int, rand: float) -> float:
    """The jittered delay after ``failures`` failures; ``rand`` is uniform in [0, 1)."""
    nominal = nominal_delay_ms(policy, failures)
    if failures <= 1:
        return nominal  # the first retry is not jittered: it is already short.
    return _equal_jitter(nominal, policy.jitter, rand)


def _equal_jitter(nominal_ms: float, jitter: float, rand: float) -> float:
    """Uniform in [nominal * (1 - jitter), nominal] for ``rand`` uniform in [0, 1): the one jitter formula."""
    return nominal_ms * (1 - jitter * rand)


# --------------------------------------------------------------------------------------------------------------------
# States, events and the transition table.


class State(enum.Enum):
    """A pane's health, as its caption shows it."""

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class Phase(enum.Enum):
    """What the machine is doing; the health :class:`State` is derived from it."""

    IDLE = "idle"
    WAITING = "waiting"  # a retry timer is armed
    ATTEMPTING = "attempting"  # a ticket fetch or a socket is pending
    OPEN = "open"
    CLOSED = "closed"


class Event(enum.Enum):
    START = "start"
    ANSWERED = "answered"  # the connection's first frame from the server: the terminal answered
    DROP = "drop"  # unexpected close, error, connect timeout, watchdog, probe timeout, transient ticket failure
    RETRY_DUE = "retry_due"
    RETRY_NOW = "retry_now"  # retry_now(), or set_online(True)
    OFFLINE = "offline"  # set_online(False): leave the connection, no attempt until online again
    STOP = "stop"  # the server said stop (session gone, unauthorized) or the ticket was refused
    CLOSE = "close"  # the one intentional close


TRANSITIONS: dict[Phase, dict[Event, Phase]] = {
    Phase.IDLE: {
        Event.START: Phase.ATTEMPTING,
        Event.RETRY_NOW: Phase.IDLE,
        Event.OFFLINE: Phase.IDLE,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.WAITING: {
        Event.RETRY_DUE: Phase.ATTEMPTING,
        Event.RETRY_NOW: Phase.ATTEMPTING,
        Event.OFFLINE: Phase.WAITING,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.ATTEMPTING: {
        Event.ANSWERED: Phase.OPEN,
        Event.DROP: Phase.WAITING,
        Event.RETRY_NOW: Phase.ATTEMPTING,
        Event.OFFLINE: Phase.WAITING,
        Event.STOP: Phase.CLOSED,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.OPEN: {
        Event.DROP: Phase.WAITING,
        Event.RETRY_NOW: Phase.OPEN,
        Event.OFFLINE: Phase.WAITING,
        Event.STOP: Phase.CLOSED,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.CLOSED: {Event.RETRY_NOW: Phase.CLOSED, Event.OFFLINE: Phase.CLOSED, Event.CLOSE: Phase.CLOSED},
}


class IllegalTransition(RuntimeError):
    """An event arrived that the current phase does not accept. The phase is left unchanged."""

    def __init__(self, phase: Phase, event: Event) -> None:
        super().__init__(f"event {event.value!r} is illegal in phase {phase.value!r}")
        self.phase = phase
        self.event = event


class StopReason(enum.Enum):
    """Why the machine closed for good."""

    CLOSED_BY_CLIENT = "closed by client"
    SESSION_ENDED = "session ended"
    NO_SUCH_SESSION = "no such session"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"



STOP_MESSAGES: dict[StopReason, str] = {
    StopReason.CLOSED_BY_CLIENT: "closed",
    StopReason.SESSION_ENDED: "session ended",
    StopReason.NO_SUCH_SESSION: "no such session",
    StopReason.UNAUTHORIZED: "not authorized: reload the page with the token URL",
    StopReason.FORBIDDEN: "forbidden by the server",
}

# Refusals the server words for the person reading the caption: its one-line reason (the 401/403 body of the ticket
# answer, or the 4401/4403 close reason) names the cause and the fix (a rotated token and what to open; the Origin it
# compared and the two settings that fix it), which the fixed text above cannot know. Without one: the fixed text.
SERVER_WORDED_STOPS = frozenset({StopReason.UNAUTHORIZED, StopReason.FORBIDDEN})


def stop_message(stop: StopReason, server_reason: str = "") -> str:
    """What a closed pane says: the server's reason, on one line, for a refusal it worded; else the fixed text."""
    reason = " ".join(server_reason.split())
    if stop in SERVER_WORDED_STOPS and reason:
        return reason
    return STOP_MESSAGES[stop]


# --------------------------------------------------------------------------------------------------------------------
# What an ending means: one table (docs/protocol.md §3, "client does"), one function.


class Action(enum.Enum):
    """What the client does after a connection or an attempt ended."""

    RETRY = "retry"  # a drop: the normal schedule
    RESTART = "restart"  # 1012: the server is coming straight back: fast retries for a while, schedule reset
    BACK_OFF = "back off"  # 1013: count a failure, skip the fast first retry, never reset the schedule
    STOP = "stop"  # reopening cannot help: closed for good


@dataclass(frozen=True)
class Verdict:
    action: Action
    stop: StopReason | None = None
    # The server's last ack before this close counts every input frame it wrote, and it wrote none after (a 1012
    # whose reason is Reason.SETTLED, protocol 5): unacknowledged frames were not written and go again, first, on
    # the next connection. Without it an unacknowledged frame may or may not have arrived (see _leave).
    resend: bool = False


def _stop(reason: StopReason) -> Verdict:
    return Verdict(Action.STOP, reason)


# (close code, reason or None for any, wasClean or None for either) -> verdict. First matching row wins; a close
# that matches no row (and every local failure: connect timeout, watchdog, a socket factory that raised) is RETRY.
CLOSE_TABLE: tuple[tuple[int, str | None, bool | None, Verdict], ...] = (
    (Close.NORMAL, Reason.SESSION_ENDED, None, _stop(StopReason.SESSION_ENDED)),
    (Close.SERVICE_RESTART, Reason.SETTLED, None, Verdict(Action.RESTART, resend=True)),
    (Close.SERVICE_RESTART, None, None, Verdict(Action.RESTART)),
    (Close.TRY_AGAIN_LATER, None, None, Verdict(Action.BACK_OFF)),
    (Close.UNAUTHORIZED, None, None, _stop(StopReason.UNAUTHORIZED)),
    (Close.FORBIDDEN, None, None, _stop(StopReason.FORBIDDEN)),
    (Close.NO_SUCH_SESSION, None, None, _stop(StopReason.NO_SUCH_SESSION)),
)

# The ticket step (HTTP status of POST /api/ticket) -> verdict; any other status, a network error or a malformed
# answer is RETRY: the same rule as 4401/4403 on the socket.
TICKET_TABLE: dict[int, Verdict] = {
    401: _stop(StopReason.UNAUTHORIZED),
    403: _stop(StopReason.FORBIDDEN),
}

RETRY = Verdict(Action.RETRY)


def classify(
    code: int | None = None, reason: str = "", *, clean: bool = True, ticket_status: int | None = None
) -> Verdict:
    """What the client does after an ending: a socket closed with ``code``/``reason`` (``clean`` is the close
    event's ``wasClean``), or the ticket step failed with HTTP ``ticket_status``. ``code=None``: a local failure."""
    if ticket_status is not None:
        return TICKET_TABLE.get(ticket_status, RETRY)
    if code is None:
        return RETRY
    for row_code, row_reason, row_clean, verdict in CLOSE_TABLE:
        if code == row_code and row_reason in (None, reason) and row_clean in (None, clean):
            return verdict
    return RETRY


# --------------------------------------------------------------------------------------------------------------------
# The schedule: the failure count and the restart window, owned by one pure object.


class Schedule:
    """Decides the delay before each attempt. Pure: the caller passes the time and the random draw.

    ``failures`` counts consecutive failed attempts since the last stable connection; ``restart_until_ms`` is the end
    of the fast-retry window a 1012 opened (``None`` outside one). Nothing else changes either.
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.restart_until_ms: float | None = None

    @property
    def restarting(self) -> bool:
        """Inside the fast-retry window of a 1012 (until a connection opens or a drop after the window's end)."""
        return self.restart_until_ms is not None

    def after_drop(self, action: Action, open_for_ms: float | None, now_ms: float, rand: float) -> float:
        """Count a drop (``open_for_ms``: how long the connection was open, ``None`` if it never opened) and return
        the delay before the next attempt. ``rand`` is uniform in [0, 1)."""
        policy = self.policy
        if open_for_ms is not None and open_for_ms >= policy.stable_after_ms:
            self.failures = 0  # it was healthy: start the schedule over
        if self.restart_until_ms is not None and now_ms >= self.restart_until_ms:
            self.restart_until_ms = None
        if action is Action.RESTART:
            self.failures = 0
            self.restart_until_ms = now_ms + policy.restart_window_ms
            return rand * policy.restart_spread_ms
        if action is Action.BACK_OFF:
            self.restart_until_ms = None
            self.failures = max(self.failures, 1) + 1
            return retry_delay_ms(policy, self.failures, rand)
        self.failures += 1
        if self.restart_until_ms is not None and self.failures >= 2:
            return _equal_jitter(policy.restart_retry_ms, policy.jitter, rand)
        return retry_delay_ms(policy, self.failures, rand)

    def on_offline(self, open_for_ms: float | None) -> None:
        """The browser went offline: not a failure (the next attempt, once online, is at once), but a connection that
        was healthy still restarts the schedule."""
        if open_for_ms is not None and open_for_ms >= self.policy.stable_after_ms:
            self.failures = 0

    def on_open(self) -> None:
        """A connection opened. Failures inside a restart window were the announced restart, not a flapping server:
        forget them; a later drop starts a normal schedule."""
        if self.restart_until_ms is not None:
            self.failures = 0
        self.restart_until_ms = None


@dataclass(frozen=True)
class Status:
    """A snapshot of the machine, reported through ``on_state`` on every change."""

    state: State
    phase: Phase
    failures: int = 0
    attempts: int = 0  # attempts started so far, over the machine's life
    retry_at_ms: float | None = None  # when the armed retry fires, on the injected clock
    close_code: int | None = None  # the last close seen
    close_reason: str = ""
    stop_reason: StopReason | None = None
    message: str = ""
    offline: bool = False  # the browser says it is offline: no attempt until it is back online
    restarting: bool = False  # inside the fast-retry window after a 1012: the server said it is coming straight back
    held_inputs: int = 0  # input frames typed while not open and waiting to be sent


class TicketRefused(Exception):
    """Passed to ``reject`` by a ticket fetcher, with the HTTP ``status`` if there was one, and the server's one-line
    ``reason`` if it gave one (a refusal's body: what a stopped pane says, :func:`stop_message`).

    What the status means is :data:`TICKET_TABLE`'s decision; ``fatal`` is derived from it (callers may still pass
    it, for compatibility; the machine does not read it)."""

    def __init__(
        self, message: str, *, fatal: bool | None = None, status: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.fatal = classify(ticket_status=status).action is Action.STOP if fatal is None else fatal


class SocketLike(Protocol):
    """The part of the browser WebSocket interface the machine uses."""

    readyState: int  # the browser's names, camelCase
    binaryType: str
    onopen: Any
    onmessage: Any
    onclose: Any
    onerror: Any

    def send(self, data: Any) -> None: ...
    def close(self, code: int = ..., reason: str = ...) -> None: ...


WS_OPEN = 1  # WebSocket.OPEN
_HANDLERS = ("onopen", "onmessage", "onclose", "onerror")

TicketFetcher = Callable[[Callable[[str], None], Callable[[BaseException], None]], None]


def _default_log(message: str) -> None:
    print(f"livepane: {message}")


class _Attempt:
    """One connect attempt and, once the terminal answers, its connection. Owns its timers and its socket's handlers:
    releasing it disposes them all, so nothing of a replaced attempt can reach the machine again."""

    def __init__(self) -> None:
        self.socket: Any = None
        self.ticket_settled = False
        self.page_ticket = False  # its socket was opened with the page's ticket (first_ticket), not a fetched one
        self.handshake_sent = False
        self.opened_at_ms: float | None = None  # when the terminal answered
        self.last_rx_ms = 0.0
        self.keepalive_ms: float | None = None
        # The server's livepane protocol: None until its preferences (or its first output) say; 0 = plain ttyd.
        self.protocol: int | None = None
        # Input frames sent on this connection and not yet acknowledged, oldest first, with whether the user typed
        # them (``hold=True``: reported if they may not have arrived) or the terminal did (a reply: never reported).
        self.unacked: deque[tuple[bytes, bool]] = deque()
        self.unacked_bytes = 0
        self.acked = 0  # the server's cumulative count (ACK N)
        # The server said DRAIN (a restart is coming) and we answered INPUT_END: no input goes out on this connection
        # any more; what is typed from now on waits in the queue for the next one.
        self.input_ended = False
        self.unanswered_since_ms: float | None = None  # the first input sent since anything was received
        self.probe_sent_at_ms: float | None = None
        self.probes = 0
        self.disposables = Disposables()
        self.connect_timer: OneShotTimer | None = None
        self.watchdog: OneShotTimer | None = None
        self.probe_timer: OneShotTimer | None = None

    @property
    def tracks_acks(self) -> bool:
        """Unknown yet, or a protocol-2 server: keep what was sent until it is acknowledged."""
        return self.protocol is None or self.protocol >= 2


class ReconnectingSocket:
    """One pane's connection: opens a socket, keeps it open, reopens it after real drops, delivers input in order.

    Args:
        open_socket: called once per attempt with the ticket (or ``None`` without a ticket step); returns a fresh
            socket with the browser WebSocket interface. The machine sets its ``on*`` handlers and later clears them.
        set_timeout / clear_timeout: the browser's, or a fake's. ``set_timeout(callback, ms) -> handle``.
        now_ms: a monotonic clock in milliseconds.
        random: uniform floats in [0, 1), for jitter.
        get_ticket: optional async step before each socket: ``get_ticket(resolve, reject)``; ``reject`` takes a
            :class:`TicketRefused` (its ``status`` is looked up in :data:`TICKET_TABLE`) or any exception (transient).
        first_ticket: a ticket the page carried (issue #14), used by the first attempt instead of ``get_ticket``. If
            the server refuses it (4401: spent, expired, or from an older token) the attempt did not count: the next
            one starts at once and fetches its ticket, so a page's ticket never fails a pane in a new way.
        handshake: called when a socket opens; returns the handshake frame, sent as the socket's first frame.
        on_state: called with a :class:`Status` after every change.
        on_open: called when the terminal answered (the connection's first frame arrived), before held input is sent
            and before that frame reaches ``on_message``.
        on_message: called with each message's ``data``.
        on_input_dropped: called with ``(nbytes, why)`` when input is refused or dropped (never sent).
        on_input_uncertain: called with the payload bytes of input that was sent but may not have arrived (a drop
            before the server acknowledged it). It is never resent: that could type it twice.
    """

    def __init__(
        self,
        *,
        open_socket: Callable[[str | None], SocketLike],
        set_timeout: Callable[[Callable[[], None], float], Any],
        clear_timeout: Callable[[Any], None],
        now_ms: Callable[[], float],
        random: Callable[[], float] = _random.random,
        policy: ReconnectPolicy | None = None,
        get_ticket: TicketFetcher | None = None,
        handshake: Callable[[], bytes] | None = None,
        on_state: Callable[[Status], None] | None = None,
        on_open: Callable[[], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
        on_input_dropped: Callable[[int, str], None] | None = None,
        on_input_uncertain: Callable[[bytes], None] | None = None,
        log: Callable[[str], None] = _default_log,
        first_ticket: str | None = None,
    ) -> None:
        self.policy = policy or ReconnectPolicy()
        self._first_ticket = first_ticket or None
        self._open_socket = open_socket
        self._set_timeout = set_timeout
        self._clear_timeout = clear_timeout
        self._now_ms = now_ms
        self._random = random
        self._get_ticket = get_ticket
        self._handshake = handshake
        self._on_state = on_state
        self._on_open = on_open
        self._on_message = on_message
        self._on_input_dropped = on_input_dropped
        self._on_input_uncertain = on_input_uncertain
        self._log = log

        self._phase = Phase.IDLE
        self._status = Status(state=State.CONNECTING, phase=Phase.IDLE)
        self._schedule = Schedule(self.policy)
        self._attempts = 0
        self._attempt: _Attempt | None = None
        self._retry = self._timer(self._on_retry_due)
        self._retry_at_ms: float | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._stop_reason: StopReason | None = None
        self._stop_message = ""
        self._online = True
        # Input frames not sent yet, in order: held while not open, or queued behind unacked_limit_bytes while open.
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._queued_bytes = 0

    # ----------------------------------------------------------------------------------------------------------------
    # Public API

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def state(self) -> State:
        return self._status.state

    @property
    def status(self) -> Status:
        return self._status

    @property
    def held_bytes(self) -> int:
        """Bytes of input frames waiting to be sent (held while not open, or paced while open)."""
        return self._queued_bytes

    @property
    def unacked_bytes(self) -> int:
        attempt = self._attempt
        return attempt.unacked_bytes if attempt is not None else 0

    @property
    def keepalive_ms(self) -> float | None:
        """The keepalive the open connection's server advertised (its watchdog is armed), else None."""
        attempt = self._attempt
        return attempt.keepalive_ms if self._phase is Phase.OPEN and attempt is not None else None

    @property
    def server_protocol(self) -> int | None:
        """The open connection's livepane protocol (0: plain ttyd); ``None`` until it is known or while not open."""
        attempt = self._attempt
        return attempt.protocol if self._phase is Phase.OPEN and attempt is not None else None

    def start(self) -> None:
        """Open the first connection (or, while offline, wait for :meth:`set_online`)."""
        self._transition(Event.START)
        if not self._online:
            self._transition(Event.OFFLINE)
            self._publish()
            return
        self._begin_attempt()

    def send(self, data: bytes, *, hold: bool = True) -> bool:
        """Send a frame. Returns whether it was sent, queued or held (``False``: refused).

        Input frames (``0`` + payload) are split into frames of at most MAX_CLIENT_FRAME_BYTES, sent in order, paced
        to a protocol-2 server and tracked until acknowledged. With ``hold=True`` (keystrokes, pastes) input typed
        while not open is held, within ``held_input_limit_bytes``, and sent once the next connection is open; with
        ``hold=False`` (replies to the terminal's own queries, mouse reports) it belongs to this connection: refused
        while not open, never carried across a drop. Other frames (resize, pause, resume) are never held.
        """
        attempt = self._attempt
        if data[:1] != INPUT:
            if attempt is not None and attempt.handshake_sent and attempt.socket.readyState == WS_OPEN:
                attempt.socket.send(data)
                return True
            return False
        # Open, and its input not ended by a DRAIN: after one, typing is held for the next connection, as when down.
        is_open = self._phase is Phase.OPEN and attempt is not None and not attempt.input_ended
        if not is_open and not hold:
            return False
        payload = bytes(data[1:])
        if self._phase is Phase.CLOSED:
            self._report_dropped(len(payload), self._status.message or "closed")
            return False
        frames = [INPUT + piece for piece in split_input(payload)]
        size = sum(len(frame) for frame in frames)
        if not is_open and self._queued_bytes + size > self.policy.held_input_limit_bytes:
            self._report_dropped(len(payload), self._refusal(len(payload)))
            return False
        waiting = len(self._queue)
        self._queue.extend((frame, hold) for frame in frames)
        self._queued_bytes += size
        if is_open:
            self._pump()
        if len(self._queue) != waiting:  # held_inputs changed (typing while open, unpaced, publishes nothing)
            self._publish()
        return True

    def ack(self, count: int) -> None:
        """The server's ACK: ``count`` input frames of this connection are written to the PTY (cumulative)."""
        attempt = self._attempt
        if self._phase is not Phase.OPEN or attempt is None or not attempt.tracks_acks or count <= attempt.acked:
            return
        for _ in range(min(count - attempt.acked, len(attempt.unacked))):
            frame, _typed = attempt.unacked.popleft()
            attempt.unacked_bytes -= len(frame)
        attempt.acked = count
        if self._queue:
            self._pump()
            self._publish()

    def drain(self) -> None:
        """The server's DRAIN: it will close 1012 once this connection's input has ended. Answer INPUT_END and send
        no input after it: the browser would drop whatever the page sends once the close frame has reached it, a
        moment before the page hears of the close. Input typed meanwhile is held for the next connection; the
        server acks every frame sent before INPUT_END before it closes."""
        attempt = self._attempt
        if self._phase is not Phase.OPEN or attempt is None or attempt.input_ended:
            return
        attempt.input_ended = True
        if attempt.socket.readyState == WS_OPEN:
            attempt.socket.send(INPUT_END)
        deadline = self._timer(lambda: self._on_drain_deadline(attempt), attempt.disposables)
        deadline.arm(self.policy.drain_close_ms)

    def _on_drain_deadline(self, attempt: _Attempt) -> None:
        if attempt is self._attempt and self._phase is Phase.OPEN:
            self._drop(attempt, RETRY, None, Reason.DRAIN_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)

    def set_server_protocol(self, version: int) -> None:
        """What the open connection's server speaks (its preferences say; 0 for a plain ttyd): a server below 2 sends
        no acks and answers no probes, so nothing is tracked or paced and no probe is sent."""
        attempt = self._attempt
        if self._phase is not Phase.OPEN or attempt is None:
            return
        attempt.protocol = int(version)
        if not attempt.tracks_acks:
            attempt.unacked.clear()
            attempt.unacked_bytes = 0
            attempt.unanswered_since_ms = None
        self._pump()
        self._publish()

    def set_online(self, online: bool) -> None:
        """The browser's ``online``/``offline`` events. Offline: leave the connection at once, hold input, attempt
        nothing (an explicit :meth:`retry_now` still tries once). Online: retry at once."""
        online = bool(online)
        if online is self._online:
            return
        self._online = online
        if online:
            self._publish()
            self.retry_now()
            return
        previous = self._phase
        attempt = self._attempt
        self._transition(Event.OFFLINE)
        if previous is Phase.WAITING:
            self._cancel_retry()
        elif attempt is not None:
            now = self._now_ms()
            self._schedule.on_offline(None if attempt.opened_at_ms is None else now - attempt.opened_at_ms)
            self._leave(attempt, Close.CLIENT_TIMEOUT, Reason.OFFLINE, resend=False)
            self._close_code, self._close_reason = None, Reason.OFFLINE
            self._retry_at_ms = None
            self._log("offline: left the connection; waiting to be online")
        self._publish()

    def retry_now(self) -> None:
        """Skip a pending wait (a "retry now" button; the browser's online/visible/pageshow events)."""
        previous = self._phase
        self._transition(Event.RETRY_NOW)
        if previous is Phase.WAITING:
            self._cancel_retry()
            self._begin_attempt()

    def close(self) -> None:
        """The one intentional close: cancel every timer, close the socket, never open another."""
        if self._phase is Phase.CLOSED:
            return
        self._transition(Event.CLOSE)
        self._cancel_retry()
        attempt = self._attempt
        self._stop_reason = StopReason.CLOSED_BY_CLIENT
        self._stop_message = STOP_MESSAGES[StopReason.CLOSED_BY_CLIENT]
        if attempt is not None:
            self._leave(attempt, Close.NORMAL, "pane closed", resend=False)
        self._drop_queue(STOP_MESSAGES[StopReason.CLOSED_BY_CLIENT])
        self._publish()

    def expect_keepalive(self, interval_ms: float) -> None:
        """The server advertised a keepalive: arm the watchdog for the current connection."""
        attempt = self._attempt
        if self._phase is not Phase.OPEN or attempt is None or interval_ms <= 0:
            return
        attempt.keepalive_ms = float(interval_ms)
        if attempt.watchdog is None:
            attempt.watchdog = self._timer(lambda: self._on_watchdog(attempt), attempt.disposables)
        attempt.watchdog.arm(attempt.keepalive_ms * self.policy.watchdog_factor)

    # ----------------------------------------------------------------------------------------------------------------
    # Transitions

    def _transition(self, event: Event) -> None:
        try:
            self._phase = TRANSITIONS[self._phase][event]
        except KeyError:
            raise IllegalTransition(self._phase, event) from None

    def _derive_state(self) -> State:
        if self._phase is Phase.OPEN:
            return State.OPEN
        if self._phase is Phase.CLOSED:
            return State.CLOSED
        if self._schedule.failures <= 1:
            return State.CONNECTING
        return State.RECONNECTING

    def _publish(self) -> None:
        stop = self._stop_reason
        phase = self._phase
        status = Status(
            state=self._derive_state(),
            phase=phase,
            failures=self._schedule.failures,
            attempts=self._attempts,
            retry_at_ms=self._retry_at_ms if phase is Phase.WAITING else None,
            close_code=self._close_code,
            close_reason=self._close_reason,
            stop_reason=stop,
            message=self._stop_message if stop is not None else "",
            offline=not self._online and phase is not Phase.CLOSED,
            restarting=self._schedule.restarting and phase in (Phase.WAITING, Phase.ATTEMPTING),
            held_inputs=len(self._queue),
        )
        if status == self._status:
            return
        self._status = status
        if self._on_state is not None:
            self._on_state(status)

    # ----------------------------------------------------------------------------------------------------------------
    # Attempts. Every callback of an attempt is bound with _for(): once the attempt is released it does nothing.

    def _for(self, attempt: _Attempt, handler: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            if self._attempt is attempt:  # implies the phase is attempting or open: every other phase released it
                handler(attempt, *args)

        return call

    def _begin_attempt(self) -> None:
        self._attempts += 1
        attempt = _Attempt()
        self._attempt = attempt
        self._retry_at_ms = None
        attempt.connect_timer = self._timer(self._for(attempt, self._on_connect_timeout), attempt.disposables)
        attempt.connect_timer.arm(self.policy.connect_timeout_ms)
        self._publish()
        if self._get_ticket is None:
            self._open(attempt, None)
            return
        if self._first_ticket is not None:
            ticket, self._first_ticket = self._first_ticket, None  # one attempt, whatever becomes of it
            attempt.ticket_settled = attempt.page_ticket = True
            self._open(attempt, ticket)
            return
        try:
            self._get_ticket(self._for(attempt, self._on_ticket), self._for(attempt, self._on_ticket_error))
        except Exception as error:  # a fetcher that fails synchronously failed this attempt, nothing more
            self._for(attempt, self._on_ticket_error)(error)

    def _on_ticket(self, attempt: _Attempt, ticket: str) -> None:
        if not attempt.ticket_settled:
            attempt.ticket_settled = True
            self._open(attempt, ticket)

    def _on_ticket_error(self, attempt: _Attempt, error: BaseException) -> None:
        if attempt.ticket_settled:
            return
        attempt.ticket_settled = True
        refused = isinstance(error, TicketRefused)
        status = error.status if refused else None
        server_reason = error.reason if refused else ""
        self._ended(attempt, classify(ticket_status=status), None, f"ticket: {error}", server_reason)

    def _open(self, attempt: _Attempt, ticket: str | None) -> None:
        try:
            sock = self._open_socket(ticket)
        except Exception as error:  # e.g. a SyntaxError from a bad URL: a failed attempt, retried
            self._drop(attempt, RETRY, None, f"socket: {error}")
            return
        attempt.socket = sock
        sock.binaryType = "arraybuffer"
        sock.onopen = self._for(attempt, self._on_socket_open)
        sock.onmessage = self._for(attempt, self._on_socket_message)
        sock.onclose = self._for(attempt, self._on_socket_close)
        # The browser always follows an error with a close, which carries the code: nothing to do on error itself.
        sock.onerror = lambda event=None: None

    def _on_socket_open(self, attempt: _Attempt, event: Any = None) -> None:
        """The socket is open, the terminal has not answered yet: send the handshake; still an attempt (keys held,
        the connect timeout running) until the first frame arrives."""
        if attempt.handshake_sent:
            return  # a second onopen from a confused socket
        attempt.handshake_sent = True
        if self._handshake is not None:
            attempt.socket.send(self._handshake())

    def _on_socket_message(self, attempt: _Attempt, event: Any) -> None:
        now = self._now_ms()
        attempt.last_rx_ms = now
        attempt.unanswered_since_ms = None
        if self._phase is not Phase.OPEN:
            self._answered(attempt, now)
            if self._attempt is not attempt:
                return  # on_open closed or replaced us
        if self._on_message is not None:
            self._on_message(event.data)

    def _answered(self, attempt: _Attempt, now: float) -> None:
        """The connection's first frame: the terminal behind the socket answered. Now it is open."""
        self._transition(Event.ANSWERED)
        attempt.connect_timer.cancel()
        attempt.opened_at_ms = now
        self._online = True  # whatever the browser said: the terminal answered
        self._close_code = None
        self._close_reason = ""
        self._schedule.on_open()
        if self._on_open is not None:
            self._on_open()
        if self._attempt is not attempt:
            return
        self._pump()
        self._publish()

    def _on_socket_close(self, attempt: _Attempt, event: Any) -> None:
        code = int(getattr(event, "code", Close.ABNORMAL) or Close.ABNORMAL)
        reason = str(getattr(event, "reason", "") or "")
        clean = bool(getattr(event, "wasClean", False))
        if attempt.page_ticket and code == Close.UNAUTHORIZED and self._phase is Phase.ATTEMPTING:
            # The page's ticket was refused: no verdict on the pane. Start over at once with a fetched ticket (whose
            # refusal, if the cookie is the problem, stops the pane as it always did).
            self._log(f"the page's ticket was refused ({reason}); fetching one")
            self._leave(attempt, None, reason, resend=False)
            self._transition(Event.RETRY_NOW)
            self._begin_attempt()
            return
        self._ended(attempt, classify(code, reason, clean=clean), code, reason, reason)

    def _on_connect_timeout(self, attempt: _Attempt) -> None:
        if self._phase is Phase.ATTEMPTING:
            self._drop(attempt, RETRY, None, Reason.CLIENT_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)

    # ----------------------------------------------------------------------------------------------------------------
    # Liveness: the keepalive watchdog (idle links) and the probe (a link that goes silent while the user types)

    def _on_watchdog(self, attempt: _Attempt) -> None:
        if attempt.keepalive_ms is None or attempt.watchdog is None:
            return
        limit = attempt.keepalive_ms * self.policy.watchdog_factor
        silent_for = self._now_ms() - attempt.last_rx_ms
        if silent_for < limit:
            attempt.watchdog.arm(limit - silent_for)  # one timer per silence, not one per message
            return
        # The silence is at least `limit` by construction: the contract's reason says all there is to say.
        self._drop(attempt, RETRY, None, Reason.KEEPALIVE_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)

    def _input_sent(self, attempt: _Attempt, frame: bytes, typed: bool) -> None:
        if attempt.tracks_acks:
            attempt.unacked.append((frame, typed))
            attempt.unacked_bytes += len(frame)
        if attempt.protocol is None or attempt.protocol < 2:
            return  # probes only to a server that said it answers them
        if attempt.unanswered_since_ms is None:
            attempt.unanswered_since_ms = self._now_ms()
        if attempt.probe_timer is None:
            attempt.probe_timer = self._timer(lambda: self._on_probe_timer(attempt), attempt.disposables)
        if not attempt.probe_timer.armed:
            attempt.probe_timer.arm(self.policy.probe_after_ms)

    def _on_probe_timer(self, attempt: _Attempt) -> None:
        """One timer, two stages: ``probe_after_ms`` after unanswered input send a probe; ``probe_timeout_ms`` after
        the probe, drop unless anything at all was received meanwhile. Messages only stamp ``last_rx_ms``."""
        assert attempt.probe_timer is not None
        now = self._now_ms()
        if attempt.probe_sent_at_ms is not None:
            if attempt.last_rx_ms < attempt.probe_sent_at_ms:
                self._drop(attempt, RETRY, None, Reason.PROBE_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)
                return
            attempt.probe_sent_at_ms = None
        if attempt.unanswered_since_ms is None:
            return
        due = attempt.unanswered_since_ms + self.policy.probe_after_ms
        if now < due:
            attempt.probe_timer.arm(due - now)
            return
        attempt.probes += 1
        attempt.probe_sent_at_ms = now
        if attempt.socket.readyState == WS_OPEN:  # a closing socket gets no probe: its deadline decides all the same
            attempt.socket.send(probe_frame(str(attempt.probes)))
        attempt.probe_timer.arm(self.policy.probe_timeout_ms)

    # ----------------------------------------------------------------------------------------------------------------
    # Drops, stops and the schedule

    def _ended(
        self, attempt: _Attempt, verdict: Verdict, code: int | None, reason: str, server_reason: str = ""
    ) -> None:
        """``server_reason``: the server's own words for this ending (a close reason, a refusal's body), if any."""
        if verdict.action is Action.STOP:
            assert verdict.stop is not None
            self._stop(attempt, verdict.stop, code, reason, server_reason)
        else:
            self._drop(attempt, verdict, code, reason)

    def _drop(
        self, attempt: _Attempt, verdict: Verdict, code: int | None, reason: str, *, close_code: int | None = None
    ) -> None:
        """The current attempt or connection failed: count it and arm the next attempt (unless offline)."""
        now = self._now_ms()
        was_open_for = None if attempt.opened_at_ms is None else now - attempt.opened_at_ms
        self._transition(Event.DROP)
        self._leave(attempt, close_code, reason, resend=verdict.resend)
        self._close_code = code
        self._close_reason = reason

        delay = self._schedule.after_drop(verdict.action, was_open_for, now, self._random())
        what = "connection lost" if was_open_for is not None else "connect failed"
        detail = f"code {code}" if code is not None else reason
        if self._online:
            self._retry_at_ms = now + delay
            self._retry.arm(delay)
            self._log(f"{what} ({detail}); attempt {self._attempts + 1} in {delay:.0f} ms")
        else:
            self._retry_at_ms = None
            self._log(f"{what} ({detail}); offline: next attempt once online")
        self._publish()

    def _on_retry_due(self) -> None:
        self._transition(Event.RETRY_DUE)
        self._begin_attempt()

    def _stop(
        self, attempt: _Attempt, reason: StopReason, code: int | None, detail: str, server_reason: str = ""
    ) -> None:
        self._transition(Event.STOP)
        self._cancel_retry()
        self._leave(attempt, Close.NORMAL, "", resend=False)
        self._stop_reason = reason
        self._stop_message = stop_message(reason, server_reason)
        self._close_code = code
        self._close_reason = detail
        self._log(f"stopped: {STOP_MESSAGES[reason]} ({detail})")
        self._drop_queue(self._stop_message)
        self._publish()

    def _leave(self, attempt: _Attempt, close_code: int | None, reason: str, *, resend: bool) -> None:
        """Release the current attempt (its timers and handlers), close its socket if ``close_code``, and settle what
        it sent: after a settled 1012 (``resend``) what the user typed and the server did not acknowledge was not
        written, and goes again, first and in order, on the next connection; otherwise it may not have arrived, and
        is reported, never resent (that could type it twice)."""
        self._release_attempt()
        if close_code is not None and attempt.socket is not None:
            self._close_quietly(attempt.socket, close_code, reason)
        # Replies to the old connection's queries die with it; what the user typed waits for the next connection.
        if not all(typed for _frame, typed in self._queue):
            self._queued_bytes -= sum(len(frame) for frame, typed in self._queue if not typed)
            self._queue = deque(item for item in self._queue if item[1])
        unacked, attempt.unacked, attempt.unacked_bytes = attempt.unacked, deque(), 0
        # Acks alone settle what was sent: a clean 1012 after a drain does not (the drain's deadline may have passed,
        # and the browser dropped what the page sent after the close reached it; docs/protocol.md §2).
        if resend:
            again = [(frame, True) for frame, typed in unacked if typed]
            if again:
                self._queue.extendleft(reversed(again))
                self._queued_bytes += sum(len(frame) for frame, _typed in again)
                self._log(f"{len(again)} input frames were not written before the restart; they go again")
            return
        uncertain = b"".join(frame[len(INPUT) :] for frame, typed in unacked if typed)
        if uncertain:
            self._log(f"{len(uncertain)} bytes of input may not have arrived")
            if self._on_input_uncertain is not None:
                self._on_input_uncertain(uncertain)

    # ----------------------------------------------------------------------------------------------------------------
    # Plumbing

    def _timer(self, callback: Callable[[], None], owner: Disposables | None = None) -> OneShotTimer:
        timer = OneShotTimer(self._set_timeout, self._clear_timeout, callback)
        if owner is not None:
            owner.register(timer)
        return timer

    def _release_attempt(self) -> None:
        """Detach the current attempt: cancel its timers and unhook its socket, so its events are ignored."""
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return
        attempt.disposables.dispose()
        if attempt.socket is not None:
            for handler in _HANDLERS:
                setattr(attempt.socket, handler, None)

    def _cancel_retry(self) -> None:
        self._retry.cancel()
        self._retry_at_ms = None

    def _close_quietly(self, sock: Any, code: int, reason: str) -> None:
        try:
            sock.close(int(code), reason)
        except Exception as error:  # closing an already broken socket must not break the machine
            self._log(f"close failed: {error}")

    def _pump(self) -> None:
        """Send queued input in order while open, at most ``unacked_limit_bytes`` unacknowledged in flight to a server
        that acks (or may: its protocol is not known yet); always at least one frame."""
        attempt = self._attempt
        limit = self.policy.unacked_limit_bytes
        while self._queue and self._phase is Phase.OPEN and attempt is not None:
            if attempt.socket.readyState != WS_OPEN or attempt.input_ended:
                return
            frame, typed = self._queue[0]
            if attempt.tracks_acks and attempt.unacked_bytes and attempt.unacked_bytes + len(frame) > limit:
                return
            self._queue.popleft()
            self._queued_bytes -= len(frame)
            attempt.socket.send(frame)
            self._input_sent(attempt, frame, typed)

    def _drop_queue(self, why: str) -> None:
        typed = sum(len(frame) - len(INPUT) for frame, was_typed in self._queue if was_typed)
        self._queue.clear()
        self._queued_bytes = 0
        if typed:
            self._report_dropped(typed, why)

    def _refusal(self, nbytes: int) -> str:
        limit = self.policy.held_input_limit_bytes
        if nbytes > limit:
            return f"paste of {_size(nbytes)} refused: not connected (at most {_size(limit)} is held)"
        return f"not connected and {_size(self._queued_bytes)} already waiting (at most {_size(limit)} is held)"

    def _report_dropped(self, nbytes: int, why: str) -> None:
        self._log(f"dropped {nbytes} bytes of input: {why}")
        if self._on_input_dropped is not None:
            self._on_input_dropped(nbytes, why)


def _size(nbytes: int) -> str:
    """A byte count as a person reads it: 512 bytes, 64 KiB, 2.1 MB."""
    if nbytes < 1024:
        return f"{nbytes} bytes"
    if nbytes < 1_000_000:
        return f"{nbytes / 1024:.0f} KiB"
    return f"{nbytes / 1_000_000:.1f} MB"
