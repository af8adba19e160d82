"""The page's previews (issue #14, livepane_server/preview.py): what the page carries of tmux's screens, for whom,
how it is escaped and bounded, and that a slow or missing tmux never slows the page."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from multidict import CIMultiDict
from support import pid_alive, wait_until

from livepane_server.assets import CACHE_NEVER
from livepane_server.auth import TICKET_TTL_S
from livepane_server.preview import (
    ELEMENT_ID,
    PreviewPolicy,
    Previews,
    Screen,
    page_sessions,
    paint,
    pane_template,
    parse_screen,
    script_json,
    split_screens,
)
from livepane_server.tmux import Tmux
from pyclient import protocol

from .conftest import DEADLINE_S, TOKEN, TmuxServer, cookie_header, counting_tmux, marker, running_app

ELEMENT_RE = re.compile(rf'<script type="application/json" id="{ELEMENT_ID}">(.*?)</script>', re.S)
# A previewed pane's section (its screen's text is escaped, so the first </section> is its end).
SECTION_RE = re.compile(r'<section class="pane preview" data-session="([^"]*)".*?</section>', re.S)
SCREEN_RE = re.compile(r'<pre class="pane-preview-screen"[^>]*>(.*?)</pre>', re.S)
# The page's pane template, as the server reads it.
TEMPLATE = pane_template((Path(__file__).resolve().parents[2] / "web" / "index.html").read_text())
# What a screen may hold that must never reach the page's markup raw.
HOSTILE = "</script><!--<script>x</SCRIPT>&amp;\u2028"


def blob_of(html: str) -> dict | None:
    found = ELEMENT_RE.findall(html)
    assert len(found) <= 1, found
    return json.loads(found[0]) if found else None


def shows(tmux_server: TmuxServer, session: str, text: str) -> None:
    """Print ``text`` in the session (through printf, so the command line does not hold it literally) and wait."""
    hex_escaped = "".join(f"\\x{b:02x}" for b in text.encode())
    tmux_server.send_keys(session, f"clear; printf '{hex_escaped}\\n'", "Enter")
    wait_until(lambda: text.splitlines()[0] in tmux_server.capture(session), DEADLINE_S, f"{text!r} on the screen")


async def get_page(client, query: object = None, headers: dict | None = None) -> tuple[int, CIMultiDict, str]:
    async with client.http.get(
        client.url("/").with_query(query or {}), headers=headers if headers is not None else cookie_header(),
        allow_redirects=False,
    ) as r:
        return r.status, r.headers.copy(), await r.text()


# -- the blob: escaping, parsing, painting (pure) -------------------------------------------------------------------


def test_script_json_cannot_end_its_element_or_open_a_comment() -> None:
    value = {"paint": HOSTILE, "nested": [HOSTILE]}
    text = script_json(value)
    for forbidden in ("<", ">", "&", "\u2028"):
        assert forbidden not in text
    assert text.isascii()
    assert json.loads(text) == value


def test_parse_screen_reads_what_tmux_prints_and_refuses_anything_else() -> None:
    out = "80 24 0 0 80 24 3 1 1 on bottom\n" + "\n".join(f"row{i}" for i in range(24)) + "\n"
    screen = parse_screen(out)
    assert screen is not None
    assert (screen.window_columns, screen.window_rows, screen.cursor_x, screen.cursor_y) == (80, 24, 3, 1)
    assert screen.status_rows == 1 and not screen.status_top and screen.cursor_visible
    assert screen.rows[0] == "row0" and len(screen.rows) == 24
    assert parse_screen("80 24 0 0 80 24 3 1 1 on bottom\nonly one row\n") is None  # rows missing
    assert parse_screen("no such session\n") is None
    assert parse_screen("") is None
    assert parse_screen("80 x 0 0 80 24 3 1 1 on bottom\n") is None


def test_split_screens_takes_each_sessions_rows_by_its_pane_height_and_refuses_anything_else() -> None:
    def block(rows: int, first: str) -> str:
        return f"80 {rows} 0 0 80 {rows} 0 0 1 off bottom\n" + "\n".join([first] + [""] * (rows - 1)) + "\n"

    out = block(24, "$ one") + block(3, "") + block(5, "three")  # blank rows, one screen all blank
    screens = split_screens(out, 3)
    assert screens is not None
    assert [s.pane_rows for s in screens] == [24, 3, 5] and [s.rows[0] for s in screens] == ["$ one", "", "three"]
    assert split_screens(out, 2) is None  # rows left over
    assert split_screens(out, 4) is None  # a screen missing
    assert split_screens(out[:-2], 3) is None  # the last screen short of a row
    assert split_screens(block(24, "x") + "no such session\n", 2) is None
    assert split_screens("", 1) is None


def test_paint_places_each_row_and_the_cursor_below_a_top_status_line() -> None:
    screen = Screen(
        window_columns=20, window_rows=3, pane_left=10, pane_top=1, pane_columns=10, pane_rows=2,
        cursor_x=4, cursor_y=1, cursor_visible=False, status_rows=1, status_top=True, rows=("\x1b[31mab", "cd"),
    )
    assert paint(screen) == (
        "\x1b[?1047h\x1b[?1047l" "\x1b[?7l" "\x1b[3;11H\x1b[31mab" "\x1b[4;11Hcd" "\x1b[0m" "\x1b[4;15H"
        "\x1b[?7h" "\x1b[?25l"
    )


def test_page_sessions_are_the_clients_own() -> None:
    assert page_sessions("session=a&session=b&session=a", "main") == ["a", "b"]
    assert page_sessions("session=..%2Fx&session=a%0A", "main") == ["main"]  # none valid: the page opens the default
    assert page_sessions("", "main") == ["main"]
    assert page_sessions("renderer=dom", "-bad id-") == []


# -- the page -------------------------------------------------------------------------------------------------------


async def test_the_page_carries_the_sessions_screen_size_cursor_and_a_ticket(
    tmux_server: TmuxServer, session: str
) -> None:
    mark = marker("PV")
    shows(tmux_server, session, mark)
    async with running_app(tmux_server) as (client, _):
        status, headers, html = await get_page(client, {"session": session})
        assert status == 200
        assert headers["Cache-Control"] == CACHE_NEVER and "ETag" not in headers
        blob = blob_of(html)
        assert blob is not None and blob["version"] == 1 and blob["ticket_ttl_ms"] == round(TICKET_TTL_S * 1000)
        (pane,) = blob["panes"]
        assert pane["session"] == session
        width, height = tmux_server.window_size(session)
        assert (pane["columns"], pane["rows"]) == (width, height + 1)  # and tmux's status line
        assert mark in pane["paint"]
        cursor_x, cursor_y = map(int, tmux_server.display(session, "#{cursor_x} #{cursor_y}").split())
        assert pane["paint"].endswith(f"\x1b[{cursor_y + 1};{cursor_x + 1}H\x1b[?7h\x1b[?25h")
        # The ticket opens this session's socket once, as a fetched one would.
        sock = await client.connect(session, ticket=pane["ticket"])
        await sock.handshake()
        await sock.read_until(lambda got: bool(got.output))
        await sock.close()
        again = await client.connect(session, ticket=pane["ticket"])
        assert await again.expect_close() == (protocol.Close.UNAUTHORIZED, "ticket invalid: already used")
        # Each page gets tickets of its own.
        _, _, html2 = await get_page(client, {"session": session})
        assert blob_of(html2)["panes"][0]["ticket"] != pane["ticket"]


async def test_without_a_session_in_the_url_the_default_session_is_previewed(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server) as (client, _):
        _, _, html = await get_page(client)
        assert [p["session"] for p in blob_of(html)["panes"]] == ["anchor"]  # conftest's default session


class _Tags(HTMLParser):
    """Every start tag and comment, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        self.text += data


