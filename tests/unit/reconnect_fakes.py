"""Fakes for driving the reconnect machine under CPython: a clock that moves only when told, and scripted sockets.

Nothing here sleeps. ``FakeTimers.advance(ms)`` fires due callbacks in due order (callbacks scheduled while advancing
fire too, if due) and refuses to go backwards, like trio's MockClock.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any


class FakeTimers:
    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Any]] = []
        self._live: dict[int, tuple[float, Any]] = {}
        self._ids = itertools.count(1)
        self.scheduled: list[tuple[float, float]] = []  # (at, delay_ms) of every set_timeout, for assertions

    def set_timeout(self, callback: Any, ms: float) -> int:
        assert ms >= 0, f"negative delay {ms}"
        handle = next(self._ids)
        due = self.now + ms
        self._live[handle] = (due, callback)
        heapq.heappush(self._queue, (due, handle, callback))
        self.scheduled.append((self.now, ms))
        return handle

    def clear_timeout(self, handle: int) -> None:
        self._live.pop(handle, None)

    def now_ms(self) -> float:
        return self.now

    @property
    def armed(self) -> int:
        """How many timers are armed."""
        return len(self._live)

    def pending(self) -> list[float]:
        """Due times of the armed timers."""
        return sorted(due for due, _ in self._live.values())

    def advance(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("time does not go backwards")
        target = self.now + ms
        while self._queue and self._queue[0][0] <= target:
            due, handle, callback = heapq.heappop(self._queue)
            if self._live.pop(handle, None) is None:
                continue  # cleared
            self.now = due
            callback()
        self.now = target


@dataclass
class CloseEvent:
    code: int
    reason: str = ""
    wasClean: bool = True  # the browser's name


@dataclass
class MessageEvent:
    data: Any


class FakeSocket:
    """A WebSocket whose fate the test decides: ``accept()``, ``fail()``, ``server_close(code)``, ``message(data)``."""

    CONNECTING, OPEN, CLOSING, CLOSED = range(4)

    def __init__(self, ticket: str | None, created_at: float) -> None:
        self.ticket = ticket
        self.created_at = created_at
        self.readyState = self.CONNECTING
        self.binaryType = "blob"
        self.onopen: Any = None
        self.onmessage: Any = None
        self.onclose: Any = None
        self.onerror: Any = None
        self.sent: list[Any] = []
        self.closed_with: tuple[int, str] | None = None

    # The browser interface
    def send(self, data: Any) -> None:
        if self.readyState != self.OPEN:
            raise RuntimeError("InvalidStateError: send on a socket that is not open")
        self.sent.append(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)
        self.readyState = self.CLOSED

    # Test controls: each fires the handler the browser would, if one is attached
    def accept(self) -> None:
        self.readyState = self.OPEN
        if self.onopen:
            self.onopen(None)

    def answer(self, first: Any = b"1bash") -> None:
        """Open, and the terminal answers with its first frame (serve.py and ttyd send the title first)."""
        self.accept()
        self.message(first)

    def message(self, data: Any) -> None:
        if self.onmessage:
            self.onmessage(MessageEvent(data))

    def fail(self) -> None:
        self.readyState = self.CLOSED
        if self.onerror:
            self.onerror(None)
        if self.onclose:
            self.onclose(CloseEvent(1006, "", wasClean=False))

    def server_close(self, code: int, reason: str = "", *, clean: bool = True) -> None:
        self.readyState = self.CLOSED
        if self.onclose:
            self.onclose(CloseEvent(code, reason, wasClean=clean))

    def input_frames(self) -> list[bytes]:
        """The input (``0``) frames this socket carried, in order."""
        return [f for f in self.sent if isinstance(f, bytes) and f[:1] == b"0"]

    @property
    def attached(self) -> bool:
        return any(h is not None for h in (self.onopen, self.onmessage, self.onclose, self.onerror))


class FakeSocketFactory:
    def __init__(self, timers: FakeTimers) -> None:
        self.timers = timers
        self.sockets: list[FakeSocket] = []

    def __call__(self, ticket: str | None) -> FakeSocket:
        sock = FakeSocket(ticket, self.timers.now)
        self.sockets.append(sock)
        return sock

    @property
    def last(self) -> FakeSocket:
        return self.sockets[-1]

    def live(self) -> list[FakeSocket]:
        """Sockets still connecting or open and still hooked to the machine."""
        return [s for s in self.sockets if s.attached and s.readyState in (FakeSocket.CONNECTING, FakeSocket.OPEN)]


class FixedRandom:
    """A random source returning a scripted value (or cycling through several), so jitter is exact."""

    def __init__(self, *values: float) -> None:
        self.values = values or (0.0,)
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[self.calls % len(self.values)]
        self.calls += 1
        return value
