"""What the page decides before and around its panes: URLs, the query, ticket and session-list answers.

The browser adapter (``pyclient/browser.py``) only translates: it reads ``document.baseURI`` and ``location.search``,
calls ``fetch``, and hands the status and body to the functions here. Rules of this file:

- No ``js``, no ``pyodide``: everything here runs (and is tested, ``tests/unit/test_page_decisions.py``) under CPython.
- Every URL the page builds is relative to the page's own URL (``document.baseURI``), never to the origin's root:
  behind a proxy that serves livepane under a path prefix (``https://example.org/term/``) the API and the sockets
  live under that prefix too. The socket's scheme follows the page's (``https:`` → ``wss:``).
- Answers are decided by tables: a ticket response's status says whether a refusal is fatal; the session list's
  status says what the page mounts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urljoin, urlsplit, urlunsplit

from .protocol import SESSION_ID_RE
from .reconnect import TicketRefused

__all__ = [
    "DEFAULT_SESSION",
    "FATAL_TICKET_STATUSES",
    "PAGE_TICKET_MARGIN_MS",
    "PageQuery",
    "PreviewPlan",
    "Renderer",
    "SessionList",
    "api_url",
    "created",
    "mount_at_once",
    "page_query",
    "page_ticket",
    "preview_plan",
    "refusal_reason",
    "session_link",
    "session_list",
    "session_url",
    "sessions_from_query",
    "sessions_url",
    "socket_url",
    "ticket",
    "ticket_network_error",
    "ticket_url",
]

# What the page mounts when the server has no session list to offer (a proxy in front of one ttyd answers 501): the
# name serve.py's --default-session defaults to. In front of one ttyd the name is only the pane's label.
DEFAULT_SESSION = "main"

# Ticket refusals after which asking again cannot help: the cookie is missing or stale (401) or the request is
# refused (403: Origin/Host). Every other status (a 5xx of a restarting server or a proxy, a 404 of a server still
# starting) is transient: the machine retries.
FATAL_TICKET_STATUSES = frozenset({401, 403})

# How much of a refusal's body a message quotes: a line, not a page of HTML from a proxy.
BODY_QUOTE_CHARS = 200

# The WebSocket scheme for each page scheme.
SOCKET_SCHEMES = {"http": "ws", "https": "wss"}

# Statuses of POST api/sessions/<id> that mean the session now exists (201 created, 200 it already did).
CREATED_STATUSES = frozenset({200, 201})


# --------------------------------------------------------------------------------------------------------------------
# URLs


def api_url(base_url: str, path: str) -> str:
    """``path`` (relative, no leading slash) against the page's base URL: the prefix is kept, the query dropped."""
    if path.startswith("/"):
        raise ValueError(f"page URLs are relative to the page, not the origin: {path!r}")
    return urljoin(base_url, path)


def ticket_url(base_url: str) -> str:
    return api_url(base_url, "api/ticket")


def sessions_url(base_url: str) -> str:
    return api_url(base_url, "api/sessions")


def session_url(base_url: str, session: str) -> str:
    return api_url(base_url, f"api/sessions/{quote(session, safe='')}")


def socket_url(base_url: str, session: str, ticket: str | None) -> str:
    """The terminal socket's URL: ``ws/<id>?ticket=…`` against the page, in ``ws:`` or ``wss:`` after the page."""
    http = urlsplit(api_url(base_url, f"ws/{quote(session, safe='')}"))
    scheme = SOCKET_SCHEMES.get(http.scheme)
    if scheme is None:
        raise ValueError(f"the page's URL is not http(s): {base_url!r}")
    query = f"ticket={quote(ticket, safe='')}" if ticket is not None else ""
    return urlunsplit((scheme, http.netloc, http.path, query, ""))


def session_link(session: str) -> str:
    """A link to the page for one session, relative to the page (so it keeps the prefix)."""
    return f"?session={quote(session, safe='')}"


