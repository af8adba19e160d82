"""A socket's SCROLL requests (protocol 3, docs/protocol.md §2): scroll the session's active pane in tmux.

Rules:
- What to run is decided by one table (:func:`scroll_command`) from the pane's state, read from tmux just before.
  With the pane in copy mode: scroll it. An app in the alternate screen (vim, less) or another tmux mode: Up/Down
  keys, as a terminal's wheel does there. A shell: copy mode with ``-e`` (it exits at the bottom, as tmux's own wheel
  binding does), then scroll; down at the live screen does nothing.
- Requests are summed while a tmux command runs, so a burst of wheel events (a trackpad's) costs a few tmux runs,
  one at a time, never a queue of them. The sum is clamped to MAX_SCROLL_LINES.
- tmux's own commands only (``copy-mode``, ``send-keys -X``): nothing depends on the user's key bindings or prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pyclient.protocol import MAX_SCROLL_LINES

from .tmux import Tmux

log = logging.getLogger("livepane")

# Read from the pane before each scroll: id, mode (empty outside a mode), whether its app is in the alternate screen.
PANE_STATE_FORMAT = "#{pane_id}\t#{pane_mode}\t#{alternate_on}"
# Modes that take copy mode's commands (`send-keys -X`): copy mode and its read-only twin (`run-shell` output).
COPY_MODES = frozenset({"copy-mode", "view-mode"})


@dataclass(frozen=True)
class PaneState:
    pane_id: str  # "%3": commands target the pane that was read, even if another becomes active meanwhile
    mode: str  # "" outside a mode
    alternate_screen: bool

    @classmethod
    def parse(cls, line: str) -> PaneState | None:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or not fields[0].startswith("%"):
            return None
        return cls(fields[0], fields[1], fields[2] == "1")


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
        self._task: asyncio.Task[None] | None = None

    def request(self, lines: int) -> None:
        self.pending = max(-MAX_SCROLL_LINES, min(MAX_SCROLL_LINES, self.pending + lines))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.pending:
            status, out = await self.tmux.run("display-message", "-p", "-t", f"={self.session_id}:", PANE_STATE_FORMAT)
            lines, self.pending = self.pending, 0
            state = PaneState.parse(out) if status == 0 else None
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
