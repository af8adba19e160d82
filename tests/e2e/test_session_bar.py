"""Issue #13: the session bar on every page (live list, switch without reload, open beside, new session), the font
size that persists, and the touch key bar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from livepane_e2e import (
    BOOT_TIMEOUT_S,
    PROMPT_RE,
    TOKEN,
    Server,
    open_panes,
    pane_selector,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import CHROMIUM, CHROMIUM_ARGS, wait_until

# The server polls tmux once a second for its watchers (SessionWatchPolicy): a change shows within ~1-2 s.
BAR_TIMEOUT_S = 10.0
PHONE = {"width": 390, "height": 844}


def entry(session: str) -> str:
    return f'#sessions .bar-entry[data-session="{session}"]'


def bar_sessions(page: Any) -> list[str]:
    return page.eval_on_selector_all("#sessions .bar-entry", "els => els.map(e => e.dataset.session)")


def wait_for_bar(page: Any, condition: Any, what: str) -> list[str]:
    return wait_until(lambda: (names := bar_sessions(page)) and condition(names) and names, BAR_TIMEOUT_S, what)


def mark_window(page: Any) -> None:
    """A marker only this document has: a reload (or a navigation) loses it."""
    page.evaluate("window.__sbarMarker = 'kept'")


def window_marker(page: Any) -> str | None:
    return page.evaluate("window.__sbarMarker || null")


def client_width(server: Server, session: str) -> int:
    widths = server.tmux.run("list-clients", "-t", f"={session}", "-F", "#{client_width}", check=False).split()
    return int(widths[-1]) if widths else 0


def test_the_bar_follows_sessions_tmux_makes_and_kills(page, server: Server) -> None:
    server.tmux.new_session("sbar-one")
    open_panes(page, server, "sbar-one")  # a ?session= page: the bar is there too
    wait_for_bar(page, lambda names: "sbar-one" in names and "main" in names, "the listed sessions")
    assert page.get_attribute(f"{entry('sbar-one')} a", "aria-current") == "page"
    assert page.get_attribute(f"{entry('main')} a", "aria-current") is None
    mark_window(page)
    server.tmux.new_session("sbar-late")
    wait_for_bar(page, lambda names: "sbar-late" in names, "a session tmux made while the page is open")
    server.tmux.kill_session("sbar-late")
    wait_for_bar(page, lambda names: "sbar-late" not in names, "the killed session to go")
    assert window_marker(page) == "kept"  # live, not by reloading


def test_a_click_switches_the_pane_without_a_reload_and_back_returns(page, server: Server) -> None:
    server.tmux.new_session("sbar-a")
    server.tmux.new_session("sbar-b")
    open_panes(page, server, "sbar-a")
    wait_for_bar(page, lambda names: "sbar-b" in names, "sbar-b in the bar")
    proxies_before = page.evaluate("window.livepane.liveProxies()")
    mark_window(page)
    page.click(f"{entry('sbar-b')} a")
    wait_for_state(page, "sbar-b", "open")
    wait_for_screen(page, "sbar-b", PROMPT_RE)
    assert page.evaluate("window.livepane.sessions()") == ["sbar-b"]
    assert page.url.endswith("/?session=sbar-b")
    assert window_marker(page) == "kept"
    assert page.get_attribute(f"{entry('sbar-b')} a", "aria-current") == "page"
    page.keyboard.type("echo typed-after-switch\n")  # the new pane has the focus
    wait_for_tmux(server.tmux, "sbar-b", r"^typed-after-switch$")
    # The closed pane's client left tmux: nothing of it stays behind.
    wait_until(lambda: server.tmux.client_pids("sbar-a") == [], 5, "sbar-a's tmux client to end")

    page.go_back()
    wait_for_state(page, "sbar-a", "open")
    assert page.evaluate("window.livepane.sessions()") == ["sbar-a"]
    assert page.url.endswith("/?session=sbar-a")
    assert window_marker(page) == "kept"
    # Back where it started: every proxy the other pane made was destroyed with it.
    wait_until(lambda: page.evaluate("window.livepane.liveProxies()") == proxies_before, 5, "proxies freed")


def test_plus_opens_beside_and_the_url_names_both(page, server: Server) -> None:
    server.tmux.new_session("sbar-left")
    server.tmux.new_session("sbar-right")
    open_panes(page, server, "sbar-left")
    wait_for_bar(page, lambda names: "sbar-right" in names, "sbar-right in the bar")
    page.click(f"{entry('sbar-right')} .bar-beside")
    wait_for_state(page, "sbar-right", "open")
    assert page.evaluate("window.livepane.sessions()") == ["sbar-left", "sbar-right"]
    assert page.url.endswith("/?session=sbar-left&session=sbar-right")
    wait_for_state(page, "sbar-left", "open")  # the first one stayed up
    page.click(f"{entry('sbar-left')} .bar-close")
    page.wait_for_function("window.livepane.sessions().length === 1")
    assert page.evaluate("window.livepane.sessions()") == ["sbar-right"]
    assert page.is_hidden(pane_selector("sbar-left")) or page.locator(pane_selector("sbar-left")).count() == 0


def test_new_session_creates_it_in_tmux_and_opens_it(page, server: Server) -> None:
    server.tmux.new_session("sbar-home")
    open_panes(page, server, "sbar-home")
    mark_window(page)
    page.fill("#sessions .bar-new-name", "no good!")
    page.press("#sessions .bar-new-name", "Enter")
    page.wait_for_function("document.querySelector('#sessions .bar-message').textContent.includes('session name')")
    assert not server.tmux.has_session("no good!")
    page.fill("#sessions .bar-new-name", "sbar-made")
    page.click("#sessions .bar-new-button")
    wait_for_state(page, "sbar-made", "open")
    wait_for_screen(page, "sbar-made", PROMPT_RE)
    assert server.tmux.has_session("sbar-made")
    assert page.url.endswith("/?session=sbar-made")
    wait_for_bar(page, lambda names: "sbar-made" in names, "the new session in the bar")
    assert page.get_attribute(f"{entry('sbar-made')} a", "aria-current") == "page"
    assert window_marker(page) == "kept"


def test_the_font_size_persists_and_tmux_gets_the_new_width(page, server: Server) -> None:
    server.tmux.new_session("sbar-font")
    open_panes(page, server, "sbar-font")
    before = stats(page, "sbar-font")
    wait_until(lambda: client_width(server, "sbar-font") == before["columns"], 5, "tmux at the page's width")
    # Four clicks in one task: the pane refits once (its fit is debounced), so there is one new width to wait for.
    page.eval_on_selector('#sessions [data-font="1"]', "button => { for (let i = 0; i < 4; i++) button.click(); }")
    assert stats(page, "sbar-font")["font_size"] == before["font_size"] + 4
    larger = wait_until(
        lambda: (c := stats(page, "sbar-font")["columns"]) < before["columns"] and c, 5, "fewer columns"
    )
    wait_until(lambda: client_width(server, "sbar-font") == larger, 5, f"tmux's client at {larger} columns")
    page.reload()
    page.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )
    wait_for_state(page, "sbar-font", "open")
    assert stats(page, "sbar-font")["font_size"] == before["font_size"] + 4
    assert stats(page, "sbar-font")["columns"] == larger
    # Put it back: the browser context (and its localStorage) is shared by the whole run.
    page.evaluate("localStorage.removeItem('livepane.fontSize')")


def test_the_last_screen_follows_the_font_size(page, server: Server) -> None:
    """A pane that is not live shows its last screen as text (.pane-last-screen): it is drawn at the size A−/A+ chose
    (on a page loaded after the choice too), and A−/A+ resize it as they resize the terminals."""
    server.tmux.new_session("sbar-font-last")
    open_panes(page, server, "sbar-font-last")
    pane = pane_selector("sbar-font-last")
    size = stats(page, "sbar-font-last")["font_size"]

    def last_screen_px() -> float:
        text = page.locator(f"{pane} .pane-last-screen")
        return float(text.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))

    try:
        page.eval_on_selector('#sessions [data-font="1"]', "button => { for (let i = 0; i < 3; i++) button.click(); }")
        page.reload()  # the size is the stored one from the start
        page.wait_for_function(
            "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
        )
        wait_for_state(page, "sbar-font-last", "open")
        assert stats(page, "sbar-font-last")["font_size"] == size + 3
        page.keyboard.type("echo last-''screen\n")
        wait_for_screen(page, "sbar-font-last", r"(?m)^last-screen$")
        page.keyboard.type("exit\n")
        page.wait_for_selector(f"{pane} .relaunch:not([hidden])", timeout=10_000)
        assert "last-screen" in page.inner_text(f"{pane} .pane-last-screen")
        assert last_screen_px() == size + 3, "the last screen is not at the terminals' size"
        page.eval_on_selector('#sessions [data-font="-1"]', "button => button.click()")
        assert last_screen_px() == size + 2, "A− left the last screen as it was"
    finally:
        # Put it back: the browser context (and its localStorage) is shared by the whole run.
        page.evaluate("localStorage.removeItem('livepane.fontSize')")


@pytest.fixture(scope="module")
def phone(playwright: Any, tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[Any]:
    """A phone: touch, mobile viewport (its own profile: the session's context is a desktop one)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("sbar-phone-profile")),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=PHONE,
        has_touch=True,
        is_mobile=True,
    )
    context.request.get(f"{server.origin}/?token={TOKEN}", max_redirects=0)
    tab = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def test_a_touch_screen_gets_a_key_bar_that_types_esc_and_ctrl(phone, server: Server) -> None:
    server.tmux.new_session("sbar-phone")
    open_panes(phone, server, "sbar-phone")
    phone.wait_for_selector("#keybar .key", state="visible")
    phone.keyboard.type("cat -v\n")
    wait_until(lambda: server.tmux.current_command("sbar-phone") == "cat", 5, "cat running")
    phone.tap('#keybar [data-key="esc"]')
    phone.keyboard.type("x\n")
    wait_for_tmux(server.tmux, "sbar-phone", r"^\^\[x$")
    phone.tap('#keybar [data-mod="ctrl"]')
    assert phone.get_attribute('#keybar [data-mod="ctrl"]', "aria-pressed") == "true"
    phone.keyboard.type("c")  # the soft keyboard's c, with the bar's Ctrl: ^C ends cat
    wait_until(lambda: server.tmux.current_command("sbar-phone") == "bash", 5, "^C to end cat")
    assert phone.get_attribute('#keybar [data-mod="ctrl"]', "aria-pressed") == "false"  # one-shot
    phone.keyboard.type("echo still-plain\n")  # the next keys are plain again
    wait_for_tmux(server.tmux, "sbar-phone", r"^still-plain$")
    assert re.search(r"\d+", str(stats(phone, "sbar-phone")["columns"]))


