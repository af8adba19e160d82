"""Issue #14 goal 1: the session's real screen before Python is up, keys recorded from the first paint, the first
ticket in the page (livepane_server/preview.py, web/preboot.js, the adoption in pyclient/browser.py).

To prove the order, Pyodide is held back: every request for its files and the snapshot waits (Playwright's
``page.route``) until the test has seen the preview and typed into it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from livepane_e2e import (
    BOOT_TIMEOUT_S,
    OPEN_TIMEOUT_S,
    TOKEN,
    Server,
    open_panes,
    pane_selector,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import wait_until

from livepane_server.auth import COOKIE_NAME, cookie_value_for
from pyclient import protocol

# Everything Python needs to start: Pyodide's files (vendor/pyodide@…, static/pyodide-snap.mjs) and the snapshot.
PYTHON_FILES = re.compile(r"pyodide|snapshot")
ELEMENT_RE = re.compile(r'<script type="application/json" id="livepane-preview">(.*?)</script>', re.S)
HOSTILE = "</script><!--<script>window.hostile=1</script>"


def shows(server: Server, session: str, text: str) -> None:
    """Print ``text`` in the session through printf escapes (the command line never holds it), and wait for it."""
    escaped = "".join(f"\\x{b:02x}" for b in text.encode())
    server.tmux.send_keys(session, f"clear; printf '{escaped}\\n'", "Enter")
    wait_for_tmux(server.tmux, session, re.escape(text))


def new_session(server: Server, session: str) -> None:
    server.tmux.new_session(session)
    wait_for_tmux(server.tmux, session, r"bash-\d+\.\d+[#$]")


def get(server: Server, query: str, *, cookie: bool = True) -> tuple[int, Any, str]:
    """GET the page as a client without a browser: (status, headers, body)."""
    headers = {"Cookie": f"{COOKIE_NAME}={cookie_value_for(TOKEN)}"} if cookie else {}
    request = urllib.request.Request(f"{server.origin}/?{query}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def previewed(html: str) -> list[str]:
    found = ELEMENT_RE.findall(html)
    return [pane["session"] for pane in json.loads(found[0])["panes"]] if found else []


def python_held_back(page: Any) -> AbstractContextManager[list[Any]]:
    """Hold every request Python needs until the block ends (then they go on, and later ones pass)."""
    return held(page, PYTHON_FILES)


def wait_for_preview(page: Any, timeout_s: float = OPEN_TIMEOUT_S) -> None:
    page.wait_for_function(
        "typeof livepanePreboot !== 'undefined' && livepanePreboot.painted", timeout=timeout_s * 1000
    )


def preview_screen(page: Any, session: str) -> str:
    return page.evaluate("s => livepanePreboot.screen(s)", session)


def python_started(page: Any) -> bool:
    return page.evaluate("typeof window.livepane !== 'undefined'")


def wait_ready(page: Any) -> None:
    page.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )


def ticket_requests(page: Any) -> list[str]:
    return [url for url in page.livepane_record.requests if url.endswith("/api/ticket")]


# ----------------------------------------------------------------------------------------------------------------------


def test_the_screen_is_painted_before_python_and_keys_typed_into_it_arrive_once_in_order(page, server: Server) -> None:
    new_session(server, "pv1")
    shows(server, "pv1", "PREVIEW-MARK-7Q4Z")
    with python_held_back(page) as held:
        page.goto(f"{server.origin}/?session=pv1", wait_until="commit")
        wait_for_preview(page)
        assert "PREVIEW-MARK-7Q4Z" in preview_screen(page, "pv1")
        assert not python_started(page), "Python must still be held back"
        assert page.evaluate("performance.getEntriesByName('livepane:screen').length") == 1
        # Not live, and it says so: the pane's state, the caption, the dimming, a class of its own.
        pane = pane_selector("pv1")
        assert page.get_attribute(pane, "data-state") == "connecting"
        assert page.get_attribute(pane, "data-stale") == "true"
        assert "preview" in page.get_attribute(pane, "class")
        assert page.inner_text(f"{pane} .caption-text") == "Connecting…"
        page.keyboard.type("echo early-$((6*7))-ok\n")
        assert page.evaluate("livepanePreboot.recorded('pv1')") == len("echo early-$((6*7))-ok\n")
        assert "early-" not in server.tmux.capture("pv1")  # nothing is sent before Python is up
        assert held, "Python's files were requested and held"
    wait_ready(page)
    wait_for_state(page, "pv1", "open")
    text = wait_for_tmux(server.tmux, "pv1", r"^early-42-ok$")
    # Once, in order: one command line and its one output, however the keys were split into events.
    assert len(re.findall(r"echo early-\$\(\(6\*7\)\)-ok$", text, re.M)) == 1
    assert len(re.findall(r"^early-42-ok$", text, re.M)) == 1
    # Adopted, not duplicated: one pane, one terminal host in it, the same xterm the preview painted.
    assert page.locator("section.pane").count() == 1
    assert page.locator(f"{pane} .pane-term").count() == 1
    assert "preview" not in page.get_attribute(pane, "class")
    wait_for_screen(page, "pv1", r"(?m)^early-42-ok$")
    assert page.evaluate("livepanePreboot.sessions()") == []  # taken: its recorder stopped
    page.keyboard.type("echo after-$((1+1))\n")  # and the live pane types as usual
    wait_for_tmux(server.tmux, "pv1", r"^after-2$")


def test_the_first_connect_uses_the_pages_ticket(page, server: Server) -> None:
    new_session(server, "pv2")
    open_panes(page, server, "pv2")
    assert ticket_requests(page) == []  # no round trip before the first socket
    assert stats(page, "pv2")["attempts"] == 1
    page.keyboard.type("echo page-ticket-$((3*3))\n")
    wait_for_tmux(server.tmux, "pv2", r"^page-ticket-9$")


def spend(server: Server, session: str, ticket: str) -> None:
    """Open a socket with ``ticket`` and see the terminal answer, from another client (in a thread of its own: the
    page's route handler runs inside Playwright's loop)."""

    async def use() -> None:
        async with aiohttp.ClientSession() as http:
            url = f"{server.origin.replace('http', 'ws', 1)}/ws/{session}?ticket={ticket}"
            async with http.ws_connect(url, protocols=(protocol.SUBPROTOCOL,)) as ws:
                await ws.send_bytes(protocol.handshake_frame(80, 24))
                message = await ws.receive(timeout=OPEN_TIMEOUT_S)
                assert message.type is aiohttp.WSMsgType.BINARY, message

    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run(use(), errors))
    thread.start()
    thread.join(OPEN_TIMEOUT_S + 5)
    assert not errors, errors


def _run(coroutine: Any, errors: list[BaseException]) -> None:
    try:
        asyncio.run(coroutine)
    except BaseException as error:  # reported by the caller
        errors.append(error)


def test_a_spent_page_ticket_still_connects(page, server: Server) -> None:
    """Someone used the page's ticket first (a copied page, a replay): the pane fetches a ticket and opens, no stop."""
    new_session(server, "pv3")
    with python_held_back(page):
        page.goto(f"{server.origin}/?session=pv3", wait_until="commit")
        wait_for_preview(page)
        blob = json.loads(page.evaluate("document.getElementById('livepane-preview').textContent"))
        spend(server, "pv3", blob["panes"][0]["ticket"])
    wait_ready(page)
    wait_for_state(page, "pv3", "open")
    assert len(ticket_requests(page)) == 1  # the fallback: one fetched ticket
    s = stats(page, "pv3")
    assert (s["opens"], s["attempts"], s["failures"]) == (1, 2, 0)
    assert any("page's ticket was refused" in line for line in page.livepane_record.console)
    page.keyboard.type("echo spent-$((2+3))\n")
    wait_for_tmux(server.tmux, "pv3", r"^spent-5$")


