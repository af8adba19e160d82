"""The page's decisions under CPython: every URL against the page's base URL, the query, ticket and list answers."""

from __future__ import annotations

import json

import pytest

from livepane_server.app import ROTATED_TEXT
from pyclient.page import (
    DEFAULT_SESSION,
    PAGE_TICKET_MARGIN_MS,
    PageQuery,
    PreviewPlan,
    Renderer,
    SessionList,
    api_url,
    created,
    mount_at_once,
    page_query,
    page_ticket,
    preview_plan,
    refusal_reason,
    session_link,
    session_list,
    session_url,
    sessions_from_query,
    sessions_url,
    socket_url,
    ticket,
    ticket_network_error,
    ticket_url,
)
from pyclient.reconnect import TicketRefused

# (document.baseURI, the ticket URL, the session list URL, the socket URL for session "main" with ticket "t.1/+")
BASES = [
    (
        "http://127.0.0.1:8765/?session=main",
        "http://127.0.0.1:8765/api/ticket",
        "http://127.0.0.1:8765/api/sessions",
        "ws://127.0.0.1:8765/ws/main?ticket=t.1%2F%2B",
    ),
    (
        "https://example.org/",
        "https://example.org/api/ticket",
        "https://example.org/api/sessions",
        "wss://example.org/ws/main?ticket=t.1%2F%2B",
    ),
    (
        "http://example.org:8080/term/?session=main&session=b",
        "http://example.org:8080/term/api/ticket",
        "http://example.org:8080/term/api/sessions",
        "ws://example.org:8080/term/ws/main?ticket=t.1%2F%2B",
    ),
    (
        "https://example.org/a/b/term/",
        "https://example.org/a/b/term/api/ticket",
        "https://example.org/a/b/term/api/sessions",
        "wss://example.org/a/b/term/ws/main?ticket=t.1%2F%2B",
    ),
    (  # the page itself, not a folder: its folder is the prefix
        "https://example.org/term/index.html",
        "https://example.org/term/api/ticket",
        "https://example.org/term/api/sessions",
        "wss://example.org/term/ws/main?ticket=t.1%2F%2B",
    ),
]


@pytest.mark.parametrize(("base", "ticket_at", "sessions_at", "socket_at"), BASES)
def test_every_url_is_relative_to_the_page(base: str, ticket_at: str, sessions_at: str, socket_at: str) -> None:
    assert ticket_url(base) == ticket_at
    assert sessions_url(base) == sessions_at
    assert socket_url(base, "main", "t.1/+") == socket_at
    assert session_url(base, "main") == sessions_at + "/main"


def test_socket_url_without_a_ticket_has_no_query() -> None:
    assert socket_url("https://example.org/term/", "s-1", None) == "wss://example.org/term/ws/s-1"


def test_a_url_from_the_root_or_a_page_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="relative to the page"):
        api_url("http://h/term/", "/api/ticket")
    with pytest.raises(ValueError, match="not http"):
        socket_url("file:///tmp/index.html", "main", None)


def test_session_links_stay_on_the_page() -> None:
    assert session_link("a_b-1") == "?session=a_b-1"


def test_sessions_from_query_keeps_valid_ids_in_order_once() -> None:
    assert sessions_from_query("?session=a&session=b&session=a&x=1") == ["a", "b"]
    assert sessions_from_query("session=bad%20id&session=ok_1") == ["ok_1"]
    assert sessions_from_query("") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", PageQuery()),
        ("?session=a&renderer=webgl", PageQuery(sessions=("a",), renderer=Renderer.WEBGL)),
        ("?renderer=canvas", PageQuery(renderer=Renderer.DOM)),  # unknown: the default
        ("?token=x&session=main", PageQuery(sessions=("main",))),
    ],
)
def test_page_query(query: str, expected: PageQuery) -> None:
    assert page_query(query) == expected


# --------------------------------------------------------------------------------------------------------------------
# Ticket answers: (status, body) -> ticket, or a refusal and whether it is fatal


def test_a_ticket_in_a_200() -> None:
    assert ticket(200, json.dumps({"ticket": "123.abc.def"})) == "123.abc.def"


@pytest.mark.parametrize(
    ("status", "body", "fatal"),
    [
        (401, "unauthorized: no cookie\n", True),
        (403, "forbidden: origin not allowed", True),
        (200, "not json", False),
        (200, json.dumps({"ticket": 5}), False),
        (200, json.dumps({"ticket": ""}), False),
        (200, json.dumps(["ticket"]), False),
        (404, "not found", False),  # a server still starting, a proxy's page
        (500, "", False),
        (502, "<html>bad gateway</html>", False),
        (503, "down", False),
    ],
)
def test_ticket_refusals(status: int, body: str, fatal: bool) -> None:
    with pytest.raises(TicketRefused) as refused:
        ticket(status, body)
    assert refused.value.fatal is fatal
    assert refused.value.status == status
    assert str(refused.value).startswith(f"HTTP {status}: ")


