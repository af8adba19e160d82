"""Issue 9's display stories: a pane that is not open never looks alive, and its endings say what happened.

- offline (the browser says so) → an offline caption within 1 s, the keys typed meanwhile counted and held; back
  online → open, and the keys arrive;
- an unknown session says "no such session" and offers to create it; creating it opens the pane;
- after `exit` the last screen stays readable (dimmed) above the relaunch panel, and every proxy the pane made is
  destroyed;
- during the 1012 window the caption reads steadily: at most two changes (up, then gone) while the server restarts.
"""

from __future__ import annotations

import re
import time

from livepane_e2e import (
    BOOT_TIMEOUT_S,
    PROMPT_RE,
    Server,
    history,
    open_panes,
    pane_selector,
    record_history,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import wait_until

OFFLINE_CAPTION_S = 1.0  # the bound: the caption is up within a second of the browser going offline
SAMPLE_MS = 50  # the sampling period for the restart caption

CAPTION_JS = """sel => {
  const root = document.querySelector(sel);
  const caption = root && root.querySelector('.caption');
  return caption && !caption.hidden ? caption.querySelector('.caption-text').textContent : '';
}"""


def caption(page, session: str) -> str:
    return page.evaluate(CAPTION_JS, pane_selector(session))


def wait_ready(page) -> None:
    page.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )


def test_offline_shows_at_once_holds_the_keys_and_online_reconnects(page, server: Server, browser_context) -> None:
    server.tmux.new_session("off")
    open_panes(page, server, "off")
    pane = pane_selector("off")
    try:
        browser_context.set_offline(True)
        page.wait_for_function(
            "sel => (t => t.startsWith('offline'))(document.querySelector(sel + ' .caption-text').textContent)"
            " && !document.querySelector(sel + ' .caption').hidden",
            arg=pane,
            timeout=OFFLINE_CAPTION_S * 1000,
        )
        assert stats(page, "off")["stale"] is True  # the screen is dimmed, not blanked
        assert re.search(PROMPT_RE, page.evaluate("s => window.livepane.screen(s)", "off"))
        page.keyboard.type("echo held-''keys\n")
        wait_until(lambda: "keys waiting" in caption(page, "off"), 2, "the caption to count the keys")
        assert not re.search(r"(?m)^held-keys$", server.tmux.capture("off"))
    finally:
        browser_context.set_offline(False)
    wait_for_state(page, "off", "open")
    assert caption(page, "off") == ""
    wait_for_tmux(server.tmux, "off", r"^held-keys$")
    assert stats(page, "off")["stale"] is False


def test_an_unknown_session_says_so_and_offers_to_create_it(page, server: Server) -> None:
    assert not server.tmux.has_session("brandnew")
    pane = pane_selector("brandnew")
    page.goto(f"{server.origin}/?session=brandnew")
    wait_ready(page)
    page.wait_for_selector(f"{pane} .relaunch:not([hidden])", timeout=10_000)
    assert page.inner_text(f"{pane} .relaunch-text") == "no such session"
    assert page.inner_text(f"{pane} .relaunch-button") == "Create it"
    assert not server.tmux.has_session("brandnew")  # nothing was created behind the user's back

    page.click(f"{pane} .relaunch-button")
    wait_for_state(page, "brandnew", "open")
    wait_for_screen(page, "brandnew", PROMPT_RE)
    assert server.tmux.has_session("brandnew")
    assert page.is_hidden(f"{pane} .relaunch")
    page.keyboard.type("echo created\n")
    wait_for_tmux(server.tmux, "brandnew", r"^created$")


def test_after_exit_the_last_screen_stays_readable_and_every_proxy_is_released(page, server: Server) -> None:
    server.tmux.new_session("last")
    open_panes(page, server, "last")
    pane = pane_selector("last")

    def exit_and_wait() -> str:
        page.keyboard.type("exit\n")
        page.wait_for_selector(f"{pane} .relaunch:not([hidden])", timeout=10_000)
        return page.inner_text(f"{pane} .pane-last-screen")

    page.keyboard.type("echo last-''words\n")
    wait_for_screen(page, "last", r"(?m)^last-words$")
    last = exit_and_wait()
    assert re.search(r"(?m)^last-words$", last), last  # the output the user wanted to read is still there
    assert page.inner_text(f"{pane} .relaunch-text") == "session ended"
    opacity = float(page.locator(f"{pane} .pane-last-screen").evaluate("el => getComputedStyle(el).opacity"))
    assert opacity < 1, "the last screen is not dimmed"
    assert stats(page, "last")["mounted"] is False
    assert page.locator(f"{pane} .xterm").count() == 0, "the terminal was not unmounted"
    page_proxies = page.evaluate("window.livepane.liveProxies()")  # only the page's own are left

    page.click(f"{pane} .relaunch-button")
    wait_for_state(page, "last", "open")
    wait_for_screen(page, "last", PROMPT_RE)
    assert page.is_hidden(f"{pane} .pane-last-screen")
    assert page.evaluate("window.livepane.liveProxies()") > page_proxies  # the mount's own
    exit_and_wait()
    assert page.evaluate("window.livepane.liveProxies()") == page_proxies, "a mount leaked a proxy"
    assert page.evaluate("window.livepane.liveSockets()") == 0


def test_the_caption_reads_steadily_through_a_restart(page, server: Server) -> None:
    """SIGTERM (1012), a few fast retries against the closed port, start again: the caption comes up once, reads
    "server restarting…" the whole time, and goes once the pane is open. Sampled every 50 ms in the page and on
    every DOM change."""
    server.tmux.new_session("steady")
    open_panes(page, server, "steady")
    record_history(page, "steady")
    page.evaluate(
        """([sel, ms]) => {
          const read = """
        + CAPTION_JS
        + """;
          window.__samples = [read(sel)];
          window.__sampler = setInterval(() => window.__samples.push(read(sel)), ms);
        }""",
        [pane_selector("steady"), SAMPLE_MS],
    )
    attempts = stats(page, "steady")["attempts"]
    server.stop()
    # Down long enough for several failed fast retries: the window's flicker came from those.
    wait_until(lambda: stats(page, "steady")["attempts"] >= attempts + 3, 10, "three attempts while down")
    server.start()
    wait_until(lambda: stats(page, "steady")["opens"] == 2, 15, "the reopen")
    wait_for_state(page, "steady", "open")
    time.sleep(3 * SAMPLE_MS / 1000)  # a few more samples after the open: the observation window, not a wait
    samples = page.evaluate("clearInterval(window.__sampler), window.__samples")

    def changes(texts: list[str]) -> list[str]:
        seen = [texts[0]]
        for text in texts[1:]:
            if text != seen[-1]:
                seen.append(text)
        return seen

    sampled = changes(samples)
    observed = changes([h["caption"] for h in history(page)])
    assert "server restarting…" in sampled, sampled
    assert len(sampled) - 1 <= 2, f"the caption changed {len(sampled) - 1} times: {sampled}"
    assert len(observed) - 1 <= 2, f"the caption changed {len(observed) - 1} times: {observed}"