async def test_a_screen_full_of_markup_stays_inside_the_blob_and_the_screens_text(
    tmux_server: TmuxServer, session: str
) -> None:
    shows(tmux_server, session, HOSTILE)
    async with running_app(tmux_server) as (client, _):
        _, _, html = await get_page(client, {"session": session})
        _, _, plain = await get_page(client, {"session": "no-such-session"})
    (element,) = ELEMENT_RE.finditer(html)
    assert "<" not in element.group(1)  # nothing in the blob an HTML parser would read as a tag or a comment
    (section,) = SECTION_RE.finditer(html)
    # The page around them is the page without a preview: each ends where the server ended it.
    assert html[: section.start()] + html[section.end() : element.start()] + html[element.end() :] == plain
    assert HOSTILE.splitlines()[0] in blob_of(html)["panes"][0]["paint"]
    # The screen is text: its only tags are the renderer's spans, no comment opens, and it reads as tmux shows it.
    (screen,) = SCREEN_RE.findall(section.group(0))
    tags = _Tags()
    tags.feed(screen)
    assert set(tags.tags) <= {"span"} and tags.comments == []
    assert HOSTILE.splitlines()[0] in tags.text


async def test_the_page_carries_the_pane_with_its_screen_as_html_in_colour(
    tmux_server: TmuxServer, session: str
) -> None:
    mark = marker("HT")
    # The marker in red on the screen (printf's escape, so the command line shows no marker).
    tmux_server.send_keys(session, f"clear; printf '\\033[31m{mark[:4]}\\033[0m{mark[4:]}\\n'", "Enter")
    wait_until(lambda: mark in tmux_server.capture(session), DEADLINE_S, "the marker on the screen")
    async with running_app(tmux_server) as (client, _):
        _, _, html = await get_page(client, {"session": session})
    (section,) = SECTION_RE.finditer(html)
    assert section.group(1) == session
    pane = section.group(0)
    # The template's pane, as Python's Slot and web/preboot.js expect it: connecting, stale, saying so.
    assert 'data-state="connecting"' in pane and 'data-stale="true"' in pane
    assert f'<span class="pane-name">{session}</span>' in pane and "Connecting…" in pane
    assert 'class="pane-term"' not in pane  # the screen stands where the terminal will be
    (screen,) = SCREEN_RE.findall(pane)
    assert f'<span style="color:#cc0000">{mark[:4]}</span>{mark[4:]}' in screen  # xterm.js's red
    assert 'class="w cursor"' in screen
    # In #panes, before the template (which the stylesheet hides behind it).
    assert html.index('<main id="panes">') < section.start() < html.index('<section class="pane placeholder"')


