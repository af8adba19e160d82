"""The title of each attached session's active pane, asked of tmux (livepane_server/poll.py's one poll, shared with
the session bar) and handed to the bridges that show those sessions.

Why the server asks: tmux passes a pane's title (OSC 0/2) on to its clients only with `set-titles on`, a session
option: turning it on would retitle every other terminal attached to that session, on the user's own server too.
So livepane's tmux clients never get titles, and the server reads `#{pane_title}` itself (docs/architecture.md,
"Titles and bell").

Rules:
- The titles ride on the session poll (one `tmux list-sessions` per interval for the whole tmux server, the bar's
  too), listened to only while some bridge watches a session.
- A watcher gets the current title at once (once known), then each change; titles are tmux's, never parsed from
  pane output.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .poll import Rows, SessionPoll

# What the header shows for a session: the active pane's title, or its window's name (the running command, with
# tmux's automatic-rename) while the title is tmux's default, the host name. One field of tmux.SESSIONS_FORMAT.
TITLE_FORMAT = "#{?#{==:#{pane_title},#{host}},#{window_name},#{pane_title}}"


class TitleWatcher:
    """Titles of tmux sessions, from the session poll while watched."""

    def __init__(self, poll: SessionPoll) -> None:
        self._poll = poll
        self._titles: dict[str, str] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}

    async def titles(self, session_id: str) -> AsyncIterator[str]:
        """The session's title now (once known), then each new one, until the caller stops iterating."""
        changed = asyncio.Event()
        first_watcher = not self._waiters
        self._waiters.setdefault(session_id, set()).add(changed)
        if first_watcher:
            self._poll.listen(self._update)  # a running poll hands its last rows over at once
        last: str | None = None
        try:
            while True:
                title = self._titles.get(session_id)
                if title is not None and title != last:
                    last = title
                    yield title
                    continue  # a change while the caller sent this one is looked at before waiting
                changed.clear()
                await changed.wait()
        finally:
            waiters = self._waiters.get(session_id, set())
            waiters.discard(changed)
            if not waiters:
                self._waiters.pop(session_id, None)
                self._titles.pop(session_id, None)
            if not self._waiters:
                self._poll.unlisten(self._update)

    def _update(self, rows: Rows) -> None:
        for row in rows:
            if row.id in self._waiters and self._titles.get(row.id) != row.title:
                self._titles[row.id] = row.title
                for changed in self._waiters[row.id]:
                    changed.set()