def test_a_page_without_the_cookie_gets_no_preview(server: Server) -> None:
    new_session(server, "pv4")
    shows(server, "pv4", "SECRET-SCREEN-3K9W")
    status, _, body = get(server, "session=pv4", cookie=False)
    assert status == 401
    assert "SECRET-SCREEN-3K9W" not in body and "livepane-preview" not in body
    # ... and with the cookie it does, never stored.
    status, headers, body = get(server, "session=pv4")
    assert status == 200 and previewed(body) == ["pv4"] and "SECRET-SCREEN-3K9W" in json.loads(
        ELEMENT_RE.findall(body)[0]
    )["panes"][0]["paint"]
    assert headers["Cache-Control"] == "no-store" and headers["ETag"] is None


def test_a_malformed_or_unknown_session_gets_no_preview(page, server: Server) -> None:
    status, headers, body = get(server, "session=no-such-session")
    assert status == 200 and previewed(body) == [] and headers["Cache-Control"] == "no-cache"
    # A malformed id is no session at all: the page opens the default one (the client's rule), and previews that.
    status, _, body = get(server, "session=..%2Fetc&session=a%0Ab")
    assert "..%2Fetc" not in previewed(body) and all(re.fullmatch(r"[\w-]+", s) for s in previewed(body))
    page.goto(f"{server.origin}/?session=no-such-session")
    wait_ready(page)
    assert page.evaluate("livepanePreboot.painted") is False
    assert page.locator("section.pane.preview").count() == 0


