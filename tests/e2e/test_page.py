"""Stories 1, 7 and 9: the page opens a pane, types into tmux, follows the window, and talks only to its server."""

from __future__ import annotations

import re

from livepane_e2e import (
    PROMPT_RE,
    TOKEN,
    Server,
    assert_same_origin,
    open_panes,
    pane_selector,
    stats,
    wait_for_screen,
    wait_for_tmux,
)
from support import wait_until


def test_open_type_and_see_it_in_the_page_and_in_tmux(page, server: Server) -> None:
    """Story 1: the prompt appears; typing `echo hello` shows `hello`; tmux received it."""
    server.tmux.new_session("s1")
    page.goto(f"{server.origin}/?session=s1", wait_until="commit")
    # Before Python is up the page already draws the pane's frame and its caption.
    page.wait_for_selector(".pane .caption-text")
    assert page.inner_text(".pane .caption-text") == "Connecting…"

    boot_s = open_panes(page, server, "s1")
    print(f"\npage boot to prompt: {boot_s:.2f} s")
    page.keyboard.type("echo hello\n")
    wait_for_screen(page, "s1", r"(?m)^hello$")
    wait_for_tmux(server.tmux, "s1", r"^hello$")
    assert re.search(r"(?m)echo hello$", server.tmux.capture("s1"))
    # The caption is hidden while open; the pane carries its session and state.
    assert page.is_hidden(f"{pane_selector('s1')} .caption")
    assert page.get_attribute(pane_selector("s1"), "data-state") == "open"
    assert stats(page, "s1")["opens"] == 1
    # The server's control frames were decoded in the page: its preferences armed the keepalive watchdog.
    assert stats(page, "s1")["keepalive_ms"] == 10_000
    # It booted from the Pyodide memory snapshot `make setup` builds (half the boot time; docs/benchmarks.md), not
    # from its silent fallback.
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
    # ... and PyScript's own package, which it writes and imports on every load, was imported lazily: its code has
    # not run (pyclient/codecache.py). A page script that uses it gets it, precompiled in the snapshot: none of its
    # modules is compiled in the page.
    cache = page.evaluate("window.livepane.codeCache()")
    assert cache["entries"] >= 10 and cache["hits"] == 0 and cache["unused"] == ["pyscript"], cache
    page.evaluate("""() => {
      const script = document.createElement("script");
      script.type = "py";
      script.textContent = "from pyscript import display, when\\nimport js\\njs.window.lpPyscript = display.__module__";
      document.body.append(script);
    }""")
    assert page.wait_for_function("window.lpPyscript").json_value() == "pyscript.display"
    cache = page.evaluate("window.livepane.codeCache()")
    assert cache["hits"] >= 10 and cache["misses"] == 0 and cache["unused"] == [], cache


def test_resizing_the_viewport_resizes_the_tmux_window(page, server: Server) -> None:
    """Story 7: the fit addon follows the window; the debounced resize reaches tmux."""
    server.tmux.new_session("s7")
    open_panes(page, server, "s7")

    def sizes() -> tuple[tuple[int, int], tuple[int, int]]:
        """The terminal's (columns, rows) and tmux's window plus its status line."""
        s = stats(page, "s7")
        width, height = server.tmux.window_size("s7")
        return (s["columns"], s["rows"]), (width, height + 1)

    page_size = wait_until(lambda: (v := sizes()) and v[0] == v[1] and v[0], 5, "tmux to match the page")
    for viewport in ({"width": 640, "height": 360}, {"width": 1200, "height": 700}):
        previous = page_size
        page.set_viewport_size(viewport)
        page_size = wait_until(
            lambda: (v := sizes()) and v[0] != previous and v[0] == v[1] and v[0],  # noqa: B023 (called right here)
            5,
            f"tmux to follow {viewport}",
        )
    # The shell sees it too: the PTY was resized, not just tmux's idea of the window. tmux resizes a pane's PTY on
    # a timer after its window changed, so ask again until it has.
    expected = f"{page_size[1] - 1} {page_size[0]}"

    def shell_size() -> str:
        page.keyboard.type("clear; stty size\n")
        return re.findall(r"(?m)^\d+ \d+$", wait_for_tmux(server.tmux, "s7", r"^\d+ \d+$"))[-1]

    wait_until(lambda: shell_size() == expected, 5, f"stty size to say {expected}", interval_s=0.1)


