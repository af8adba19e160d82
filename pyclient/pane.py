"""One browser pane's decisions, as plain Python: caption, terminal replies, flow control, resizes.

Rules of this file:

- No ``js``, no ``pyodide``. The browser adapter (``pyclient/browser.py``) implements :class:`TerminalPort` and
  :class:`ViewPort` over xterm.js and the DOM, and injects the socket factory, timers, clock and ticket fetcher that
  :class:`~pyclient.reconnect.ReconnectingSocket` needs. Under CPython the same class runs against fakes
  (``tests/test_pane.py``).
- The reconnect machine decides when to connect; this file decides what a connection means for the screen: the
  handshake and a reset on every open, which terminal replies may go out, when to pause the server's output.
- Every number is a named constant or a policy field with its reason.
"""

from __future__ import annotations

import enum
import math
import random as _random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .disposables import OneShotTimer
from .protocol import (
    ACK,
    DRAIN,
    OUTPUT,
    PAUSE,
    PREFERENCES,
    PROBE_ANSWER,
    PROTOCOL_VERSION,
    RESUME,
    SCROLL_AT_CELL_PROTOCOL,
    TITLE,
    handshake_frame,
    input_frame,
    is_terminal_reply,
    parse_ack,
    parse_preferences,
    resize_frame,
    scroll_frame,
)
from .reconnect import ReconnectingSocket, ReconnectPolicy, State, Status, StopReason, TicketFetcher
from .wheel import Owner, Wheel, WheelAccumulator, WheelPolicy, wheel_owner

__all__ = [
    "ENDED_PANELS",
    "CaptionView",
    "EndedPanel",
    "FlowControl",
    "FlowPolicy",
    "Notice",
    "Pane",
    "RecordedKind",
    "ReplyGate",
    "TerminalPort",
    "Tone",
    "ViewPort",
    "caption_refresh_ms",
    "caption_view",
    "dropped_notice",
    "uncertain_notice",
]

# A window resize fires many events while the user drags; one fit and one resize frame after they settle. 100 ms is
# below what a user notices and above the ~16 ms between drag events.
RESIZE_DEBOUNCE_MS = 100.0

# Shortest wait between two caption refreshes: a timer that fires a hair early must not spin.
MIN_CAPTION_TICK_MS = 16.0

# Full reset (RIS), written in-band so it lands after any output of an older connection still queued in xterm.
FULL_RESET = "\x1bc"

# The hand-over from the page's preview (web/preboot.js) to the live screen: the first open's reset and its output are
# held (the preview stays) until the output has been quiet for HANDOVER_QUIET_MS, at most HANDOVER_MAX_MS after the
# open, then written together, so xterm draws the preview, then tmux's repaint, and no cleared screen in between.
# tmux writes its attach-time setup (alternate screen, clear) and its redraw within ~2 ms, but they may arrive in
# separate frames: on a loaded machine the cleared screen showed for ~3 frames (50-150 ms) without the hold.
HANDOVER_QUIET_MS = 32.0
HANDOVER_MAX_MS = 250.0
# ... or until tmux says its redraw is complete, whichever comes first: tmux draws a client's whole screen (panes,
# borders, status line) as one synchronized update, whose end marks the repaint done, without waiting for the quiet
# (~32 ms off the first prompt). The end of a synchronized update as tmux writes it for a client with the `sync`
# feature (livepane_server/tmux.py CLIENT_FEATURES): tmux 3.3's DCS form, and DECRST 2026 of later versions. A tmux
# (or a terminal server behind --upstream) that writes neither still hands over once quiet.
REDRAW_ENDS = (b"\x1bP=2s\x1b\\", b"\x1b[?2026l")
_REDRAW_END_TAIL = max(len(end) for end in REDRAW_ENDS) - 1  # a marker may be split across two output frames
# The hand-over's reset is a soft one (DECSTR: modes and attributes, not the buffers). The preview's terminal has no
# older connection's state to clear (preboot painted rows and moved the cursor), and tmux's repaint switches to the
# alternate screen and clears it itself; a full reset rebuilds xterm's buffers, which on a loaded machine took longer
# than xterm's 12 ms parse slice, so the cleared screen was drawn before the repaint was parsed.
HANDOVER_RESET = "\x1b[!p"


