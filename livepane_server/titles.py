"""The title of each attached session's active pane, asked of tmux (one command a second for every session) and
handed to the bridges that show those sessions.

Why the server asks: tmux passes a pane's title (OSC 0/2) on to its clients only with `set-titles on`, a session
option: turning it on would retitle every other terminal attached to that session, on the user's own server too.
So livepane's tmux clients never get titles, and the server reads `#{pane_title}` itself (docs/architecture.md,
"Titles and bell").

Rules:
- One poll loop for the whole tmux server, running only while some bridge watches a session.
- A watcher gets the current title at once, then each change; titles are tmux's, never parsed from pane output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("livepane")

# How often tmux is asked. tmux itself refreshes its status line (where it shows the title) every 15 s by default
# (status-interval); a second is as quick as a person reads a title, for one `tmux list-sessions` (~3 ms) a second.
TITLE_POLL_S = 1.0

# What the header shows for a session: the active pane's title, or its window's name (the running command, with
# tmux's automatic-rename) while the title is tmux's default, the host name.
TITLE_FORMAT = "#{session_name}\t#{?#{==:#{pane_title},#{host}},#{window_name},#{pane_title}}"


class TitleWatcher:
    """Titles of tmux sessions, polled while watched."""

    def __init__(self, run: Callable[..., Awaitable[tuple[int, str]]], interval_s: float = TITLE_POLL_S) -> None:
        self._run = run  # Tmux.run: (exit status, stdout)
        self._interval_s = interval_s
        self._titles: dict[str, str] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def titles(self, session_id: str) -> AsyncIterator[str]:
        """The session's title now (once known), then each new one, until the caller stops iterating."""
        changed = asyncio.Event()
        self._waiters.setdefault(session_id, set()).add(changed)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        last: str | None = None
        try:
            while True:
                title = self._titles.get(session_id)
                if title is not None and title != last:
                    last = title
                    yield title
                changed.clear()
                await changed.wait()
        finally:
            waiters = self._waiters.get(session_id, set())
            waiters.discard(changed)
            if not waiters:
                self._waiters.pop(session_id, None)
                self._titles.pop(session_id, None)

    async def _poll(self) -> None:
        # Ends by itself once nobody watches (never cancelled mid-command: a tmux child is always waited for).
        while self._waiters:
            with contextlib.suppress(OSError):
                status, out = await self._run("list-sessions", "-F", TITLE_FORMAT)
                if status == 0:
                    self._update(out)
            await asyncio.sleep(self._interval_s)

    def _update(self, out: str) -> None:
        for line in out.splitlines():
            session_id, _, title = line.partition("\t")
            if session_id in self._waiters and self._titles.get(session_id) != title:
                self._titles[session_id] = title
                for changed in self._waiters[session_id]:
                    changed.set()