def test_markup_on_the_screen_does_not_break_the_page(page, server: Server) -> None:
    new_session(server, "pv5")
    shows(server, "pv5", HOSTILE)
    with python_held_back(page):
        page.goto(f"{server.origin}/?session=pv5", wait_until="commit")
        wait_for_preview(page)
        assert HOSTILE in preview_screen(page, "pv5")
        # Parsed as the page wrote it: its own scripts only, the blob one element, nothing run from the screen.
        assert page.evaluate("document.querySelectorAll('script[type=\"application/json\"]').length") == 1
        assert page.evaluate("typeof window.hostile") == "undefined"
        assert page.evaluate("document.querySelector('script[type=\"py\"]') !== null")
    wait_ready(page)
    wait_for_state(page, "pv5", "open")
    wait_for_screen(page, "pv5", re.escape(HOSTILE))


# -- the screen in the page's HTML (painted before any script; the terminal takes its place) ---------------------------

# The terminal's library: while it is held, no terminal exists (web/terminal.js, preboot.js and PyScript wait for it).
XTERM_JS = re.compile(r"/@xterm/xterm@[^/]+/lib/xterm\.js")
SCREEN_JS = "s => (document.querySelector(`section.pane[data-session='${s}'] .pane-preview-screen`) || {}).textContent"
MARK_JS = "performance.getEntriesByName('livepane:screen').length"


@contextmanager
def held(page: Any, pattern: re.Pattern[str]) -> Iterator[list[Any]]:
    """Hold every request matching ``pattern`` until the block ends (then they go on, and later ones pass)."""
    routes: list[Any] = []
    page.route(pattern, lambda route: routes.append(route))
    try:
        yield routes
    finally:
        for route in routes:
            route.continue_()
        page.unroute(pattern)


def no_terminal_yet(page: Any) -> bool:
    return page.evaluate("typeof Terminal === 'undefined' && typeof livepanePreboot === 'undefined'")


def test_the_screen_is_in_the_pages_html_in_colour_and_painted_before_any_terminal(page, server: Server) -> None:
    new_session(server, "ph1")
    server.tmux.send_keys("ph1", "clear; printf '\\033[31mHTML-\\033[0mMARK-5R2T\\n'", "Enter")
    wait_for_tmux(server.tmux, "ph1", r"HTML-MARK-5R2T")
    # In the response itself: the pane's section, its screen as spans, in xterm.js's red.
    _, _, body = get(server, "session=ph1")
    assert '<span style="color:#cc0000">HTML-</span>MARK-5R2T' in body
    with held(page, XTERM_JS) as routes, python_held_back(page):
        page.goto(f"{server.origin}/?session=ph1", wait_until="commit")
        page.wait_for_function(MARK_JS, timeout=OPEN_TIMEOUT_S * 1000)  # livepane:screen, from the HTML's paint
        # The library is asked for only after the first frame, so the mark can come before its request: wait for
        # the request (held), then no terminal can exist.
        wait_until(lambda: page.evaluate("true") and routes, OPEN_TIMEOUT_S, "the terminal's library to be asked for")
        assert no_terminal_yet(page) and routes, "the terminal's library is still held"
        assert "HTML-MARK-5R2T" in page.evaluate(SCREEN_JS, "ph1")
        red = page.locator(f"{pane_selector('ph1')} .pane-preview-screen span[style]", has_text="HTML-").first
        assert red.evaluate("e => getComputedStyle(e).color") == "rgb(204, 0, 0)"
        # Not live, and it says so, as before.
        pane = pane_selector("ph1")
        assert page.get_attribute(pane, "data-state") == "connecting"
        assert page.inner_text(f"{pane} .caption-text") == "Connecting…"
        assert page.locator("section.pane").count() == 2  # the preview, and the template behind it
        assert not page.locator("section.pane.placeholder").is_visible()
        entry = page.evaluate("performance.getEntriesByName('livepane:screen')[0].startTime")
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
        assert entry <= fcp + 50, (entry, fcp)  # the screen is part of the first paint (or its next frame)
    wait_ready(page)
    wait_for_state(page, "ph1", "open")
    # The terminal took its place; the screen went once its paint was timed (web/early.js).
    page.wait_for_function("!document.querySelector('.pane-preview-screen')", timeout=OPEN_TIMEOUT_S * 1000)
    wait_for_screen(page, "ph1", r"HTML-MARK-5R2T")