# --------------------------------------------------------------------------------------------------------------------
# The page's query


class Renderer:
    """xterm.js renderers the page can be asked for (``?renderer=``)."""

    DOM = "dom"  # the default: fastest without a GPU (docs/benchmarks.md)
    WEBGL = "webgl"  # benchmarks only: software-rendered without a GPU
    ALL = frozenset({DOM, WEBGL})


@dataclass(frozen=True)
class PageQuery:
    """What the page's URL asks for."""

    sessions: tuple[str, ...] = ()  # empty: ask the server for its list
    renderer: str = Renderer.DOM


def sessions_from_query(query: str) -> list[str]:
    """The sessions a page URL asks for (``?session=a&session=b``): valid ids, first occurrence, in order."""
    seen: list[str] = []
    for value in parse_qs(query.lstrip("?"), keep_blank_values=False).get("session", []):
        if SESSION_ID_RE.match(value) and value not in seen:
            seen.append(value)
    return seen


def page_query(query: str) -> PageQuery:
    """``location.search`` → :class:`PageQuery`. An unknown renderer falls back to the DOM one."""
    renderers = parse_qs(query.lstrip("?")).get("renderer", [])
    renderer = renderers[0] if renderers and renderers[0] in Renderer.ALL else Renderer.DOM
    return PageQuery(sessions=tuple(sessions_from_query(query)), renderer=renderer)


# --------------------------------------------------------------------------------------------------------------------
# Answers


def _quote_body(text: str) -> str:
    return text.strip()[:BODY_QUOTE_CHARS]


