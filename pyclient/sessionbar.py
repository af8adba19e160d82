"""The session bar's decisions: what it lists, which entries are open here, what a click does to the page's panes and
URL, which names a new session may have, and when the list is asked for again.

Rules of this file:

- No ``js``, no ``pyodide``: it runs (and is tested, ``tests/unit/test_sessionbar.py``) under CPython;
  ``pyclient/browser.py`` (``SessionBar``, ``SessionWatcher``) turns DOM events into these calls and their answers
  into DOM changes and fetches.
- The page's panes are a tuple of session ids, in order; every action maps one tuple to the next, and the URL
  (``?session=a&session=b``) is that tuple, so a shared URL or Back reopens the same panes.
- The list is watched by long-polling ``GET api/sessions?since=<etag>`` (docs/architecture.md, "Session bar"), only
  while the tab is visible; a failure waits on a growing schedule, never spins.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from .page import DEFAULT_SESSION, sessions_from_query
from .protocol import SESSION_ID_RE

__all__ = [
    "Action",
    "BarEntry",
    "Listing",
    "NameCheck",
    "WatchAnswer",
    "WatchPolicy",
    "after_action",
    "bar_entries",
    "check_new_name",
    "input_target",
    "intercepts_click",
    "listing_of",
    "page_search",
    "plan",
    "wanted_from_search",
    "watch_answer",
]


# --------------------------------------------------------------------------------------------------------------------
# The listing


@dataclass(frozen=True)
class Listing:
    """A ``GET api/sessions`` answer, as the bar uses it."""

    default: str
    sessions: tuple[str, ...]  # valid ids, in the server's order
    attached: tuple[int, ...]  # clients attached to each (this page's included)
    etag: str | None  # None: a server without the watch (an older upstream): poll slowly, without ``since``


def listing_of(status: int, text: str) -> Listing | None:
    """A 200 with a listing → :class:`Listing`; anything else → None (ids the pane cannot open are left out)."""
    if status != 200:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("sessions"), list):
        return None
    default = str(body.get("default") or DEFAULT_SESSION)
    ids: list[str] = []
    attached: list[int] = []
    for entry in body["sessions"]:
        session = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        if SESSION_ID_RE.match(session) and session not in ids:
            ids.append(session)
            count = entry.get("attached", 0)
            attached.append(count if isinstance(count, int) and not isinstance(count, bool) else 0)
    etag = body.get("etag")
    return Listing(default, tuple(ids), tuple(attached), etag if isinstance(etag, str) and etag else None)


# --------------------------------------------------------------------------------------------------------------------
# What a click does


class Action(enum.Enum):
    SWITCH = "switch"  # the entry's name: the page shows that session alone
    BESIDE = "beside"  # its "+": open it beside the panes already here
    CLOSE = "close"  # its "×" (open entries, when more than one is open): close that pane


# --------------------------------------------------------------------------------------------------------------------
# What the bar shows


@dataclass(frozen=True)
class BarEntry:
    session: str
    open: bool  # shown in a pane on this page (aria-current)
    listed: bool  # the server lists it (False: open here, gone from tmux, or not yet listed)
    attached: int  # clients tmux counts on it (0 when not listed)
    actions: tuple[Action, ...] = ()  # its buttons besides the name (which switches)


def _actions(is_open: bool, open_count: int) -> tuple[Action, ...]:
    if not is_open:
        return (Action.BESIDE,)
    return (Action.CLOSE,) if open_count > 1 else ()


def bar_entries(listing: Listing | None, open_sessions: tuple[str, ...]) -> tuple[BarEntry, ...]:
    """The server's sessions in its order, then the page's open ones it does not list (just created, or ended).

    | session | listed | open here | entry | buttons |
    | --- | --- | --- | --- | --- |
    | in the listing, not open | yes | no | shown | "+" (beside) |
    | in the listing, open | yes | yes | shown, marked current | "×" (close) when another pane is open |
    | open, not listed | no | yes | after the listed ones, marked current and not listed | as above |
    | neither | | | not shown | |
    """
    listed = listing.sessions if listing is not None else ()
    counts = dict(zip(listed, listing.attached, strict=True)) if listing is not None else {}
    n = len(open_sessions)
    entries = [BarEntry(s, s in open_sessions, True, counts[s], _actions(s in open_sessions, n)) for s in listed]
    entries += [BarEntry(s, True, False, 0, _actions(True, n)) for s in open_sessions if s not in counts]
    return tuple(entries)


def after_action(open_sessions: tuple[str, ...], session: str, action: Action) -> tuple[str, ...]:
    """The page's panes after ``action`` on ``session``.

    | action | before | after |
    | --- | --- | --- |
    | SWITCH | anything | (session,) |
    | BESIDE | session not open | open + (session,) |
    | BESIDE | session open | unchanged |
    | CLOSE | session open, with others | open without session |
    | CLOSE | session the only one, or not open | unchanged (a page shows at least one pane) |
    """
    if action is Action.SWITCH:
        return (session,)
    if action is Action.BESIDE:
        return open_sessions if session in open_sessions else (*open_sessions, session)
    if session in open_sessions and len(open_sessions) > 1:
        return tuple(s for s in open_sessions if s != session)
    return open_sessions


def intercepts_click(button: int, *, ctrl: bool, meta: bool, shift: bool, alt: bool) -> bool:
    """Whether the page handles a click on an entry's link itself (a plain left click) or leaves it to the browser:
    middle, Ctrl/⌘ (new tab) and Shift (new window) clicks open the entry's URL as any link does."""
    return button == 0 and not (ctrl or meta or shift or alt)


