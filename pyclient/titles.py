"""What the browser tab says about its panes: the document title, the favicon, and the bell while the tab is hidden.

Rules of this file:

- No ``js``, no ``pyodide``: the browser adapter (``pyclient/browser.py``, ``TabView``) feeds :class:`TabState` the
  panes' titles, health, focus and bells, and writes what it answers into ``document.title`` and the icon link.
- The tab speaks for one pane, the *shown* one: the pane that had the keyboard focus last, else the first one mounted
  (a page of one session, or before anything was clicked). Its title, its health, its bell.
- A bell rings visibly on its pane's header (the adapter flashes it); while the tab is hidden it is also kept in the
  tab's title and icon until the tab is seen again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote

from .reconnect import State, Status

__all__ = ["BELL_FLASH_MS", "BELL_MARK", "FIRST_LOOK_MS", "Health", "TabState", "favicon_url", "health", "tab_title"]

# How long a pane's header flashes for a bell: long enough to catch the eye, short enough that a second bell a moment
# later flashes again.
BELL_FLASH_MS = 1000

# Put before the tab's title while a bell rang in a hidden tab (the tab strip shows the start of a title).
BELL_MARK = "🔔 "

# The tab keeps the page's own title and icon until a pane is live or ended (TabState.settled), or this long after the
# first pane was mounted. A new icon is an SVG the page decodes on its main thread (2-6 ms, once 164 ms, traced):
# written at the mount, that decode came between the pane's socket and its open event, which sends the handshake tmux's
# attach waits for. One second: a pane that takes longer to open still names its session in the tab.
FIRST_LOOK_MS = 1000

# The page's own name: the tab's title when no pane is mounted.
PAGE_NAME = "livepane"


class Health(enum.Enum):
    """What the favicon's colour says."""

    LIVE = "live"
    WAITING = "waiting"  # connecting, reconnecting, offline
    ENDED = "ended"


# | machine state | health |
_HEALTH: dict[State, Health] = {
    State.OPEN: Health.LIVE,
    State.CONNECTING: Health.WAITING,
    State.RECONNECTING: Health.WAITING,
    State.CLOSED: Health.ENDED,
}

# The favicon's colour per health (the page's own palette: web/livepane.css).
FAVICON_COLOURS: dict[Health, str] = {
    Health.LIVE: "#5fb870",
    Health.WAITING: "#e0b050",
    Health.ENDED: "#e06c60",
}


def health(status: Status) -> Health:
    if status.state is State.OPEN and status.offline:
        return Health.WAITING
    return _HEALTH[status.state]


def tab_title(session: str, title: str) -> str:
    """``session — title``; the session alone while there is no title (or it only repeats the session id)."""
    title = title.strip()
    return f"{session} — {title}" if title and title != session else session


def favicon_url(session: str, state: Health, bell: bool) -> str:
    """An inline SVG icon (a data: URL: the page's CSP allows ``img-src data:``): the session's initial on its
    health's colour, and a dot while a bell waits to be seen."""
    letter = session[:1].upper() or "?"
    letter = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(letter, letter)
    dot = '<circle cx="12.5" cy="3.5" r="3.5" fill="#ffffff"/>' if bell else ""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        f'<rect width="16" height="16" rx="3" fill="{FAVICON_COLOURS[state]}"/>'
        '<text x="8" y="12.5" font-size="12" font-family="sans-serif" font-weight="bold" text-anchor="middle"'
        f' fill="#101214">{letter}</text>{dot}</svg>'
    )
    return "data:image/svg+xml," + quote(svg)


@dataclass(frozen=True)
class TabLook:
    """What the tab shows: its title and icon (``icon`` is ``None`` while no pane is mounted)."""

    title: str
    icon: str | None


class TabState:
    """The panes' titles, health and bells, and which pane the tab shows (see the module's rules)."""

    def __init__(self) -> None:
        self._titles: dict[str, str] = {}  # mounted sessions, in mount order
        self._health: dict[str, Health] = {}
        self._focused: str | None = None
        self._unseen_bell = False  # a bell rang while the tab was hidden

    def mounted(self, session: str) -> None:
        self._titles.setdefault(session, "")
        self._health.setdefault(session, Health.WAITING)

    def unmounted(self, session: str) -> None:
        self._titles.pop(session, None)
        self._health.pop(session, None)
        if self._focused == session:
            self._focused = None

    def focused(self, session: str) -> None:
        if session in self._titles:
            self._focused = session

    def titled(self, session: str, title: str) -> None:
        if session in self._titles:
            self._titles[session] = title

    def health_is(self, session: str, value: Health) -> None:
        if session in self._titles:
            self._health[session] = value

    def rang(self, *, hidden: bool) -> None:
        """A bell in any pane: kept for the tab only while the tab is hidden (else the pane's flash is seen)."""
        if hidden:
            self._unseen_bell = True

    def seen(self) -> None:
        """The tab is visible again."""
        self._unseen_bell = False

    @property
    def settled(self) -> bool:
        """A mounted pane is live or ended: the tab has something to say beyond "waiting" (see FIRST_LOOK_MS)."""
        return any(value is not Health.WAITING for value in self._health.values())

    @property
    def shown(self) -> str | None:
        if self._focused is not None:
            return self._focused
        return next(iter(self._titles), None)

    def look(self) -> TabLook:
        session = self.shown
        if session is None:
            return TabLook(PAGE_NAME, None)
        title = tab_title(session, self._titles[session])
        if self._unseen_bell:
            title = BELL_MARK + title
        return TabLook(title, favicon_url(session, self._health[session], self._unseen_bell))