def refusal_reason(text: str) -> str:
    """The server's reason in a refusal's body, as a stopped pane's caption shows it: the first line of a text body
    (serve.py writes one line that names the cause and the fix), at most :data:`BODY_QUOTE_CHARS`; ``""`` for an
    empty body or a page of markup (a proxy's HTML error page is no sentence for a caption)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if line.startswith("<"):
        return ""
    return line[:BODY_QUOTE_CHARS]


def ticket(status: int, text: str) -> str:
    """The ticket in a ``POST api/ticket`` answer, or :class:`TicketRefused` (fatal for 401/403, carrying the
    server's :func:`refusal_reason`)."""
    if status in FATAL_TICKET_STATUSES:
        raise TicketRefused(
            f"HTTP {status}: {_quote_body(text)}", fatal=True, status=status, reason=refusal_reason(text)
        )
    value = None
    if status == 200:
        try:
            value = json.loads(text)["ticket"]
        except (ValueError, KeyError, TypeError):
            value = None
    if not isinstance(value, str) or not value:
        raise TicketRefused(f"HTTP {status}: no ticket", fatal=False, status=status)
    return value


def ticket_network_error(error: BaseException) -> TicketRefused:
    """``fetch`` itself failed (server down, network gone): transient."""
    return TicketRefused(f"network error: {error}", fatal=False)


@dataclass(frozen=True)
class SessionList:
    """What the page does with a ``GET api/sessions`` answer."""

    mount: tuple[str, ...]  # the panes to open
    links: tuple[str, ...] = ()  # the session list above the panes (empty: no list)
    current: str | None = None  # the link marked as the one open
    message: str = ""  # shown in the placeholder's caption when nothing is mounted


def session_list(status: int, text: str) -> SessionList:
    """The session list's answer → what to mount and list.

    | status | page does |
    | --- | --- |
    | 200 + a listing | list the sessions (default first), open the default one |
    | 501 (a proxy in front of one ttyd: no session API) | open :data:`DEFAULT_SESSION`, no list |
    | 401 | nothing mounted: "not authorized: reload the page with the token URL" |
    | anything else, or a 200 that is not a listing | nothing mounted: "no sessions (<status>)" |
    """
    if status == 501:
        return SessionList(mount=(DEFAULT_SESSION,))
    if status == 401:
        return SessionList(mount=(), message="not authorized: reload the page with the token URL")
    listing = None
    if status == 200:
        try:
            listing = json.loads(text)
        except ValueError:
            listing = None
    if not isinstance(listing, dict):
        return SessionList(mount=(), message=f"no sessions ({status})")
    default = str(listing.get("default") or DEFAULT_SESSION)
    entries = listing.get("sessions")
    ids = [str(s.get("id", "")) for s in entries if isinstance(s, dict)] if isinstance(entries, list) else []
    links = tuple(s for s in dict.fromkeys([default, *ids]) if SESSION_ID_RE.match(s))
    if not SESSION_ID_RE.match(default):
        return SessionList(mount=(), links=links, message=f"the server's default session is not valid: {default!r}")
    return SessionList(mount=(default,), links=links, current=default)


def created(status: int) -> bool:
    """Whether a ``POST api/sessions/<id>`` answer means the session exists now."""
    return status in CREATED_STATUSES


# --------------------------------------------------------------------------------------------------------------------
# The page's previews (web/preboot.js painted them before Python was up; livepane_server/preview.py made them)

# A page ticket is used only while at least this much of its life is left: the socket still has to reach the server
# (a slow link, a busy handshake gate). Past it the pane fetches one, as it would have without a preview.
PAGE_TICKET_MARGIN_MS = 5000.0


@dataclass(frozen=True)
class PreviewPlan:
    """What the page does with the previews preboot painted, once it knows the panes it mounts."""

    adopt: tuple[str, ...]  # mounted into the preview's pane and terminal, with its recorded input
    discard: tuple[str, ...]  # previewed but not mounted: removed, their recorded input dropped
    show_placeholder: bool  # nothing is mounted: the placeholder comes back to say why


def preview_plan(previewed: list[str] | tuple[str, ...], mounting: list[str] | tuple[str, ...]) -> PreviewPlan:
    """| previewed session | is mounted | page does |
    | --- | --- | --- |
    | yes | yes | adopt: the pane, its terminal (no second one, no jump), its recorded keys, its ticket |
    | yes | no | discard it (a session the list did not open: e.g. the server's default changed) |
    | (none mounted) | | the placeholder is shown again, with its message |
    """
    mounted = set(mounting)
    adopt = tuple(session for session in previewed if session in mounted)
    discard = tuple(session for session in previewed if session not in mounted)
    return PreviewPlan(adopt=adopt, discard=discard, show_placeholder=not mounting)


def mount_at_once(query_sessions: tuple[str, ...], previewed: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """What the page mounts before it asks for the session list, and whether it must wait for the list first.

    | ``?session=`` | previewed | mounts at once | waits for the list |
    | --- | --- | --- | --- |
    | given | (any) | the query's sessions | no (the bar's list comes from the watch) |
    | none | some | the previewed ones (1) | no (2) |
    | none | none | nothing | yes: the list says what opens |

    (1) The server previewed what `/` opens, its default session, when it served the page. (2) The list comes while
    they connect: for the bar, and in case the default changed since.
    """
    if query_sessions:
        return query_sessions, False
    if previewed:
        return previewed, False
    return (), True


def page_ticket(ticket: object, ttl_ms: float, request_start_ms: float, now_ms: float) -> str | None:
    """The ticket the page carried for a pane, if its first socket may use it; else None (the pane fetches one).

    The server minted it while answering the page's request, so it expires no earlier than ``request_start_ms +
    ttl_ms`` (the navigation's ``requestStart``, on ``performance.now()``'s clock like ``now_ms``). A ticket the server
    refuses anyway (spent, expired) costs one socket: the machine then fetches one (reconnect.py, ``first_ticket``).
    """
    if not isinstance(ticket, str) or not ticket or ttl_ms <= 0:
        return None
    if now_ms > request_start_ms + ttl_ms - PAGE_TICKET_MARGIN_MS:
        return None
    return ticket