class RecordedKind(enum.StrEnum):
    """What web/preboot.js recorded of a preview's input: which xterm event it came from."""

    DATA = "data"  # onData: keys, pastes (and the terminal's own replies)
    BINARY = "binary"  # onBinary: mouse reports in legacy encodings


# --------------------------------------------------------------------------------------------------------------------
# Caption


class Tone(enum.Enum):
    QUIET = "quiet"  # connecting, or the quiet first retry
    WARN = "warn"  # counting down to the next attempt
    ERROR = "error"  # closed for good


@dataclass(frozen=True)
class CaptionView:
    """What the pane's corner caption shows, and whether the screen behind it is stale."""

    visible: bool
    text: str = ""
    retry_button: bool = False
    tone: Tone = Tone.QUIET
    # The screen is not live (not open, or the browser is offline): the page dims it but keeps it readable.
    stale: bool = False


OFFLINE_TEXT = "offline: waiting for the network…"
RESTARTING_TEXT = "server restarting…"


def _seconds_left(status: Status, now_ms: float) -> int | None:
    if status.retry_at_ms is None:
        return None
    return max(1, math.ceil((status.retry_at_ms - now_ms) / 1000))


def _held(text: str, held_inputs: int) -> str:
    if held_inputs <= 0:
        return text
    return f"{text} · {held_inputs} {'key' if held_inputs == 1 else 'keys'} waiting"


def caption_view(status: Status, now_ms: float, *, has_opened: bool) -> CaptionView:
    """The caption for a machine status; the first row that matches wins.

    | status | caption | tone | "retry now" |
    | --- | --- | --- | --- |
    | open, online | hidden | | |
    | closed | the machine's message | error | |
    | offline (the browser says so) | "offline: waiting for the network…" | warn | |
    | restarting (the 1012 window) | "server restarting…", steady: no countdown while the retries are fast | quiet | |
    | connecting | "Connecting…" before the first open, "Reconnecting…" after (the quiet first retry) | quiet | |
    | reconnecting, retry armed | "reconnecting in N s…", counted down on the machine's clock | warn | yes |
    | reconnecting, attempt in flight | "reconnecting…" | warn | |

    Keys typed meanwhile and waiting to be sent are counted at the end: "… · 3 keys waiting". Every caption that is
    up marks the screen stale (dimmed).
    """
    state = status.state
    if state is State.OPEN and not status.offline:
        return CaptionView(visible=False)
    if state is State.CLOSED:
        return CaptionView(visible=True, text=status.message or "closed", tone=Tone.ERROR, stale=True)
    held = status.held_inputs
    if status.offline:
        return CaptionView(visible=True, text=_held(OFFLINE_TEXT, held), tone=Tone.WARN, stale=True)
    if status.restarting:
        return CaptionView(visible=True, text=_held(RESTARTING_TEXT, held), stale=True)
    if state is State.CONNECTING:
        return CaptionView(visible=True, text=_held("Reconnecting…" if has_opened else "Connecting…", held), stale=True)
    seconds = _seconds_left(status, now_ms)
    if seconds is None:  # an attempt is in flight: retry_now() would do nothing, so no button
        return CaptionView(visible=True, text=_held("reconnecting…", held), tone=Tone.WARN, stale=True)
    text = _held(f"reconnecting in {seconds} s…", held)
    return CaptionView(visible=True, text=text, retry_button=True, tone=Tone.WARN, stale=True)


def caption_refresh_ms(status: Status, now_ms: float) -> float | None:
    """How long until the caption's countdown text changes; ``None`` when it will not change by itself."""
    if status.state is not State.RECONNECTING or status.retry_at_ms is None or status.offline or status.restarting:
        return None
    seconds = _seconds_left(status, now_ms)
    if seconds is None or seconds <= 1:
        return None  # "1 s" stays until the attempt starts, which publishes a new status
    remaining = status.retry_at_ms - now_ms
    return max(MIN_CAPTION_TICK_MS, remaining - (seconds - 1) * 1000)


# --------------------------------------------------------------------------------------------------------------------
# Endings and notices


