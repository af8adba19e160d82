"""A socket's SCROLL requests (protocol 3-4, docs/protocol.md §2): scroll a pane of the session's window in tmux:
the one under the wheel's cell (protocol 4), else the active one.

Rules:
- Which pane: one table (:func:`pane_under`) from the window's panes, read from tmux (one ``list-panes``) just
  before each scroll: the pane whose rectangle holds the cell, with tmux's status line rows above the window counted.
  No cell, a cell on a border or the status line, or a zoomed window (only one pane is drawn): the active pane.
- What to run is decided by one table (:func:`scroll_command`) from that pane's state, read in the same command.
  With the pane in copy mode: scroll it. An app in the alternate screen (vim, less) or another tmux mode: Up/Down
  keys, as a terminal's wheel does there. A shell: copy mode with ``-e`` (it exits at the bottom, as tmux's own wheel
  binding does), then scroll; down at the live screen does nothing. The pane is scrolled, never selected (as tmux's
  own wheel does): typing still goes to the active pane.
- Requests are summed while a tmux command runs, so a burst of wheel events (a trackpad's) costs a few tmux runs,
  one at a time, never a queue of them. The sum is clamped to MAX_SCROLL_LINES and goes to the latest request's cell.
- tmux's own commands only (``copy-mode``, ``send-keys -X``): nothing depends on the user's key bindings or prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pyclient.protocol import MAX_SCROLL_LINES, Cell

from .tmux import Tmux

log = logging.getLogger("livepane")

# Read from the session's current window before each scroll, one line per pane: id, mode (empty outside a mode),
# whether its app is in the alternate screen, whether it is the active pane, its rectangle in the window, and what
# places the window on the client's screen (zoomed; status line: on/off or a line count, top or bottom).
PANES_FORMAT = "\t".join(
    (
        "#{pane_id}", "#{pane_mode}", "#{alternate_on}", "#{pane_active}",
        "#{pane_left}", "#{pane_top}", "#{pane_width}", "#{pane_height}",
        "#{window_zoomed_flag}", "#{status}", "#{status-position}",
    )
)
# Modes that take copy mode's commands (`send-keys -X`): copy mode and its read-only twin (`run-shell` output).
COPY_MODES = frozenset({"copy-mode", "view-mode"})
# tmux's `status` option: how many lines the status line takes (a number 2-5 says itself).
STATUS_LINES = {"off": 0, "on": 1}


@dataclass(frozen=True)
class PaneState:
    pane_id: str  # "%3": commands target the pane that was read, even if another becomes active meanwhile
    mode: str  # "" outside a mode
    alternate_screen: bool


@dataclass(frozen=True)
class WindowPane:
    """One pane of the window as list-panes says it, with the window's place on the client's screen."""

    state: PaneState
    active: bool
    left: int  # the pane's rectangle in the window, in cells
    top: int
    width: int
    height: int
    zoomed: bool  # the window is zoomed: only the active pane is drawn
    rows_above: int  # status line rows above the window on the client's screen (status-position top)

    @classmethod
    def parse(cls, line: str) -> WindowPane | None:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 11 or not fields[0].startswith("%"):
            return None
        pane_id, mode, alternate, active, left, top, width, height, zoomed, status, position = fields
        try:
            geometry = [int(left), int(top), int(width), int(height)]
            status_lines = STATUS_LINES[status] if status in STATUS_LINES else int(status)
        except ValueError:
            return None
        return cls(
            PaneState(pane_id, mode, alternate == "1"),
            active == "1",
            *geometry,
            zoomed=zoomed == "1",
            rows_above=status_lines if position == "top" else 0,
        )

    def holds(self, cell: Cell) -> bool:
        row = cell.row - self.rows_above
        return self.left <= cell.column < self.left + self.width and self.top <= row < self.top + self.height


def pane_under(panes: list[WindowPane], cell: Cell | None) -> PaneState | None:
    """The pane a scroll at ``cell`` scrolls (None: the window has no pane tmux told of); the first row that matches:

    | the request | pane |
    | --- | --- |
    | no cell (a protocol-3 client) | the active pane |
    | the window is zoomed | the active pane (the only one drawn; the others keep their hidden rectangles) |
    | the cell is inside a pane's rectangle (status rows above the window counted) | that pane |
    | the cell is on a border, the status line, or outside the window | the active pane |
    """
    active = next((pane for pane in panes if pane.active), panes[0] if panes else None)
    if active is None:
        return None
    if cell is None or active.zoomed:
        return active.state
    under = next((pane for pane in panes if pane.holds(cell)), active)
    return under.state


def scroll_command(state: PaneState, lines: int) -> list[str] | None:
    """The tmux command (argv after ``tmux``) that scrolls ``state``'s pane ``lines`` lines (negative: up), or None.

    | pane | up | down |
    | --- | --- | --- |
    | in copy mode (or view mode) | `send-keys -X -N n scroll-up` | `send-keys -X -N n scroll-down` (1) |
    | in another mode (choose-tree, buffers) | `send-keys -N n Up` | `send-keys -N n Down` |
    | its app in the alternate screen (vim, less, htop) | `send-keys -N n Up` | `send-keys -N n Down` |
    | a shell | `copy-mode -e`, then `send-keys -X -N n scroll-up` | nothing: the live screen is the bottom |

    (1) copy mode entered with `-e` ends when the scroll reaches the bottom: the live prompt is back.
    """
    if lines == 0:
        return None
    count, target = str(min(abs(lines), MAX_SCROLL_LINES)), ["-t", state.pane_id]
    up = lines < 0
    if state.mode in COPY_MODES:
        return ["send-keys", *target, "-X", "-N", count, "scroll-up" if up else "scroll-down"]
    if state.mode or state.alternate_screen:
        return ["send-keys", *target, "-N", count, "Up" if up else "Down"]
    if not up:
        return None
    return ["copy-mode", "-e", *target, ";", "send-keys", *target, "-X", "-N", count, "scroll-up"]


class Scroller:
    """One socket's scroll requests for its session, run one tmux command at a time, summed meanwhile."""

    def __init__(self, tmux: Tmux, session_id: str) -> None:
        self.tmux = tmux
        self.session_id = session_id
        self.pending = 0  # lines asked for and not yet handed to tmux
        self.cell: Cell | None = None  # where the latest request's wheel was (None: the active pane)
        self._task: asyncio.Task[None] | None = None

    def request(self, lines: int, cell: Cell | None = None) -> None:
        self.pending = max(-MAX_SCROLL_LINES, min(MAX_SCROLL_LINES, self.pending + lines))
        self.cell = cell
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.pending:
            status, out = await self.tmux.run("list-panes", "-t", f"={self.session_id}:", "-F", PANES_FORMAT)
            lines, self.pending = self.pending, 0
            panes = [pane for line in out.splitlines() if (pane := WindowPane.parse(line))] if status == 0 else []
            state = pane_under(panes, self.cell)
            argv = scroll_command(state, lines) if state is not None else None
            if argv is None:
                continue
            status, _ = await self.tmux.run(*argv)
            if status:
                log.debug("session %s: scrolling %+d lines failed (tmux status %s)", self.session_id, lines, status)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
