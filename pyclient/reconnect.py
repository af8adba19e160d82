"""Keep one terminal WebSocket alive across real drops.

Rules of this file (after h11's ``_state.py``):

- Everything that decides when to connect, when to give up, and what a pane's health is lives here, and only here.
- It never touches time, sockets, the DOM or randomness itself. The socket factory, ``set_timeout`` /
  ``clear_timeout``, the monotonic clock and the random source are injected, so the whole machine runs under CPython
  with fakes (tests) and unchanged under Pyodide (the browser adapter passes the real ones).
- Every number is policy and lives in :class:`ReconnectPolicy`. States are enums, compared with ``is``.
- Phase changes go through one transition table; an illegal one raises :class:`IllegalTransition` and leaves the phase
  unchanged. Events from a socket or attempt that is no longer current never reach the table.

The contract this implements (close codes, schedule, state table) is written down in ``docs/protocol.md`` §3–4.
"""

from __future__ import annotations

import enum
import random as _random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .protocol import Close, Reason

__all__ = [
    "Event",
    "IllegalTransition",
    "Phase",
    "ReconnectPolicy",
    "ReconnectingSocket",
    "State",
    "Status",
    "StopReason",
    "TicketRefused",
    "delay_envelope_ms",
    "nominal_delay_ms",
    "retry_delay_ms",
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
    # Page-wide, enforced by the browser adapter's HandshakeGate (pyclient/gate.py): at most this many socket
    # handshakes in flight. Chromium throttles a renderer's pending WebSockets exponentially; with 50 panes
    # reconnecting at once, six in flight brought them all back in 1.5 s instead of 4-5.6 s (docs/benchmarks.md).
    handshakes_in_flight: int = 6
    # Keystrokes typed while not open are held up to this many bytes of frames (a few lines of typing; more is
    # probably a paste the user should redo once they can see the screen).
    held_input_limit_bytes: int = 4096

    def __post_init__(self) -> None:
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")
        if self.handshakes_in_flight < 1:
            raise ValueError(f"handshakes_in_flight must be >= 1, got {self.handshakes_in_flight}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        for name in ("first_retry_ms", "base_ms", "cap_ms", "connect_timeout_ms", "held_input_limit_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


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
    return nominal * (1 - policy.jitter * rand)


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
    SOCKET_OPEN = "socket_open"
    DROP = "drop"  # unexpected close, error, connect timeout, watchdog, transient ticket failure
    RETRY_DUE = "retry_due"
    RETRY_NOW = "retry_now"
    STOP = "stop"  # the server said stop (session gone, unauthorized) or the ticket was refused
    CLOSE = "close"  # the one intentional close


TRANSITIONS: dict[Phase, dict[Event, Phase]] = {
    Phase.IDLE: {Event.START: Phase.ATTEMPTING, Event.RETRY_NOW: Phase.IDLE, Event.CLOSE: Phase.CLOSED},
    Phase.WAITING: {Event.RETRY_DUE: Phase.ATTEMPTING, Event.RETRY_NOW: Phase.ATTEMPTING, Event.CLOSE: Phase.CLOSED},
    Phase.ATTEMPTING: {
        Event.SOCKET_OPEN: Phase.OPEN,
        Event.DROP: Phase.WAITING,
        Event.RETRY_NOW: Phase.ATTEMPTING,
        Event.STOP: Phase.CLOSED,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.OPEN: {
        Event.DROP: Phase.WAITING,
        Event.RETRY_NOW: Phase.OPEN,
        Event.STOP: Phase.CLOSED,
        Event.CLOSE: Phase.CLOSED,
    },
    Phase.CLOSED: {Event.RETRY_NOW: Phase.CLOSED, Event.CLOSE: Phase.CLOSED},
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



# Close codes after which reopening cannot help.
FATAL_CLOSE_CODES: dict[int, StopReason] = {
    Close.UNAUTHORIZED: StopReason.UNAUTHORIZED,
    Close.FORBIDDEN: StopReason.FORBIDDEN,
    Close.NO_SUCH_SESSION: StopReason.NO_SUCH_SESSION,
}

STOP_MESSAGES: dict[StopReason, str] = {
    StopReason.CLOSED_BY_CLIENT: "closed",
    StopReason.SESSION_ENDED: "session ended",
    StopReason.NO_SUCH_SESSION: "session ended",
    StopReason.UNAUTHORIZED: "not authorized: reload the page with the token URL",
    StopReason.FORBIDDEN: "forbidden by the server",
}


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
    """Raised (passed to ``reject``) by a ticket fetcher. ``fatal`` for HTTP 401/403, transient otherwise."""

    def __init__(self, message: str, *, fatal: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.status = status


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


@dataclass
class _Attempt:
    """One connect attempt; events from an attempt that is no longer ``self._attempt`` are stale."""

    socket: Any = None
    opened_at_ms: float | None = None
    last_rx_ms: float = 0.0
    keepalive_ms: float | None = None
    handles: dict[str, Any] = field(default_factory=dict)


class ReconnectingSocket:
    """One pane's connection: opens a socket, keeps it open, reopens it after real drops.

    Args:
        open_socket: called once per attempt with the ticket (or ``None`` without a ticket step); returns a fresh
            socket with the browser WebSocket interface. The machine sets its ``on*`` handlers and later clears them.
        set_timeout / clear_timeout: the browser's, or a fake's. ``set_timeout(callback, ms) -> handle``.
        now_ms: a monotonic clock in milliseconds.
        random: uniform floats in [0, 1), for jitter.
        get_ticket: optional async step before each socket: ``get_ticket(resolve, reject)``; ``reject`` takes a
            :class:`TicketRefused` (or any exception, taken as transient).
        on_state: called with a :class:`Status` after every change.
        on_open: called once a socket is open, before held input is flushed (send the handshake here).
        on_message: called with each message's ``data``.
        on_input_dropped: called with ``(nbytes, why)`` when input cannot be delivered.
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
        on_state: Callable[[Status], None] | None = None,
        on_open: Callable[[], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
        on_input_dropped: Callable[[int, str], None] | None = None,
        log: Callable[[str], None] = _default_log,
    ) -> None:
        self.policy = policy or ReconnectPolicy()
        self._open_socket = open_socket
        self._set_timeout = set_timeout
        self._clear_timeout = clear_timeout
        self._now_ms = now_ms
        self._random = random
        self._get_ticket = get_ticket
        self._on_state = on_state
        self._on_open = on_open
        self._on_message = on_message
        self._on_input_dropped = on_input_dropped
        self._log = log

        self._phase = Phase.IDLE
        self._status = Status(state=State.CONNECTING, phase=Phase.IDLE)
        self._failures = 0
        self._attempts = 0
        self._attempt: _Attempt | None = None
        self._retry_handle: Any = None
        self._retry_at_ms: float | None = None
        self._restart_until_ms: float | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._stop_reason: StopReason | None = None
        self._held: deque[Any] = deque()
        self._held_bytes = 0

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
        return self._held_bytes

    @property
    def keepalive_ms(self) -> float | None:
        """The keepalive the open connection's server advertised (its watchdog is armed), else None."""
        attempt = self._attempt
        return attempt.keepalive_ms if self._phase is Phase.OPEN and attempt is not None else None

    def start(self) -> None:
        """Open the first connection."""
        self._transition(Event.START)
        self._begin_attempt()

    def send(self, data: Any, *, hold: bool = True) -> bool:
        """Send a frame now, or hold it (``hold=True``) until the next open. Returns whether it was sent or held."""
        attempt = self._attempt
        if self._phase is Phase.OPEN and attempt is not None and attempt.socket.readyState == WS_OPEN:
            attempt.socket.send(data)
            return True
        if not hold:
            return False  # a reply to the terminal's own query: it belongs to the connection that asked.
        size = len(data)
        if self._phase is Phase.CLOSED:
            self._report_dropped(size, self._status.message or "closed")
            return False
        if self._held_bytes + size > self.policy.held_input_limit_bytes:
            self._report_dropped(size, f"more than {self.policy.held_input_limit_bytes} bytes typed while offline")
            return False
        self._held.append(data)
        self._held_bytes += size
        return True

    def retry_now(self) -> None:
        """Skip a pending wait (a "retry now" button; the browser's online/visible/pageshow events)."""
        previous = self._phase
        self._transition(Event.RETRY_NOW)
        if previous is Phase.WAITING:
            self._cancel_retry_timer()
            self._begin_attempt()

    def close(self) -> None:
        """The one intentional close: cancel every timer, close the socket, never open another."""
        if self._phase is Phase.CLOSED:
            return
        self._transition(Event.CLOSE)
        self._cancel_retry_timer()
        attempt = self._release_attempt()
        self._stop_reason = StopReason.CLOSED_BY_CLIENT
        self._drop_held(STOP_MESSAGES[StopReason.CLOSED_BY_CLIENT])
        self._publish()
        if attempt is not None and attempt.socket is not None:
            self._close_quietly(attempt.socket, Close.NORMAL, "pane closed")

    def expect_keepalive(self, interval_ms: float) -> None:
        """The server advertised a keepalive: arm the watchdog for the current connection."""
        attempt = self._attempt
        if self._phase is not Phase.OPEN or attempt is None or interval_ms <= 0:
            return
        attempt.keepalive_ms = float(interval_ms)
        self._arm_watchdog(attempt, attempt.keepalive_ms * self.policy.watchdog_factor)

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
        if self._failures <= 1:
            return State.CONNECTING
        return State.RECONNECTING

    def _publish(self) -> None:
        stop = self._stop_reason
        status = Status(
            state=self._derive_state(),
            phase=self._phase,
            failures=self._failures,
            attempts=self._attempts,
            retry_at_ms=self._retry_at_ms if self._phase is Phase.WAITING else None,
            close_code=self._close_code,
            close_reason=self._close_reason,
            stop_reason=stop,
            message=STOP_MESSAGES[stop] if stop is not None else "",
        )
        if status == self._status:
            return
        self._status = status
        if self._on_state is not None:
            self._on_state(status)

    # ----------------------------------------------------------------------------------------------------------------
    # Attempts

    def _begin_attempt(self) -> None:
        self._attempts += 1
        attempt = _Attempt()
        self._attempt = attempt
        self._retry_at_ms = None
        attempt.handles["connect"] = self._set_timeout(
            lambda: self._on_connect_timeout(attempt), self.policy.connect_timeout_ms
        )
        self._publish()
        if self._get_ticket is None:
            self._open(attempt, None)
            return
        try:
            self._get_ticket(
                lambda ticket: self._on_ticket(attempt, ticket),
                lambda error: self._on_ticket_error(attempt, error),
            )
        except Exception as error:  # a fetcher that fails synchronously failed this attempt, nothing more
            self._on_ticket_error(attempt, error)

    def _is_current(self, attempt: _Attempt) -> bool:
        return self._attempt is attempt and self._phase in (Phase.ATTEMPTING, Phase.OPEN)

    def _on_ticket(self, attempt: _Attempt, ticket: str) -> None:
        if self._is_current(attempt) and attempt.socket is None:
            self._open(attempt, ticket)

    def _on_ticket_error(self, attempt: _Attempt, error: BaseException) -> None:
        if not self._is_current(attempt) or attempt.socket is not None:
            return
        if isinstance(error, TicketRefused) and error.fatal:
            reason = StopReason.FORBIDDEN if error.status == 403 else StopReason.UNAUTHORIZED
            self._stop(reason, None, f"ticket refused: {error}")
            return
        self._drop(attempt, None, f"ticket: {error}")

    def _open(self, attempt: _Attempt, ticket: str | None) -> None:
        try:
            sock = self._open_socket(ticket)
        except Exception as error:  # e.g. a SyntaxError from a bad URL: a failed attempt, retried
            self._drop(attempt, None, f"socket: {error}")
            return
        attempt.socket = sock
        sock.binaryType = "arraybuffer"
        sock.onopen = lambda event=None: self._on_socket_open(attempt)
        sock.onmessage = lambda event: self._on_socket_message(attempt, event)
        sock.onclose = lambda event: self._on_socket_close(attempt, event)
        # The browser always follows an error with a close, which carries the code: nothing to do on error itself.
        sock.onerror = lambda event=None: None

    def _on_socket_open(self, attempt: _Attempt) -> None:
        if not self._is_current(attempt) or self._phase is Phase.OPEN:
            return
        self._transition(Event.SOCKET_OPEN)
        self._clear(attempt, "connect")
        now = self._now_ms()
        attempt.opened_at_ms = now
        attempt.last_rx_ms = now
        self._close_code = None
        self._close_reason = ""
        if self._restart_until_ms is not None:
            self._failures = 0  # those failures were the announced restart, not a flapping server
        self._restart_until_ms = None  # the server is back: a later drop starts a normal schedule
        if self._on_open is not None:
            self._on_open()
        if self._attempt is not attempt or self._phase is not Phase.OPEN:
            return  # on_open closed or replaced us
        self._flush_held(attempt)
        self._publish()

    def _on_socket_message(self, attempt: _Attempt, event: Any) -> None:
        if self._attempt is not attempt or self._phase is not Phase.OPEN:
            return
        attempt.last_rx_ms = self._now_ms()
        if self._on_message is not None:
            self._on_message(event.data)

    def _on_socket_close(self, attempt: _Attempt, event: Any) -> None:
        if not self._is_current(attempt):
            return
        code = int(getattr(event, "code", Close.ABNORMAL) or Close.ABNORMAL)
        reason = str(getattr(event, "reason", "") or "")
        stop = FATAL_CLOSE_CODES.get(code)
        if code == Close.NORMAL and reason == Reason.SESSION_ENDED:
            stop = StopReason.SESSION_ENDED
        if stop is not None:
            self._stop(stop, code, reason)
            return
        self._drop(attempt, code, reason)

    def _on_connect_timeout(self, attempt: _Attempt) -> None:
        attempt.handles.pop("connect", None)
        if self._is_current(attempt) and self._phase is Phase.ATTEMPTING:
            self._drop(attempt, None, Reason.CLIENT_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)

    # ----------------------------------------------------------------------------------------------------------------
    # Watchdog

    def _arm_watchdog(self, attempt: _Attempt, delay_ms: float) -> None:
        self._clear(attempt, "watchdog")
        attempt.handles["watchdog"] = self._set_timeout(lambda: self._on_watchdog(attempt), delay_ms)

    def _on_watchdog(self, attempt: _Attempt) -> None:
        attempt.handles.pop("watchdog", None)
        if self._attempt is not attempt or self._phase is not Phase.OPEN or attempt.keepalive_ms is None:
            return
        limit = attempt.keepalive_ms * self.policy.watchdog_factor
        silent_for = self._now_ms() - attempt.last_rx_ms
        if silent_for < limit:
            self._arm_watchdog(attempt, limit - silent_for)  # one timer per silence, not one per message
            return
        # The silence is at least `limit` by construction: the contract's reason says all there is to say.
        self._drop(attempt, None, Reason.KEEPALIVE_TIMEOUT, close_code=Close.CLIENT_TIMEOUT)

    # ----------------------------------------------------------------------------------------------------------------
    # Drops, stops and the schedule

    def _drop(self, attempt: _Attempt, code: int | None, reason: str, *, close_code: int | None = None) -> None:
        """The current attempt or connection failed: count it and arm the next attempt."""
        now = self._now_ms()
        was_open_for = None if attempt.opened_at_ms is None else now - attempt.opened_at_ms
        self._transition(Event.DROP)
        self._release_attempt()
        if close_code is not None and attempt.socket is not None:
            self._close_quietly(attempt.socket, close_code, reason)
        self._close_code = code
        self._close_reason = reason

        if was_open_for is not None and was_open_for >= self.policy.stable_after_ms:
            self._failures = 0  # it was healthy: start the schedule over
        if self._restart_until_ms is not None and now >= self._restart_until_ms:
            self._restart_until_ms = None

        if code == Close.SERVICE_RESTART:
            self._failures = 0
            self._restart_until_ms = now + self.policy.restart_window_ms
            delay = self._random() * self.policy.restart_spread_ms
        elif code == Close.TRY_AGAIN_LATER:
            self._restart_until_ms = None
            self._failures = max(self._failures, 1) + 1
            delay = retry_delay_ms(self.policy, self._failures, self._random())
        else:
            self._failures += 1
            if self._restart_until_ms is not None and self._failures >= 2:
                delay = self.policy.restart_retry_ms * (1 - self.policy.jitter * self._random())
            else:
                delay = retry_delay_ms(self.policy, self._failures, self._random())

        self._retry_at_ms = now + delay
        self._retry_handle = self._set_timeout(self._on_retry_due, delay)
        what = "connection lost" if was_open_for is not None else "connect failed"
        detail = f"code {code}" if code is not None else reason
        self._log(f"{what} ({detail}); attempt {self._attempts + 1} in {delay:.0f} ms")
        self._publish()

    def _on_retry_due(self) -> None:
        self._retry_handle = None
        if self._phase is not Phase.WAITING:
            return
        self._transition(Event.RETRY_DUE)
        self._begin_attempt()

    def _stop(self, reason: StopReason, code: int | None, detail: str) -> None:
        self._transition(Event.STOP)
        self._cancel_retry_timer()
        attempt = self._release_attempt()
        if attempt is not None and attempt.socket is not None:
            self._close_quietly(attempt.socket, Close.NORMAL, "")
        self._stop_reason = reason
        self._close_code = code
        self._close_reason = detail
        self._log(f"stopped: {STOP_MESSAGES[reason]} ({detail})")
        self._drop_held(STOP_MESSAGES[reason])
        self._publish()

    # ----------------------------------------------------------------------------------------------------------------
    # Plumbing

    def _release_attempt(self) -> _Attempt | None:
        """Detach the current attempt: cancel its timers and unhook its socket, so its events are ignored."""
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return None
        for name in list(attempt.handles):
            self._clear(attempt, name)
        if attempt.socket is not None:
            for handler in _HANDLERS:
                setattr(attempt.socket, handler, None)
        return attempt

    def _clear(self, attempt: _Attempt, name: str) -> None:
        handle = attempt.handles.pop(name, None)
        if handle is not None:
            self._clear_timeout(handle)

    def _cancel_retry_timer(self) -> None:
        handle, self._retry_handle = self._retry_handle, None
        self._retry_at_ms = None
        if handle is not None:
            self._clear_timeout(handle)

    def _close_quietly(self, sock: Any, code: int, reason: str) -> None:
        try:
            sock.close(int(code), reason)
        except Exception as error:  # closing an already broken socket must not break the machine
            self._log(f"close failed: {error}")

    def _flush_held(self, attempt: _Attempt) -> None:
        while self._held and self._attempt is attempt and attempt.socket.readyState == WS_OPEN:
            data = self._held.popleft()
            self._held_bytes -= len(data)
            attempt.socket.send(data)

    def _drop_held(self, why: str) -> None:
        if self._held_bytes:
            dropped, self._held_bytes = self._held_bytes, 0
            self._held.clear()
            self._report_dropped(dropped, why)

    def _report_dropped(self, nbytes: int, why: str) -> None:
        self._log(f"dropped {nbytes} bytes of input: {why}")
        if self._on_input_dropped is not None:
            self._on_input_dropped(nbytes, why)