@dataclass(frozen=True)
class EndedPanel:
    """What the page shows when a session is gone: the text and the button that brings it back."""

    text: str
    action: str  # the button's label; either way it is POST api/sessions/<id>, then a fresh pane


# Stop reasons after which the pane offers to bring the session back instead of showing a dead terminal.
ENDED_PANELS: dict[StopReason, EndedPanel] = {
    StopReason.SESSION_ENDED: EndedPanel("session ended", "Relaunch"),
    StopReason.NO_SUCH_SESSION: EndedPanel("no such session", "Create it"),
}


@dataclass(frozen=True)
class Notice:
    """A line in the pane's header about input, shown for ``duration_ms``."""

    text: str
    duration_ms: float


# A notice about input not sent stays long enough to read twice; one about input that may not have arrived stays
# longer: the user has to look at the screen and decide whether to type it again.
DROPPED_NOTICE_MS = 6000
UNCERTAIN_NOTICE_MS = 20_000

# How much of the uncertain input the notice quotes: a line of typing, not a whole paste.
UNCERTAIN_QUOTE_CHARS = 60

# Control characters as the user typed them: Enter as ⏎, Tab as ⇥, the rest as ^X (caret notation).
_VISIBLE_CONTROLS = {"\r": "⏎", "\n": "⏎", "\t": "⇥", "\x1b": "⎋", "\x7f": "⌫"}


def _visible(text: str) -> str:
    return "".join(_VISIBLE_CONTROLS.get(ch) or (f"^{chr(ord(ch) + 64)}" if ord(ch) < 32 else ch) for ch in text)


def uncertain_notice(data: bytes) -> Notice:
    """Input the connection may or may not have delivered (it dropped before the server confirmed it)."""
    text = _visible(data.decode("utf-8", "replace"))
    if len(text) > UNCERTAIN_QUOTE_CHARS:
        text = text[: UNCERTAIN_QUOTE_CHARS - 1] + "…"
    return Notice(f"may not have arrived: “{text}” (check the screen)", UNCERTAIN_NOTICE_MS)


def dropped_notice(nbytes: int, why: str) -> Notice:
    """Input the pane refused to send (too much typed while not open, or the session is gone)."""
    return Notice(f"{nbytes} bytes of typing not sent: {why}", DROPPED_NOTICE_MS)


# --------------------------------------------------------------------------------------------------------------------
# Terminal replies


class ReplyGate:
    """Whether a terminal reply may go out now.

    xterm.js answers the queries it parses (tmux asks for device attributes on every attach) through the same
    ``onData`` event as keystrokes. A reply belongs to the connection whose output asked. Output is parsed
    asynchronously, in write order, so when a new connection opens, xterm may still be parsing output of the old one:
    its replies would reach the new tmux client, which types them into the shell ("0;276;0c" at the prompt).

    So on every open the pane writes a barrier (an in-band reset with a write callback) before any output of the new
    connection. Replies are let through only while connected and after every barrier issued so far has been parsed.
    """

    def __init__(self) -> None:
        self._issued = 0
        self._passed = 0
        self._connected = False

    def opened(self) -> None:
        """A connection opened; the caller writes one barrier whose callback calls :meth:`barrier_parsed`."""
        self._issued += 1
        self._connected = True

    def barrier_parsed(self) -> None:
        self._passed = min(self._passed + 1, self._issued)

    def lost(self) -> None:
        self._connected = False

    @property
    def is_open(self) -> bool:
        return self._connected and self._passed == self._issued


# --------------------------------------------------------------------------------------------------------------------
# Flow control


@dataclass(frozen=True)
class FlowPolicy:
    """Flow control numbers, after ttyd (which pauses at 10 and resumes at 4 unparsed callbacks of 100 kB each)."""

    # One write callback per this many bytes: a callback per frame would cost a JS→Python call per message.
    ack_every_bytes: int = 32 * 1024
    # Pause the server above this much unparsed output. xterm parses ~5 MB/s with the DOM renderer here, so 512 KiB is
    # ~0.1 s of backlog: Ctrl-C still feels immediate during a flood.
    high_water_bytes: int = 512 * 1024
    # Resume below this. Must exceed ack_every_bytes, else an unacknowledged tail could keep the server paused.
    low_water_bytes: int = 128 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.ack_every_bytes < self.low_water_bytes < self.high_water_bytes:
            raise ValueError("need 0 < ack_every_bytes < low_water_bytes < high_water_bytes")