def test_a_refusal_quotes_one_line_of_the_body_not_a_page() -> None:
    with pytest.raises(TicketRefused) as refused:
        ticket(403, "x" * 5000)
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ROTATED_TEXT, ROTATED_TEXT.strip()),  # serve.py's bodies are one line ending in a newline
        ("\n  forbidden: origin x is not y: fix it\nmore\n", "forbidden: origin x is not y: fix it"),
        ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n</html>", ""),  # a proxy's page: no sentence
        ("", ""),
        ("y" * 5000, "y" * 200),
    ],
)
def test_a_fatal_refusal_carries_the_servers_one_line_reason(body: str, reason: str) -> None:
    assert refusal_reason(body) == reason
    for status in (401, 403):
        with pytest.raises(TicketRefused) as refused:
            ticket(status, body)
        assert refused.value.reason == reason


def test_a_transient_refusal_carries_no_reason() -> None:
    with pytest.raises(TicketRefused) as refused:
        ticket(503, "down")
    assert refused.value.reason == ""


def test_a_network_error_is_transient() -> None:
    refused = ticket_network_error(OSError("Failed to fetch"))
    assert refused.fatal is False and refused.status is None
    assert "Failed to fetch" in str(refused)


# --------------------------------------------------------------------------------------------------------------------
# Session list answers


def _listing(default: str, *ids: str) -> str:
    return json.dumps({"default": default, "sessions": [{"id": i, "windows": 1} for i in ids]})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            200,
            _listing("main", "a", "main", "b"),
            SessionList(mount=("main",), links=("main", "a", "b"), current="main"),
        ),
        (200, _listing("dflt"), SessionList(mount=("dflt",), links=("dflt",), current="dflt")),
        (200, _listing("main", "bad id", "ok"), SessionList(mount=("main",), links=("main", "ok"), current="main")),
        (200, json.dumps({"sessions": "nope"}), SessionList(mount=(DEFAULT_SESSION,), links=("main",), current="main")),
        # A proxy in front of one ttyd has no session API: the printed URL still opens that terminal.
        (501, "not implemented: the upstream has no session API", SessionList(mount=(DEFAULT_SESSION,))),
        (401, "unauthorized", SessionList(mount=(), message="not authorized: reload the page with the token URL")),
        (200, "not json", SessionList(mount=(), message="no sessions (200)")),
        (200, "[]", SessionList(mount=(), message="no sessions (200)")),
        (500, "", SessionList(mount=(), message="no sessions (500)")),
    ],
)
def test_session_list(status: int, body: str, expected: SessionList) -> None:
    assert session_list(status, body) == expected


def test_an_invalid_default_session_is_listed_nowhere_and_said() -> None:
    listed = session_list(200, _listing("bad id", "a"))
    assert listed.mount == () and listed.links == ("a",)
    assert "not valid" in listed.message


@pytest.mark.parametrize(("status", "ok"), [(200, True), (201, True), (400, False), (401, False), (501, False)])
def test_created(status: int, ok: bool) -> None:
    assert created(status) is ok


# --------------------------------------------------------------------------------------------------------------------
# The page's previews and tickets (issue #14)


@pytest.mark.parametrize(
    ("previewed", "mounting", "plan"),
    [
        (["a", "b"], ["a", "b"], PreviewPlan(adopt=("a", "b"), discard=(), show_placeholder=False)),
        (["a"], ["a", "c"], PreviewPlan(adopt=("a",), discard=(), show_placeholder=False)),  # c: a pane of its own
        (["main"], ["other"], PreviewPlan(adopt=(), discard=("main",), show_placeholder=False)),
        (["main"], [], PreviewPlan(adopt=(), discard=("main",), show_placeholder=True)),  # e.g. the list said 401
        ([], [], PreviewPlan(adopt=(), discard=(), show_placeholder=True)),
    ],
)
def test_preview_plan(previewed: list[str], mounting: list[str], plan: PreviewPlan) -> None:
    assert preview_plan(previewed, mounting) == plan


TTL_MS = 30_000.0


@pytest.mark.parametrize(
    ("ticket_value", "request_start_ms", "now_ms", "used"),
    [
        ("t", 100.0, 900.0, True),  # the usual: Python is up within a second or two
        ("t", 100.0, 100.0 + TTL_MS - PAGE_TICKET_MARGIN_MS, True),
        ("t", 100.0, 100.0 + TTL_MS - PAGE_TICKET_MARGIN_MS + 1, False),  # too close to its expiry: fetch one
        ("t", 0.0, 60_000.0, False),  # a tab that booted very slowly (or was frozen in the background)
        ("", 0.0, 10.0, False),
        (None, 0.0, 10.0, False),
        (5, 0.0, 10.0, False),
    ],
)
def test_page_ticket_is_used_only_well_within_its_life(
    ticket_value: object, request_start_ms: float, now_ms: float, used: bool
) -> None:
    assert page_ticket(ticket_value, TTL_MS, request_start_ms, now_ms) == (ticket_value if used else None)


def test_page_ticket_without_a_known_lifetime_is_not_used() -> None:
    assert page_ticket("t", 0.0, 0.0, 1.0) is None


@pytest.mark.parametrize(
    ("query", "previewed", "expected"),
    [
        (("a", "b"), ("a",), (("a", "b"), False)),
        ((), ("main",), (("main",), False)),
        ((), (), ((), True)),
    ],
)
def test_what_the_page_mounts_before_the_session_list(
    query: tuple[str, ...], previewed: tuple[str, ...], expected: tuple[tuple[str, ...], bool]
) -> None:
    """A `/` page whose server previewed its default session mounts it at once (no round trip for the list first)."""
    assert mount_at_once(query, previewed) == expected