def test_a_desktop_has_no_key_bar(page, server: Server) -> None:
    server.tmux.new_session("sbar-desk")
    open_panes(page, server, "sbar-desk")
    assert page.is_hidden("#keybar")


def watch_state(page: Any) -> dict[str, Any]:
    return page.evaluate("window.livepane.sessionWatch()")


def test_a_hidden_tab_lets_go_of_its_watch_and_catches_up_when_shown(page, server: Server) -> None:
    """A held request takes one of the browser's 6 connections per host (shared by every tab): a hidden tab aborts
    its watch, and asks again (catching up) when it is shown. (The held request may also have been answered just
    before the tab was hidden, by a change in any session: then nothing is aborted, and nothing is asked again
    either; what counts is that no watch request is left in flight.)"""
    held: set[Any] = set()  # the watch's requests in flight (Playwright gives one Request object per request)
    page.on("request", lambda request: held.add(request) if "/api/sessions?since=" in request.url else None)
    page.on("requestfinished", lambda request: held.discard(request))
    page.on("requestfailed", lambda request: held.discard(request))
    server.tmux.new_session("sbar-hide")
    open_panes(page, server, "sbar-hide")
    wait_for_bar(page, lambda names: "sbar-hide" in names, "the bar")
    wait_until(lambda: watch_state(page)["state"] == "asking", 10, "a held watch")
    set_visibility = """state => {
        Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    page.evaluate(set_visibility, "hidden")
    wait_until(lambda: watch_state(page)["state"] == "hidden", 5, "the watch to stop")
    wait_until(lambda: not held, 5, "no watch request left in flight")
    asked = watch_state(page)["requests"]
    server.tmux.new_session("sbar-while-hidden")
    page.evaluate(set_visibility, "visible")
    wait_for_bar(page, lambda names: "sbar-while-hidden" in names, "the bar to catch up once shown")
    assert watch_state(page)["requests"] > asked