class FlowControl:
    """Counts output handed to xterm and not yet parsed; says when to send PAUSE and RESUME.

    Usage: for each output frame, ``want_callback, frame = flow.written(n)``; write with a callback if asked; send
    ``frame`` if not ``None``. Each write callback calls :meth:`parsed`, which may return RESUME. Callbacks fire in
    write order, so each acknowledges the oldest outstanding chunk.
    """

    def __init__(self, policy: FlowPolicy | None = None) -> None:
        self.policy = policy or FlowPolicy()
        self.pending_bytes = 0
        self.paused = False
        self.pauses = 0  # PAUSE frames sent, over the pane's life
        self._tail_bytes = 0  # written since the last write that carries a callback
        self._chunks: deque[int] = deque()  # bytes acknowledged by each outstanding callback, oldest first

    def written(self, nbytes: int) -> tuple[bool, bytes | None]:
        self.pending_bytes += nbytes
        self._tail_bytes += nbytes
        want_callback = self._tail_bytes >= self.policy.ack_every_bytes
        if want_callback:
            self._chunks.append(self._tail_bytes)
            self._tail_bytes = 0
        if not self.paused and self.pending_bytes > self.policy.high_water_bytes:
            self.paused = True
            self.pauses += 1
            return want_callback, PAUSE
        return want_callback, None

    def parsed(self) -> bytes | None:
        if self._chunks:
            self.pending_bytes -= self._chunks.popleft()
        if self.paused and self.pending_bytes < self.policy.low_water_bytes:
            self.paused = False
            return RESUME
        return None

    def connection_opened(self) -> None:
        """A new server connection starts unpaused; the backlog in xterm is still real and still counted."""
        self.paused = False


# --------------------------------------------------------------------------------------------------------------------
# Resize


# --------------------------------------------------------------------------------------------------------------------
# The pane


class TerminalPort(Protocol):
    """What the pane needs from a terminal (xterm.js in the browser)."""

    def write(self, payload: Any, with_callback: bool) -> None:
        """Queue output; if ``with_callback``, call the pane's ``on_parsed`` once it is parsed."""

    def write_barrier(self, data: str) -> None:
        """Queue ``data``; call the pane's ``on_barrier`` once it is parsed."""

    def write_together(self, chunks: list[tuple[Any, bool]]) -> None:
        """Queue these outputs as one (xterm parses one write without drawing in its middle); call ``on_parsed``
        once for each ``(payload, True)`` after it is parsed."""

    def fit(self) -> tuple[int, int]:
        """Fit the terminal to its container (the pane's ``on_resize`` hears of a change); return (columns, rows)."""


class ViewPort(Protocol):
    """What the pane needs from the page around its terminal."""

    def show_status(self, status: Status, opens: int) -> None: ...
    def show_caption(self, caption: CaptionView) -> None: ...
    def show_title(self, title: str) -> None: ...
    def show_notice(self, notice: Notice) -> None: ...


@dataclass
class PaneStats:
    """Counters the page exposes for tests and benchmarks."""

    opens: int = 0
    replies_sent: int = 0
    replies_dropped: int = 0
    output_bytes: int = 0
    input_dropped_bytes: int = 0
    input_uncertain_bytes: int = 0  # sent, then the connection broke before the server acknowledged it
    scroll_frames: int = 0  # SCROLL frames sent (the wheel, with tmux's mouse off)
    scrolled_lines: int = 0  # lines they asked for, up and down alike