# Installed before the page's first script: the order in which the after-paint template's scripts (index.html) define
# their globals, and which of them had run by the first animation frame after the page was parsed (the screen's frame).
AFTER_PAINT_PROBE_JS = """(() => {
  const seen = (window.__afterPaint = { order: [], atFirstFrame: null });
  for (const name of ["Terminal", "livepaneTerminal", "livepanePreboot"]) {
    let value;
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get: () => value,
      set: (defined) => { value = defined; seen.order.push(name); },
    });
  }
  document.addEventListener("readystatechange", () => {
    if (document.readyState !== "interactive") return;
    requestAnimationFrame(() => { seen.atFirstFrame = seen.order.slice(); });
  });
})();"""
# The scripts the page runs outside its after-paint template: the two that run before the first paint (inline: their
# text), and, async, Pyodide's JS as a classic script (livepane_server/pyodide_classic.py) and the interpreter module
# (the boot, at once). Each named by its URL's path, the vendored package's version left out.
WEB = Path(__file__).resolve().parents[2] / "web"
BEFORE_PAINT_INLINE = ("boot-fetch.js", "early.js")
BEFORE_PAINT_SOURCES = ("vendor/pyodide/pyodide.asm.classic.js", "static/pyodide-snap.mjs")


def test_the_terminals_scripts_and_pyscript_run_after_the_first_frame_in_order(page, server: Server) -> None:
    """On a warm load the terminals' scripts and PyScript's core.js, named in the page as deferred scripts, ran in the
    tasks right after the parse, before the first frame, which waited for them. From the after-paint template (web/
    early.js starts it) none has run by the first frame after the parse; they run in the template's order, and Python
    comes up."""
    new_session(server, "pa1")
    _, _, body = get(server, "session=pa1")
    head, _, rest = body.partition('<template id="livepane-after-paint">')
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", head + rest.partition("</template>")[2], re.S)
    run = [(attrs, text) for attrs, text in scripts if not re.search(r'type="(py|application/json)"', attrs)]
    sources = [re.sub(r"@[^/]+/", "/", re.search(r'src="\./([^"?]+)', attributes).group(1))
               for attributes, _ in run if " src=" in attributes]
    assert sources == list(BEFORE_PAINT_SOURCES), run
    assert [text for attributes, text in run if " src=" not in attributes] == [
        (WEB / name).read_text() for name in BEFORE_PAINT_INLINE
    ]
    open_panes(page, server, "pa1")  # warm: every script in the cache, ready before the parse ends
    page.add_init_script(AFTER_PAINT_PROBE_JS)
    page.goto(f"{server.origin}/?session=pa1", wait_until="commit")
    page.wait_for_function("window.__afterPaint.atFirstFrame !== null", timeout=OPEN_TIMEOUT_S * 1000)
    assert page.evaluate("window.__afterPaint.atFirstFrame") == []
    wait_ready(page)
    wait_for_state(page, "pa1", "open")
    assert page.evaluate("window.__afterPaint.order") == ["Terminal", "livepaneTerminal", "livepanePreboot"]
    assert page.evaluate("document.getElementById('livepane-after-paint')") is None  # started once, then gone


