"""The mouse wheel over a pane: who scrolls (xterm.js, tmux by itself, or tmux at livepane's request) and how far.

Rules of this file:

- Pure: no ``js``. The browser adapter reads a wheel event and the terminal's state into a :class:`Wheel` and asks
  :class:`~pyclient.pane.Pane` (which asks :func:`wheel_owner` and a :class:`WheelAccumulator`); it only translates.
- tmux runs in the alternate screen, which has no scrollback of its own in xterm.js. When tmux has not asked for
  mouse reports (its ``mouse`` option is off, the default), xterm.js turns the wheel into Up/Down arrow keys: the
  shell recalls old commands. livepane takes the wheel then and asks serve.py to scroll the pane in tmux's copy mode
  (a SCROLL frame, protocol 3, docs/protocol.md §2). When tmux asked for mouse reports, xterm.js reports the wheel
  and tmux scrolls by itself: livepane stays out of the way. docs/architecture.md, "Scrollback", says why.
- Where: the cell under the pointer (:func:`pointer_cell`) goes with the scroll to a server of protocol 4 or later,
  which scrolls the tmux pane under it (a split window's inactive pane too); an older server scrolls the active pane.
- Distances: a pixel delta is converted at one line per terminal row height (what the browser would scroll a page
  by); a line delta is lines; a page delta is the terminal's rows. What is not yet a whole line is kept (trackpads
  send many small deltas) until the direction changes.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .protocol import MAX_SCROLL_LINES, Cell

__all__ = [
    "SCROLL_HINT",
    "DeltaMode",
    "Owner",
    "Wheel",
    "WheelAccumulator",
    "WheelPolicy",
    "pointer_cell",
    "wheel_owner",
]

# What the pane's header says about the wheel and selecting (its title attribute); README.md's keys table says more.
SCROLL_HINT = (
    "Wheel: scroll back through tmux's history (copy mode; scroll down to the end, or press q, to return). "
    "Select text: drag; when tmux's mouse mode is on, Shift+drag."
)

# Scrolling at least this many protocol versions in: the server's SCROLL frame (docs/protocol.md §2).
SCROLL_PROTOCOL = 3


class DeltaMode(enum.IntEnum):
    """``WheelEvent.deltaMode``."""

    PIXEL = 0
    LINE = 1
    PAGE = 2

    @classmethod
    def of(cls, value: int) -> DeltaMode:
        """The mode a browser reported; one it should not report counts as pixels (the common case)."""
        try:
            return cls(value)
        except ValueError:
            return cls.PIXEL


class Owner(enum.Enum):
    """Who handles one wheel event."""

    XTERM = "xterm"  # xterm.js as it would: its own scrollback, or a mouse report to tmux, or (plain ttyd) arrows
    LIVEPANE = "livepane"  # the page takes it: a SCROLL frame to serve.py, which scrolls tmux's copy mode
    NOBODY = "nobody"  # the page takes it and sends nothing: no connection to scroll (never arrows into held input)


@dataclass(frozen=True)
class Wheel:
    """One wheel event and the terminal's state when it came."""

    delta_y: float  # WheelEvent.deltaY: negative is up (back into the history)
    delta_mode: DeltaMode = DeltaMode.PIXEL
    shift: bool = False
    ctrl: bool = False
    alt: bool = False
    meta: bool = False
    mouse_reports: bool = False  # tmux asked for mouse reports (xterm's ``modes.mouseTrackingMode`` is not "none")
    alternate_screen: bool = True  # xterm's active buffer is the alternate one (tmux draws there)
    row_height_px: float = 0.0  # one terminal row on the page, in CSS pixels (0: unknown)
    rows: int = 24
    cell: Cell | None = None  # the terminal cell under the pointer (None: unknown; the server scrolls the active pane)


@dataclass(frozen=True)
class WheelPolicy:
    # Alt+wheel scrolls this many times faster: xterm.js's fastScrollSensitivity default (5).
    fast_factor: float = 5.0
    # A row height to assume before the terminal has measured one: 14 px font × 1.1 line height (web/terminal.js).
    fallback_row_height_px: float = 15.4
    # At most this many lines per SCROLL frame (the server clamps to the same bound).
    max_lines: int = MAX_SCROLL_LINES


def pointer_cell(
    x_px: float, y_px: float, width_px: float, height_px: float, columns: int, rows: int
) -> Cell | None:
    """The cell under a point given from the top left of the terminal's screen (xterm's ``.xterm-screen``, whose size
    is exactly its cells'); None when nothing is measured yet. A point on the edge or a hair outside counts as the
    nearest cell (a wheel event is over the element, whatever rounding says)."""
    if columns <= 0 or rows <= 0 or not width_px > 0 or not height_px > 0:
        return None
    if not (math.isfinite(x_px) and math.isfinite(y_px)):
        return None
    column = min(columns - 1, max(0, math.floor(x_px * columns / width_px)))
    row = min(rows - 1, max(0, math.floor(y_px * rows / height_px)))
    return Cell(column, row)


def wheel_owner(wheel: Wheel, *, connected: bool, server_protocol: int | None) -> Owner:
    """Who handles a wheel event; the first row that matches wins.

    | situation | owner | why |
    | --- | --- | --- |
    | tmux asked for mouse reports (``mouse on``, or an app) | xterm | a mouse report: tmux scrolls (or tells the app) |
    | Shift, Ctrl or Meta held | xterm | horizontal scrolling, zoom: the browser's and xterm's |
    | xterm's normal buffer (no tmux screen on it) | xterm | xterm.js scrolls its own scrollback |
    | no open connection | nobody | nothing to scroll (xterm's arrows would be held as typing) |
    | the server cannot scroll (plain ttyd, protocol < 3) | xterm | arrows, as before |
    | otherwise (tmux, ``mouse off``) | livepane | a SCROLL frame: serve.py scrolls tmux's copy mode |
    """
    if wheel.mouse_reports or wheel.shift or wheel.ctrl or wheel.meta or not wheel.alternate_screen:
        return Owner.XTERM
    if not connected:
        return Owner.NOBODY
    if server_protocol is None or server_protocol < SCROLL_PROTOCOL:
        return Owner.XTERM
    return Owner.LIVEPANE


class WheelAccumulator:
    """Turns wheel deltas into whole lines, keeping the fraction between events (a trackpad's many small deltas)."""

    def __init__(self, policy: WheelPolicy | None = None) -> None:
        self.policy = policy or WheelPolicy()
        self._partial = 0.0  # lines scrolled and not yet sent, signed like the deltas

    def lines(self, wheel: Wheel) -> int:
        """Whole lines to scroll for this event (negative: up); 0 while only a fraction has built up."""
        if wheel.delta_mode is DeltaMode.PIXEL:
            row = wheel.row_height_px if wheel.row_height_px > 0 else self.policy.fallback_row_height_px
            amount = wheel.delta_y / row
        elif wheel.delta_mode is DeltaMode.LINE:
            amount = wheel.delta_y
        else:
            amount = wheel.delta_y * max(1, wheel.rows)
        if wheel.alt:
            amount *= self.policy.fast_factor
        if not math.isfinite(amount) or amount == 0:
            return 0
        if self._partial and (self._partial > 0) != (amount > 0):
            self._partial = 0.0  # the direction changed: what built up the other way is not owed any more
        self._partial += amount
        whole = math.trunc(self._partial)
        self._partial -= whole
        limit = self.policy.max_lines
        return max(-limit, min(limit, whole))

    def reset(self) -> None:
        self._partial = 0.0