class Pane:
    """One session's terminal, its connection and its caption.

    Args:
        session: the tmux session id.
        terminal, view: the ports above.
        split_frame: ``split_frame(data) -> (kind, payload, nbytes)`` for a server message: ``kind`` is the first
            byte; for output, ``payload`` goes to ``terminal.write`` untouched (a view in the browser); for the title
            and preferences it is the decoded text.
        open_socket, set_timeout, clear_timeout, now_ms, random, get_ticket, first_ticket, policy: passed to the
            reconnect machine (``first_ticket``: the one the page carried for this pane, if it is still good).
        on_ended: called (later, from a timer) with the pane and its :class:`EndedPanel` when the session is gone, so
            the page can offer a relaunch (or to create it) and unmount the pane.
        payload_bytes: an output payload's bytes (in the browser a copy out of its view); read only while the first
            open's hand-over holds its output (:data:`REDRAW_ENDS`).
    """

    def __init__(
        self,
        *,
        session: str,
        terminal: TerminalPort,
        view: ViewPort,
        split_frame: Callable[[Any], tuple[int, Any, int]],
        open_socket: Callable[[str | None], Any],
        set_timeout: Callable[[Callable[[], None], float], Any],
        clear_timeout: Callable[[Any], None],
        now_ms: Callable[[], float],
        random: Callable[[], float] = _random.random,
        get_ticket: TicketFetcher | None = None,
        policy: ReconnectPolicy | None = None,
        flow_policy: FlowPolicy | None = None,
        wheel_policy: WheelPolicy | None = None,
        on_ended: Callable[[Pane, EndedPanel], None] | None = None,
        log: Callable[[str], None] | None = None,
        first_ticket: str | None = None,
        preview_shown: bool = False,
        payload_bytes: Callable[[Any], bytes] = bytes,
    ) -> None:
        self.session = session
        self.terminal = terminal
        self.view = view
        self._split_frame = split_frame
        self._set_timeout = set_timeout
        self._clear_timeout = clear_timeout
        self._now_ms = now_ms
        self._on_ended = on_ended
        self.stats = PaneStats()
        self.gate = ReplyGate()
        self.flow = FlowControl(flow_policy)
        self.wheel = WheelAccumulator(wheel_policy)
        self.disposed = False
        self._sent_size: tuple[int, int] | None = None
        self._opening = False  # inside on_open: the handshake must be the socket's first frame
        self._caption_tick = OneShotTimer(set_timeout, clear_timeout, self._refresh_caption)
        self._ended_timer = OneShotTimer(set_timeout, clear_timeout, self._ended)
        self._resize = OneShotTimer(set_timeout, clear_timeout, self.fit_now)  # re-armed by every request: a debounce
        # The terminal shows the page's preview: the first open hands over from it (HANDOVER_*).
        self._preview_shown = preview_shown
        self._held: list[tuple[Any, bool]] | None = None  # the first open's output while its hand-over holds it
        self._held_until_ms = 0.0
        self._held_tail = b""  # the held output's last bytes: a redraw's end split between two frames
        self._payload_bytes = payload_bytes
        self._handover = OneShotTimer(set_timeout, clear_timeout, self._end_handover)
        extra = {"log": (lambda message: log(f"[{session}] {message}"))} if log is not None else {}
        self.machine = ReconnectingSocket(
            open_socket=open_socket,
            set_timeout=set_timeout,
            clear_timeout=clear_timeout,
            now_ms=now_ms,
            random=random,
            policy=policy,
            get_ticket=get_ticket,
            handshake=self._handshake,
            on_state=self._on_state,
            on_open=self._on_open,
            on_message=self.on_message,
            on_input_dropped=self._on_input_dropped,
            on_input_uncertain=self._on_input_uncertain,
            first_ticket=first_ticket,
            **extra,
        )

    @property
    def status(self) -> Status:
        return self.machine.status

    # ----------------------------------------------------------------------------------------------------------------
    # Commands (from the page)

    def start(self) -> None:
        self.machine.start()  # publishes its first status at once

    def retry_now(self) -> None:
        self.machine.retry_now()

    def set_online(self, online: bool) -> None:
        """The browser's ``online``/``offline`` events (and ``navigator.onLine`` at start)."""
        self.machine.set_online(online)

    def request_fit(self) -> None:
        """The container changed size: fit (and tell the server) once the changes settle."""
        if not self.disposed:
            self._resize.arm(RESIZE_DEBOUNCE_MS)

    def fit_now(self) -> None:
        if not self.disposed:
            self.terminal.fit()

    def dispose(self) -> None:
        """Unmount: the machine's one intentional close, and every timer cancelled. A second call does nothing."""
        if self.disposed:
            return
        self.disposed = True
        try:
            self.machine.close()
        finally:
            self._resize.cancel()
            self._caption_tick.cancel()
            self._ended_timer.cancel()
            self._handover.cancel()

    # ----------------------------------------------------------------------------------------------------------------
    # Terminal events

    def on_data(self, data: str) -> None:
        """xterm's ``onData``: keystrokes and pastes are held across a drop; terminal replies never are."""
        if is_terminal_reply(data):
            if self.gate.is_open and self.machine.send(input_frame(data), hold=False):
                self.stats.replies_sent += 1
            else:
                self.stats.replies_dropped += 1
            return
        self.machine.send(input_frame(data))

    def replay(self, recorded: Iterable[tuple[str, str]]) -> int:
        """Input typed into the page's preview before Python was up (web/preboot.js records xterm's ``onData`` and
        ``onBinary`` as ``(kind, data)``), once, in order, as if typed now: keys and pastes are held until the pane
        opens; terminal replies and mouse reports belong to a connection and are dropped as they always are. Call it
        before anything typed later reaches the pane. Returns how many events were replayed (unknown kinds skipped).
        """
        handlers = {RecordedKind.DATA: self.on_data, RecordedKind.BINARY: self.on_binary}
        replayed = 0
        for kind, data in recorded:
            handler = handlers.get(kind)
            if handler is not None and isinstance(data, str) and data:
                handler(data)
                replayed += 1
        return replayed

    def on_binary(self, data: str) -> None:
        """xterm's ``onBinary`` (mouse reports in legacy encodings): stale clicks are not worth replaying."""
        self.machine.send(input_frame(data.encode("latin-1")), hold=False)

    def on_resize(self, columns: int, rows: int) -> None:
        """xterm's ``onResize``. While down nothing is sent: the next handshake carries the size."""
        size = (int(columns), int(rows))
        if self._opening:
            return  # the fit in _on_open: the handshake carries this size
        if size != self._sent_size and self.machine.send(resize_frame(*size), hold=False):
            self._sent_size = size

    def on_wheel(self, wheel: Wheel) -> bool:
        """A wheel event over the terminal; returns whether xterm.js should handle it (see ``pyclient/wheel.py``).

        With tmux's mouse off the pane takes it: a SCROLL frame (``hold=False``: a scroll belongs to the screen the
        user is looking at, never replayed on a later connection) once whole lines have built up."""
        owner = wheel_owner(wheel, connected=self.gate.is_open, server_protocol=self.machine.server_protocol)
        if owner is Owner.XTERM:
            return True
        if owner is Owner.LIVEPANE:
            lines = self.wheel.lines(wheel)
            server = self.machine.server_protocol or 0
            cell = wheel.cell if server >= SCROLL_AT_CELL_PROTOCOL else None  # an older server closes 4400 on one
            if lines and self.machine.send(scroll_frame(lines, cell), hold=False):
                self.stats.scroll_frames += 1
                self.stats.scrolled_lines += abs(lines)
        return False

    def on_parsed(self) -> None:
        """A write callback: xterm parsed the oldest outstanding chunk."""
        frame = self.flow.parsed()
        if frame is not None:
            self.machine.send(frame, hold=False)

    def on_barrier(self) -> None:
        self.gate.barrier_parsed()

    # ----------------------------------------------------------------------------------------------------------------
    # Machine events

    def on_message(self, data: Any) -> None:
        """A server frame: output to the terminal; title, preferences, acks, drains and probe answers to their owners.
        (Every frame already told the machine the link is alive; a probe answer has nothing more to say.)"""
        kind, payload, nbytes = self._split_frame(data)
        if kind == OUTPUT:
            if nbytes == 0:
                return  # keepalive: it already fed the machine's watchdog
            if self.machine.server_protocol is None:
                self.machine.set_server_protocol(0)  # output before any preferences: not a livepane server
            self.stats.output_bytes += nbytes
            want_callback, frame = self.flow.written(nbytes)
            if self._held is None:
                self.terminal.write(payload, want_callback)
            else:
                self._hold(payload, want_callback)
            if frame is not None:
                self.machine.send(frame, hold=False)
        elif kind == ACK:
            count = parse_ack(payload)
            if count is not None:
                self.machine.ack(count)
        elif kind == TITLE:
            self.view.show_title(payload)
        elif kind == PREFERENCES:
            prefs = parse_preferences(payload)
            self.machine.set_server_protocol(prefs.protocol)
            if prefs.keepalive_ms is not None:
                self.machine.expect_keepalive(prefs.keepalive_ms)
        elif kind == DRAIN:
            self.machine.drain()  # a restart: input on this connection ends here; what follows waits for the next
        elif kind == PROBE_ANSWER:
            pass

    def _handshake(self) -> bytes:
        """A socket opened: the handshake is its first frame and carries the terminal's size (fit first)."""
        self._opening = True
        try:
            columns, rows = self.terminal.fit()
        finally:
            self._opening = False
        self._sent_size = (columns, rows)
        return handshake_frame(columns, rows, protocol=PROTOCOL_VERSION)

    def _on_open(self) -> None:
        """The terminal answered: a fresh screen for tmux's full repaint, before any of its output. Focus is left
        alone."""
        self.flow.connection_opened()
        self.gate.opened()
        self.stats.opens += 1
        self._end_handover()  # an open before the previous one's hand-over ended: that screen goes out first
        if self._preview_shown:
            self._preview_shown = False
            self._held = []
            self._held_until_ms = self._now_ms() + HANDOVER_MAX_MS
            self._handover.arm(HANDOVER_QUIET_MS)
            return
        self.terminal.write_barrier(FULL_RESET)

    def _hold(self, payload: Any, with_callback: bool) -> None:
        assert self._held is not None
        self._held.append((payload, with_callback))
        seen = self._held_tail + self._payload_bytes(payload)
        if any(end in seen for end in REDRAW_ENDS):
            self._end_handover()  # tmux's repaint is complete: it replaces the preview now
            return
        self._held_tail = seen[-_REDRAW_END_TAIL:]
        self._handover.arm(min(HANDOVER_QUIET_MS, max(0.0, self._held_until_ms - self._now_ms())))

    def _end_handover(self) -> None:
        """The held reset, then the held output, in order, at once: xterm parses and draws them together."""
        self._handover.cancel()
        held, self._held = self._held, None
        self._held_tail = b""
        if held is None:
            return
        self.terminal.write_barrier(HANDOVER_RESET)
        if held:
            self.terminal.write_together(held)

    def _on_input_uncertain(self, data: bytes) -> None:
        """Typed input that was sent but may not have arrived (the link broke before the server acknowledged it):
        quoted in a notice, never resent."""
        self.stats.input_uncertain_bytes += len(data)
        self.view.show_notice(uncertain_notice(data))

    def _on_state(self, status: Status) -> None:
        if status.state is not State.OPEN:
            self.gate.lost()
        self.view.show_status(status, self.stats.opens)
        self._refresh_caption()
        if status.state is State.CLOSED and status.stop_reason in ENDED_PANELS and not self._ended_timer.armed:
            # Not from inside the socket's close handler: the page will unmount this pane and destroy its proxies.
            self._ended_timer.arm(0)

    def _ended(self) -> None:
        reason = self.machine.status.stop_reason
        panel = ENDED_PANELS.get(reason) if reason is not None else None
        if self._on_ended is not None and not self.disposed and panel is not None:
            self._on_ended(self, panel)

    def _on_input_dropped(self, nbytes: int, why: str) -> None:
        self.stats.input_dropped_bytes += nbytes
        self.view.show_notice(dropped_notice(nbytes, why))

    # ----------------------------------------------------------------------------------------------------------------
    # Caption countdown

    def _refresh_caption(self) -> None:
        self._caption_tick.cancel()
        if self.disposed:
            return
        status, now = self.machine.status, self._now_ms()
        self.view.show_caption(caption_view(status, now, has_opened=self.stats.opens > 0))
        delay = caption_refresh_ms(status, now)
        if delay is not None:
            self._caption_tick.arm(delay)