def test_no_script_on_the_screen_runs_from_the_html(page, server: Server) -> None:
    new_session(server, "ph2")
    shows(server, "ph2", HOSTILE)
    with held(page, XTERM_JS), python_held_back(page):
        page.goto(f"{server.origin}/?session=ph2", wait_until="commit")
        page.wait_for_function(MARK_JS, timeout=OPEN_TIMEOUT_S * 1000)
        assert HOSTILE in page.evaluate(SCREEN_JS, "ph2")
        assert page.evaluate("typeof window.hostile") == "undefined"
        assert page.evaluate("document.querySelectorAll('#panes script').length") == 0
        assert page.evaluate("document.querySelectorAll('script[type=\"application/json\"]').length") == 1
    wait_ready(page)
    wait_for_state(page, "ph2", "open")
    assert page.evaluate("typeof window.hostile") == "undefined"


def test_keys_typed_before_any_terminal_exists_arrive_once_in_order(page, server: Server) -> None:
    new_session(server, "ph3")
    typed = "echo Early-$((6*7))-OK ZZ\n"  # capitals: xterm reads A-Z from keypress, the rest from keydown
    with python_held_back(page):
        with held(page, XTERM_JS):
            page.goto(f"{server.origin}/?session=ph3", wait_until="commit")
            page.wait_for_function(MARK_JS, timeout=OPEN_TIMEOUT_S * 1000)
            page.keyboard.type(typed)
            assert no_terminal_yet(page)
            assert page.evaluate("livepaneEarly.recorded()") >= len(typed)  # keydowns, and keypresses for some
        wait_for_preview(page)  # the terminal took over; Python is still held
        assert not python_started(page)
        assert page.evaluate("livepaneEarly.recorded()") == 0  # given to the terminal, recording stopped
        # xterm turned them into data, exactly as it would have live: one character each, Enter as CR.
        assert page.evaluate("livepanePreboot.recorded('ph3')") == len(typed)
        page.keyboard.type("echo after\n")  # typed into the terminal, after the early keys
        assert page.evaluate("livepanePreboot.recorded('ph3')") == len(typed) + len("echo after\n")
        assert "Early-" not in server.tmux.capture("ph3")
    wait_ready(page)
    wait_for_state(page, "ph3", "open")
    text = wait_for_tmux(server.tmux, "ph3", r"^after$")
    assert len(re.findall(r"echo Early-\$\(\(6\*7\)\)-OK ZZ$", text, re.M)) == 1
    assert len(re.findall(r"^Early-42-OK ZZ$", text, re.M)) == 1
    assert text.index("Early-42-OK ZZ") < text.index("echo after")


MARKER_RECT_JS = """([root, marker]) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(marker);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + marker.length);
    const r = range.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
  }
  return null;
}"""


def test_the_terminal_takes_the_htmls_place_without_a_jump(page, server: Server) -> None:
    new_session(server, "ph4")
    # A marker 9 rows down and 30 columns in, after a wide character: rows, cells and widths all add up.
    server.tmux.send_keys("ph4", "clear; printf '\\n\\n\\n\\n\\n\\n\\n\\n\\n%29s漢JUMP-MARK-8W\\n' x", "Enter")
    wait_for_tmux(server.tmux, "ph4", r"JUMP-MARK-8W")
    pane = pane_selector("ph4")
    with python_held_back(page):
        with held(page, XTERM_JS):
            page.goto(f"{server.origin}/?session=ph4", wait_until="commit")
            page.wait_for_function(MARK_JS, timeout=OPEN_TIMEOUT_S * 1000)
            screen = page.locator(f"{pane} .pane-preview-screen")
            before = screen.evaluate(f"e => ({MARKER_RECT_JS})([e, 'JUMP-MARK-8W'])")
            html_cell = page.evaluate("livepaneEarly.cellHeight")
        wait_for_preview(page)
        rows = page.locator(f"{pane} .pane-term").evaluate_handle("h => h.shadowRoot.querySelector('.xterm-rows')")
        after = rows.evaluate(f"e => ({MARKER_RECT_JS})([e, 'JUMP-MARK-8W'])")
        xterm_cell = rows.evaluate("e => parseFloat(e.children[0].style.height)")
        # Hidden in the frame the terminal showed in (and gone once its paint was timed: web/early.js).
        assert not page.locator(f"{pane} .pane-preview-screen").is_visible()
        assert page.locator(f"{pane} .pane-term").evaluate("h => h.style.opacity") == ""
    assert before is not None and after is not None
    assert html_cell == xterm_cell, (html_cell, xterm_cell)
    for side in ("left", "top", "right", "bottom"):
        assert abs(before[side] - after[side]) <= 1, (side, before, after)


