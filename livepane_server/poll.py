"""The one poll of tmux's session list: one ``tmux list-sessions`` per interval serves every room that watches it.

Two rooms watch the list: the session bar's long poll (livepane_server/sessions.py: ids, attached counts, liveness)
and the pane titles (livepane_server/titles.py). One command with one format carries what both need
(tmux.SESSIONS_FORMAT), so a page watching its bar and showing panes costs one tmux command per interval, not two.

Rules:
- One poll loop per tmux server, running while anyone listens, stopping (after its interval) once nobody does.
- A listener gets every poll's rows, from the poll loop, until it stops listening; one that joins a running poll gets
  its last rows at once (at most one interval old), one that starts it gets the first poll's.
- A failing poll (tmux missing, a bug) is logged and the loop goes on: listeners keep what they had.
- A tmux command is never cancelled mid-run (its process would be reaped after the loop is gone): ``close()`` lets it
  finish within CLOSE_WAIT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("livepane")

# How often tmux is asked while anyone listens: a session made or killed shows in the bar, and a title in the pane's
# header, within about a second (as quick as a person reads it; tmux refreshes its own status line, where it shows the
# title, every 15 s by default), for one `tmux list-sessions` (~3 ms) a second.
POLL_INTERVAL_S = 1.0
# close() lets a `tmux list-sessions` in flight finish (~5 ms) for this long: well inside the shutdown's 0.6 s.
CLOSE_WAIT_S = 0.2


@dataclass(frozen=True)
class SessionRow:
    """What one poll says of one session (one line of tmux.SESSIONS_FORMAT)."""

    id: str
    attached: int  # tmux clients attached (ours and anyone's)
    width: int  # the current window's size
    height: int
    alive: bool  # its active pane's process runs (a dead pane stays with remain-on-exit)
    title: str  # what the pane header shows (titles.TITLE_FORMAT)

    def listing_entry(self) -> dict[str, object]:
        """The session as GET /api/sessions lists it (docs/protocol.md §1)."""
        return {
            "id": self.id, "attached": self.attached, "width": self.width, "height": self.height, "alive": self.alive
        }


Rows = list[SessionRow]
Listener = Callable[[Rows], None]


class SessionPoll:
    """The session list, asked of tmux (``fetch``) once per interval while anyone listens."""

    def __init__(self, fetch: Callable[[], Awaitable[Rows]], interval_s: float = POLL_INTERVAL_S) -> None:
        self._fetch = fetch
        self.interval_s = interval_s
        self._listeners: list[Listener] = []
        self._rows: Rows | None = None  # the running loop's last poll (None before its first)
        self._first: asyncio.Future[None] | None = None  # done once the running loop's first poll was handed out
        self._poller: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._closed = False
        self.polls = 0  # tmux commands run for listeners (tests: one per interval, whatever the number of listeners)

    def listen(self, on_rows: Listener) -> asyncio.Future[None]:
        """``on_rows`` gets every poll's rows until ``unlisten``; the future is done once it has had rows at most one
        interval old (at once when the poll runs already), or the poll ended without any (close, a failing tmux)."""
        loop = asyncio.get_running_loop()
        if self._closed:
            done = loop.create_future()
            done.set_result(None)
            return done
        self._listeners.append(on_rows)
        if self._poller is None or self._poller.done():
            self._rows = None
            self._first = loop.create_future()
            self._poller = asyncio.create_task(self._poll())
        elif self._rows is not None:
            on_rows(self._rows)
        assert self._first is not None
        return self._first

    def unlisten(self, on_rows: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(on_rows)

    async def fetch(self) -> Rows:
        """A fresh listing now, outside the loop (not counted in ``polls``)."""
        return await self._fetch()

    async def _poll(self) -> None:
        first = self._first
        try:
            while not self._closed:
                try:
                    rows = await self._fetch()
                except Exception:  # a failing tmux must not end the poll: listeners keep what they had
                    log.exception("polling tmux's session list failed")
                else:
                    self.polls += 1
                    self._rows = rows
                    for on_rows in list(self._listeners):
                        on_rows(rows)
                if first is not None and not first.done():
                    first.set_result(None)
                with contextlib.suppress(TimeoutError):  # the interval, or close()
                    await asyncio.wait_for(self._stop.wait(), self.interval_s)
                if not self._listeners:
                    return  # nobody listens: no more tmux commands until someone does
        finally:
            self._rows = None
            if first is not None and not first.done():
                first.set_result(None)

    async def close(self) -> None:
        """Stop polling (the server's shutdown): a tmux command in flight may finish within CLOSE_WAIT_S."""
        self._closed = True
        self._stop.set()
        if self._poller is not None and not self._poller.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._poller), CLOSE_WAIT_S)
            except TimeoutError:
                self._poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._poller