async def test_a_screen_showing_a_placeholder_stays_text(tmux_server: TmuxServer, session: str) -> None:
    shows(tmux_server, session, "{{preview}} {{preview-panes}} {{version:static/main.py}}")
    async with running_app(tmux_server) as (client, _):
        _, _, html = await get_page(client, {"session": session})
    (screen,) = SCREEN_RE.findall(html)
    assert "{{preview}} {{preview-panes}} {{version:static/main.py}}" in screen
    assert len(ELEMENT_RE.findall(html)) == 1


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"session": "no-such-session"}, id="unknown"),
        pytest.param({"session": "../x"}, id="malformed"),
        pytest.param({"session": "a b"}, id="space"),
        pytest.param({"session": "x" * 65}, id="too-long"),
    ],
)
async def test_no_preview_for_an_unknown_or_malformed_session(
    tmux_server: TmuxServer, session: str, query: dict
) -> None:
    async with running_app(tmux_server, default_session=session) as (client, _):
        mark = marker("NP")
        shows(tmux_server, session, mark)
        status, headers, html = await get_page(client, query)
        assert status == 200
        if query["session"] == "no-such-session":
            assert blob_of(html) is None  # valid but unknown: nothing, not the default's screen
            assert headers["Cache-Control"] == "no-cache" and "ETag" in headers  # the page as it always was
        else:
            # An invalid id is not asked for at all (the client ignores it too): the page opens the default session,
            # and previews that one, never the id.
            assert [p["session"] for p in blob_of(html)["panes"]] == [session]


async def test_no_cookie_no_preview(tmux_server: TmuxServer, session: str) -> None:
    mark = marker("NC")
    shows(tmux_server, session, mark)
    async with running_app(tmux_server) as (client, _):
        for headers in ({}, cookie_header("another-token")):
            status, _, body = await get_page(client, {"session": session}, headers=headers)
            assert status == 401 and mark not in body and ELEMENT_ID not in body
        status, headers, body = await get_page(client, {"session": session, "token": TOKEN}, headers={})
        assert status == 303 and mark not in body and ELEMENT_ID not in body