ROW_TEXTS_JS = "e => Array.from(e.children, (row) => row.textContent.trimEnd())"


def test_a_tmux_window_larger_than_the_pane_is_cut_alike_in_the_html_and_the_terminal(page, server: Server) -> None:
    """tmux's window is wider and taller than the pane (another client sized it): the HTML shows what the terminal
    will, and the terminal shows nothing drawn past its edge over its last column or row."""
    new_session(server, "ph5")
    server.tmux.run("resize-window", "-t", "=ph5:", "-x", "200", "-y", "60")
    server.tmux.send_keys(
        "ph5", "printf '\\033[2J\\033[1;1HTOPROW\\033[41;1HMIDROW\\033[41;151HRIGHT\\033[59;1H'", "Enter"
    )
    wait_for_tmux(server.tmux, "ph5", r"MIDROW +RIGHT")
    pane = pane_selector("ph5")
    with python_held_back(page):
        with held(page, XTERM_JS):
            page.goto(f"{server.origin}/?session=ph5", wait_until="commit")
            page.wait_for_function(MARK_JS, timeout=OPEN_TIMEOUT_S * 1000)
            screen = page.locator(f"{pane} .pane-preview-screen")
            box = screen.evaluate("e => e.getBoundingClientRect().toJSON()")
            html = {m: screen.evaluate(f"e => ({MARKER_RECT_JS})([e, '{m}'])") for m in ("TOPROW", "MIDROW", "RIGHT")}
        wait_for_preview(page)
        rows = page.locator(f"{pane} .pane-term").evaluate_handle("h => h.shadowRoot.querySelector('.xterm-rows')")
        term = {m: rows.evaluate(f"e => ({MARKER_RECT_JS})([e, '{m}'])") for m in ("TOPROW", "MIDROW", "RIGHT")}
        texts = rows.evaluate(ROW_TEXTS_JS)
        term_box = rows.evaluate("e => e.getBoundingClientRect().toJSON()")
    # The cursor's row (59 of 60) stays in view, so the top row went: above the HTML's box, not in the terminal's.
    assert html["TOPROW"]["bottom"] <= box["top"] and term["TOPROW"] is None
    # What is past the right edge is cut: beyond the HTML's box and the terminal's rows (which clip it), and never
    # drawn over the last column ("T" of RIGHT) or wrapped onto the next row.
    assert html["RIGHT"]["left"] >= box["right"] - 1
    assert term["RIGHT"] is None or term["RIGHT"]["left"] >= term_box["right"] - 1
    (mid,) = [i for i, text in enumerate(texts) if text.startswith("MIDROW")]
    assert texts[mid].index("RIGHT") == 150 and texts[mid + 1] == ""  # in its own column, past the clip
    for side in ("left", "top", "right", "bottom"):
        assert abs(html["MIDROW"][side] - term["MIDROW"][side]) <= 1, (side, html["MIDROW"], term["MIDROW"])


def test_a_root_page_opens_its_previewed_default_session_without_waiting_for_the_list(page, server: Server) -> None:
    """`/` opens the server's default session, which the page previewed: Python mounts it at once and its socket
    goes live while the session list is still on its way; the bar fills in when the list comes."""
    held: list[Any] = []
    page.route(re.compile(r"/api/sessions$"), lambda route: held.append(route))
    try:
        page.goto(f"{server.origin}/")
        wait_for_state(page, "main", "open", timeout_s=BOOT_TIMEOUT_S)
        page.keyboard.type("echo root-$((7*6))\n")
        wait_for_tmux(server.tmux, "main", r"^root-42$")
        # Live while the list is held: the bar lists nothing yet, the page is not ready (it is once the list came).
        assert page.evaluate("document.querySelectorAll('#sessions .bar-entry[data-listed=true]').length") == 0
        assert page.evaluate("window.livepane.ready") is False
        assert held, "the list was asked for, and is still held"
    finally:
        for route in held:
            route.continue_()
        page.unroute(re.compile(r"/api/sessions$"))
    wait_ready(page)
    page.wait_for_selector("#sessions .bar-entry[data-session=main] a[aria-current=page]")
    assert page.locator("section.pane").count() == 1