def test_many_panes_wrap_instead_of_shrinking_their_sessions(page, server: Server) -> None:
    """Twelve panes in a 1000 px window: they wrap into rows (the page scrolls) rather than each getting a sliver, so no
    tmux session is resized to a few columns."""
    sessions = [f"w{i}" for i in range(12)]
    for session in sessions:
        server.tmux.new_session(session)
    query = "&".join(f"session={s}" for s in sessions)
    page.goto(f"{server.origin}/?{query}", wait_until="commit")
    open_panes(page, server, *sessions)
    for session in sessions:
        columns, rows = stats(page, session)["columns"], stats(page, session)["rows"]
        assert columns >= 40 and rows >= 10, (session, columns, rows)
        wait_until(lambda s=session, c=columns: server.tmux.window_size(s)[0] == c, 5, f"tmux to size {session}")
    assert page.evaluate("(el => el.scrollHeight > el.clientHeight)(document.getElementById('panes'))")  # it scrolls


def test_every_request_goes_to_the_servers_own_origin(page, server: Server) -> None:
    """Story 9: the session list page (no ?session=) loads everything from the server itself."""
    page.goto(f"{server.origin}/")
    page.wait_for_function("typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=30_000)
    default = page.evaluate("window.livepane.sessions()")
    assert default == ["main"]  # serve.py's default session, opened without a parameter
    wait_for_screen(page, "main", PROMPT_RE)
    assert page.locator("#sessions a").count() >= 1
    record = page.livepane_record
    assert any("/vendor/pyodide@" in url and url.endswith(".wasm") for url in record.requests) or any(
        url.endswith("pyodide.mjs") for url in record.requests
    )
    assert any("/ws/main?ticket=" in url for url in record.websockets)
    assert_same_origin(record, server)  # also checked after every test by the page fixture
    assert TOKEN not in " ".join(record.requests + record.websockets)  # the token never rides in a URL after login


def test_the_terminal_lives_where_pyscript_does_not_watch(page, server: Server) -> None:
    """PyScript observes every DOM mutation of the document, and of every shadow root made by attachShadow (it wraps
    that method), to find new <script type="py">. xterm's DOM renderer rewrites rows on every frame of output, which
    cost that observer ~20% of the throughput. So xterm sits in a shadow root the HTML parser made, which PyScript
    never sees. Fails if the terminal moves back into the document or into an attachShadow root."""
    page.add_init_script("""
        window.__attachShadowCalls = 0;
        const attach = Element.prototype.attachShadow;
        Element.prototype.attachShadow = function (...args) {
            window.__attachShadowCalls += 1;
            return attach.apply(this, args);
        };
    """)
    server.tmux.new_session("shadow")
    page.goto(f"{server.origin}/?session=shadow", wait_until="commit")
    open_panes(page, server, "shadow")
    assert page.evaluate("document.querySelector('.xterm')") is None  # not in the document itself
    assert page.evaluate(
        "(sel) => !!document.querySelector(sel + ' .pane-term').shadowRoot.querySelector('.xterm-screen')",
        pane_selector("shadow"),
    )
    assert page.evaluate("window.__attachShadowCalls") == 0


def test_without_declarative_shadow_dom_the_terminal_still_works(page, server: Server) -> None:
    """An older browser (no setHTMLUnsafe): the terminal sits in the document itself, slower but working."""
    page.add_init_script("delete Element.prototype.setHTMLUnsafe;")
    server.tmux.new_session("noshadow")
    page.goto(f"{server.origin}/?session=noshadow", wait_until="commit")
    open_panes(page, server, "noshadow")
    assert page.evaluate("!!document.querySelector('.pane-term .xterm')")  # in the document, no shadow root
    page.keyboard.type("echo plain-dom\n")
    wait_for_screen(page, "noshadow", r"(?m)^plain-dom$")
