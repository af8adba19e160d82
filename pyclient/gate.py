"""A page-wide limit on WebSocket handshakes in flight.

Why: Chromium delays each new WebSocket by ``rand(1..5 s) * 2^min(pending + failed/(succeeded+1), 16) / 65536``
(its per-renderer throttler, services/network/websocket_throttler.cc). When fifty panes reconnect at once after a
server restart, the pending count climbs and later sockets wait seconds before the browser even sends them
(docs/benchmarks.md, herd: 4.0 s for 50 panes as it was, 1.5 s with six in flight). Keeping a few in flight keeps
that delay at a few milliseconds and lets the rest follow in order.

Rules: pure (no ``js``, no time): the browser adapter asks for a slot before it creates a socket and gives the slot
back when the handshake ends (open, close, error) or the socket is abandoned. Admissions are first come, first
served. ``release()`` is idempotent and also takes a request out of the queue if it was never admitted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Admission", "GatePolicy", "HandshakeGate"]


@dataclass(frozen=True)
class GatePolicy:
    """The gate's one number, in the house's policy form (read only by the browser adapter)."""

    # At most this many socket handshakes in flight, page-wide. With 50 panes reconnecting at once, six in flight
    # brought them all back in 1.5 s instead of 4.0 s (docs/benchmarks.md, herd); six is also the browser's
    # classic per-host connection limit.
    handshakes_in_flight: int = 6

    def __post_init__(self) -> None:
        if self.handshakes_in_flight < 1:
            raise ValueError(f"handshakes_in_flight must be >= 1, got {self.handshakes_in_flight}")


GATE_POLICY = GatePolicy()


class Admission:
    """One request for a handshake slot."""

    def __init__(self, gate: HandshakeGate, start: Callable[[Admission], None]) -> None:
        self._gate = gate
        self._start = start
        self.admitted = False
        self.released = False

    def release(self) -> None:
        """The handshake is over (or was abandoned): give the slot back, or leave the queue."""
        if self.released:
            return
        self.released = True
        self._gate._release(self)


class HandshakeGate:
    def __init__(self, limit: int = GATE_POLICY.handshakes_in_flight) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self.in_flight = 0
        self._queue: deque[Admission] = deque()
        self._pumping = False

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def request(self, start: Callable[[Admission], None]) -> Admission:
        """Call ``start(admission)`` as soon as a slot is free (at once if one is); ``release()`` it when done.

        ``start`` gets its admission because it may run before ``request`` returns (and may need to release at once).
        """
        admission = Admission(self, start)
        self._queue.append(admission)
        self._pump()
        return admission

    def _release(self, admission: Admission) -> None:
        if admission.admitted:
            self.in_flight -= 1
        else:
            self._queue.remove(admission)
        self._pump()

    def _pump(self) -> None:
        if self._pumping:
            return  # a start() that releases re-enters here: the outer loop goes on admitting
        self._pumping = True
        try:
            while self._queue and self.in_flight < self.limit:
                admission = self._queue.popleft()
                admission.admitted = True
                self.in_flight += 1
                try:
                    admission._start(admission)
                except Exception:
                    admission.release()  # a start that failed holds no slot
                    raise
        finally:
            self._pumping = False
