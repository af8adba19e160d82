"""The session list and its watchers: ``GET /api/sessions?since=<etag>`` held until the list changes.

Rules:
- One poll of the list per interval for every watcher together, and for the pane titles too (livepane_server/poll.py:
  one ``tmux list-sessions``): 50 pages watching cost one tmux command per interval, not 50, and nobody watching costs
  nothing (the watch stops listening with its last watcher; the poll stops once nobody else listens either).
- A watcher is held until the listing's etag differs from its ``since``, or its deadline (``hold_s``): then it gets
  the listing as it is (the same etag means "nothing changed, ask again"). Past ``max_watchers`` the answer is 429
  with a reason; a malformed ``since`` is the handler's 400.
- The etag covers what the session bar shows (the default, each id, its attached count and liveness), not window
  sizes or titles: a resize or a new title wakes nobody.
- ``close()`` (the server's shutdown) answers every held watcher at once, so SIGTERM is not kept waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from .poll import Rows, SessionPoll

# What a watcher sends back: the etag of the listing it has (sha256, first 16 hex digits: a change detector, not a
# security boundary).
ETAG_RE = re.compile(r"\A[0-9a-f]{16}\Z")

Listing = list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class SessionWatchPolicy:
    """Every number of the session watch (Config.session_watch; tests shorten them). How often tmux is asked is the
    shared poll's (poll.POLL_INTERVAL_S, Config.session_poll_interval_s)."""

    # A held request answers after this long even if nothing changed: under nginx's default proxy_read_timeout (60 s)
    # and the 30-60 s idle timeouts of common load balancers, so no proxy cuts a healthy watch.
    hold_s: float = 25.0
    # Held requests at once (over every page): far above one browser's connection budget (6 per host over
    # HTTP/1.1), low enough that a flood of watchers cannot pile up without limit.
    max_watchers: int = 256


class TooManyWatchers(Exception):
    """More than ``max_watchers`` held at once."""


def listing_etag(default: str, sessions: Listing) -> str:
    """The etag of what the bar shows of a listing."""
    shown = [default, [[s.get("id"), s.get("attached"), s.get("alive")] for s in sessions]]
    return hashlib.sha256(json.dumps(shown, separators=(",", ":")).encode()).hexdigest()[:16]


class SessionWatch:
    """The held watchers, listening to the shared session poll while any is held."""

    def __init__(
        self,
        default: str,
        list_sessions: Callable[[], Awaitable[Listing]],
        poll: SessionPoll,
        policy: SessionWatchPolicy,
    ) -> None:
        self.default = default
        self.policy = policy
        self._list_sessions = list_sessions  # a fresh listing, outside the poll
        self._poll = poll
        self._listing: Listing = []
        self._etag: str | None = None
        self._changed = asyncio.Event()  # replaced after each change: waiters hold the one of their time
        self._first_poll: asyncio.Future[None] | None = None  # while listening: done once the copy is fresh
        self._closed = False
        self.watchers = 0
        self.polls = 0  # listings the poll handed over while someone watched (one per interval, whatever the watchers)

    async def current(self) -> tuple[Listing, str]:
        """A fresh listing and its etag (no watch: the page's first request)."""
        sessions = await self._list_sessions()
        return sessions, listing_etag(self.default, sessions)

    async def wait_for_change(self, since: str) -> tuple[Listing, str]:
        """The listing once its etag differs from ``since``, or as it is at the deadline (or at close)."""
        if self.watchers >= self.policy.max_watchers:
            raise TooManyWatchers(f"too many session watchers (at most {self.policy.max_watchers}); try again later")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.hold_s
        self.watchers += 1
        try:
            first = self._listen()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(first)  # the listing is at most one interval old from here on
                    if self._etag != since and not self._closed:
                        # Either the list changed or our copy is older than the watcher's (a poll that started
                        # before its last answer): only a fresh listing can tell, and only this rare case pays it.
                        self._update(*await self.current())
                    while self._etag == since and not self._closed:
                        await self._changed.wait()
            if self._etag is None:  # the first poll did not finish in time
                return await self.current()
            return self._listing, self._etag
        finally:
            self.watchers -= 1
            if self.watchers == 0 and self._first_poll is not None:
                self._poll.unlisten(self._on_rows)  # nobody watches: the poll may stop (unless titles listen)
                self._first_poll = None

    def _listen(self) -> asyncio.Future[None]:
        if self._first_poll is None:
            self._first_poll = self._poll.listen(self._on_rows)
        return self._first_poll

    def _on_rows(self, rows: Rows) -> None:
        self.polls += 1
        sessions = [row.listing_entry() for row in rows]
        self._update(sessions, listing_etag(self.default, sessions))

    def _update(self, sessions: Listing, etag: str) -> None:
        if etag != self._etag:
            self._listing, self._etag = sessions, etag
            self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def close(self) -> None:
        """Answer every held watcher now and stop listening (the poll itself is closed by its owner, after the
        bridges that listen for titles ended)."""
        self._closed = True
        self._wake()
        if self._first_poll is not None:
            self._poll.unlisten(self._on_rows)