async def test_a_cached_page_without_a_preview_is_never_revalidated_into_one(
    tmux_server: TmuxServer, session: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        _, headers, _ = await get_page(client, {"session": "no-such-session"})
        etag = headers["ETag"]
        conditional = cookie_header() | {"If-None-Match": etag}
        status, again, _ = await get_page(client, {"session": "no-such-session"}, conditional)
        assert status == 304 and again["ETag"] == etag
        for tag in (etag, "*"):
            conditional = cookie_header() | {"If-None-Match": tag}
            status, headers, html = await get_page(client, {"session": session}, conditional)
            assert status == 200 and blob_of(html) is not None
            assert headers["Cache-Control"] == CACHE_NEVER and "ETag" not in headers


async def test_at_most_twelve_panes_are_previewed_in_the_pages_order(tmux_server: TmuxServer) -> None:
    sessions = [tmux_server.new_session() for _ in range(14)]
    try:
        async with running_app(tmux_server) as (client, _):
            _, _, html = await get_page(client, [("session", s) for s in sessions])
            assert [p["session"] for p in blob_of(html)["panes"]] == sessions[:12]
    finally:
        for s in sessions:
            tmux_server.kill_session(s)


async def test_a_dashboard_is_previewed_from_one_tmux_process(tmux_server: TmuxServer, tmp_path: Path) -> None:
    """Twelve sessions, one `capture-pane` process (one fork and one tmux connection for all: ~15 ms instead of
    40-80 for twelve processes on two loaded cores), each screen where it belongs; a session that is not there makes
    tmux stop at it, and then each of the others is asked alone and still previewed."""
    sessions = [tmux_server.new_session() for _ in range(12)]
    try:
        marks = {s: marker(f"D{i}") for i, s in enumerate(sessions)}
        for s in sessions[:3]:
            shows(tmux_server, s, marks[s])
        log = counting_tmux(tmp_path)
        async with running_app(tmux_server) as (client, server):
            server.tmux.env["PATH"] = f"{tmp_path}:{os.environ['PATH']}"
            _, _, html = await get_page(client, [("session", s) for s in sessions])
            captures = [line for line in log.read_text().splitlines() if "capture-pane" in line]
            assert len(captures) == 1 and captures[0].count("capture-pane") == 12, captures
            screens = dict(zip(SECTION_RE.findall(html), SCREEN_RE.findall(html), strict=True))
            assert list(screens) == sessions
            for s in sessions[:3]:
                assert marks[s] in screens[s] and all(marks[o] not in screens[s] for o in sessions[:3] if o != s)
            log.unlink()
            asked = [sessions[0], "no-such-session", sessions[1], sessions[2]]
            _, _, html = await get_page(client, [("session", s) for s in asked])
            assert [p["session"] for p in blob_of(html)["panes"]] == sessions[:3]
            captures = [line for line in log.read_text().splitlines() if "capture-pane" in line]
            assert len(captures) == 1 + len(asked), captures  # the batch, then one each
    finally:
        for s in sessions:
            tmux_server.kill_session(s)


async def test_a_screen_over_the_size_limits_is_left_out_whole(tmux_server: TmuxServer, session: str) -> None:
    other = tmux_server.new_session()
    try:
        tickets: list[str] = []
        tmux = Tmux(tmux_server.name, "bash")
        probe = await Previews(tmux, lambda s: "t", TICKET_TTL_S).page([session], TEMPLATE)
        one = len(script_json(probe.blob["panes"][0])) + len(probe.sections)
        for policy, expected in (
            (PreviewPolicy(max_pane_bytes=one - 1), []),  # each alone too big
            (PreviewPolicy(max_total_bytes=one + 100), [session]),  # the first fits, the second would not
            (PreviewPolicy(max_panes=0), []),
        ):
            previews = Previews(tmux, lambda s: tickets.append(s) or f"ticket-{s}", TICKET_TTL_S, policy)
            preview = await previews.page([session, other], TEMPLATE)
            assert [p["session"] for p in (preview.blob if preview else {"panes": []})["panes"]] == expected
            assert [m.group(1) for m in SECTION_RE.finditer(preview.sections if preview else "")] == expected
        assert tickets == [session]  # tickets are minted only for the panes the page carries
    finally:
        tmux_server.kill_session(other)


# -- tmux slow or missing ---------------------------------------------------------------------------------------------


async def test_a_missing_tmux_means_no_preview_not_an_error(
    tmux_server: TmuxServer, session: str, tmp_path: Path
) -> None:
    async with running_app(tmux_server) as (client, server):
        server.tmux.env["PATH"] = str(tmp_path)  # no tmux there
        status, headers, html = await get_page(client, {"session": session})
        assert status == 200 and blob_of(html) is None and headers["Cache-Control"] == "no-cache"


async def test_a_slow_tmux_costs_the_page_its_deadline_and_no_process(
    tmux_server: TmuxServer, session: str, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    slow = tmp_path / "tmux"
    slow.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 30\n")
    slow.chmod(0o755)
    deadline_s = PreviewPolicy().deadline_s
    async with running_app(tmux_server) as (client, server):
        server.tmux.env["PATH"] = f"{tmp_path}:{os.environ['PATH']}"
        started = time.monotonic()
        status, _, html = await get_page(client, {"session": session})
        took = time.monotonic() - started
        assert status == 200 and blob_of(html) is None
        assert deadline_s <= took < deadline_s + 2.0, took  # the deadline, plus a loaded machine's slack
        # The slow tmux was killed at the deadline, not left running.
        (pid,) = map(int, pids.read_text().split())
        wait_until(lambda: not pid_alive(pid), DEADLINE_S, "the slow tmux to be gone")


async def test_concurrent_pages_each_get_their_own_tickets(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pages = await asyncio.gather(*(get_page(client, {"session": session}) for _ in range(5)))
        tickets = {blob_of(html)["panes"][0]["ticket"] for _, _, html in pages}
        assert len(tickets) == 5