def input_target(active: str | None, open_sessions: tuple[str, ...]) -> str | None:
    """The pane the key bar types into: the one last focused, if still open, else the first."""
    if active in open_sessions:
        return active
    return open_sessions[0] if open_sessions else None


def plan(mounted: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(panes to close, panes to open) to go from ``mounted`` to ``wanted``. Kept panes stay where they are (a moved
    terminal would lose nothing, but the page would jump); new ones are added after them."""
    return tuple(s for s in mounted if s not in wanted), tuple(s for s in wanted if s not in mounted)


# --------------------------------------------------------------------------------------------------------------------
# The URL


def page_search(current_search: str, sessions: tuple[str, ...]) -> str:
    """``location.search`` for ``sessions``: the ``session`` parameters replaced, every other one (``renderer``)
    kept, so the URL is shareable and Back restores the panes."""
    kept = [(k, v) for k, v in parse_qsl(current_search.lstrip("?"), keep_blank_values=True) if k != "session"]
    return "?" + urlencode([*(("session", s) for s in sessions), *kept])


def wanted_from_search(search: str, default: str | None) -> tuple[str, ...]:
    """The panes a URL asks for (Back/Forward): its ``?session=``, else the server's default session (``/``)."""
    sessions = tuple(sessions_from_query(search))
    if sessions:
        return sessions
    return (default,) if default else ()


# --------------------------------------------------------------------------------------------------------------------
# A new session's name


@dataclass(frozen=True)
class NameCheck:
    name: str  # "" when refused
    error: str = ""


NAME_RULE = "a session name is 1-64 letters, digits, '-' or '_'"


def check_new_name(text: str) -> NameCheck:
    """The name typed into the bar's "new session" field (surrounding spaces dropped), checked as the server does."""
    name = text.strip()
    if not name:
        return NameCheck("", "type a name for the new session")
    if not SESSION_ID_RE.match(name):
        return NameCheck("", f"{NAME_RULE}: {name[:40]!r} is not")
    return NameCheck(name)


# --------------------------------------------------------------------------------------------------------------------
# Watching the list


@dataclass(frozen=True)
class WatchPolicy:
    """Every number of the page's watch on the session list."""

    # After consecutive failures (network, 429, 5xx): waits in ms, the last repeated. A restarting server is back in
    # about a second; a server that is gone for long is asked twice a minute.
    failure_delays_ms: tuple[float, ...] = (1_000.0, 2_000.0, 5_000.0, 10_000.0, 30_000.0)
    # An answer without an etag (a server without the watch), or one that came back unchanged faster than any held
    # request would (something between us answers at once): ask again this much later, not in a loop.
    plain_poll_ms: float = 5_000.0
    min_hold_ms: float = 1_000.0


@dataclass(frozen=True)
class WatchAnswer:
    """What the page does with one answer of the watch."""

    listing: Listing | None  # show it (None: keep the bar as it is)
    next_ms: float | None  # ask again after this long (None: stop watching)
    since: str | None  # the etag to send next time
    failures: int  # consecutive failures so far
    message: str = ""  # said in the bar (why it stopped or waits)


def watch_answer(
    status: int, text: str, *, since: str | None, elapsed_ms: float, failures: int, policy: WatchPolicy
) -> WatchAnswer:
    """One watch answer → what the page does next.

    | answer | bar | next request |
    | --- | --- | --- |
    | 200 + listing + etag, changed or held at least ``min_hold_ms`` | shown | at once, ``since`` = its etag |
    | 200 + listing + etag, unchanged and quick | shown | after ``plain_poll_ms`` |
    | 200 + listing without an etag | shown | after ``plain_poll_ms``, no ``since`` |
    | 401 | kept | none: "not authorized" |
    | 501 (a proxy in front of one ttyd: no session API) | kept | none |
    | 400 (our etag refused) | kept | after the failure schedule, no ``since`` |
    | anything else (0: the network, 429, 5xx, a 200 that is no listing) | kept | after the failure schedule |
    """
    listing = listing_of(status, text)
    if listing is not None:
        if listing.etag is None:
            return WatchAnswer(listing, policy.plain_poll_ms, None, 0)
        quick = listing.etag == since and elapsed_ms < policy.min_hold_ms
        return WatchAnswer(listing, policy.plain_poll_ms if quick else 0.0, listing.etag, 0)
    if status == 401:
        return WatchAnswer(None, None, since, failures + 1, "not authorized: reload the page with the token URL")
    if status == 501:
        return WatchAnswer(None, None, since, failures)
    delays = policy.failure_delays_ms
    delay = delays[min(failures, len(delays) - 1)]
    message = "session list unavailable" + (f" ({status})" if status else "")
    return WatchAnswer(None, delay, None if status == 400 else since, failures + 1, message)
