"""Stories 2, 4, 5, 8 and 10: the server restarts, reloads and comes back; the page never does."""

from __future__ import annotations

import re

from livepane_e2e import (
    PROMPT_RE,
    Server,
    history,
    open_panes,
    record_history,
    screen,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import wait_until

# The terminal lives in a shadow root: look through it for the focused element.
FOCUSED_IN_XTERM = """(() => {
  let active = document.activeElement;
  while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
  return !!active && active.classList.contains('xterm-helper-textarea');
})()"""


def restart(server: Server, *, while_down: tuple[str, ...] = ()) -> None:
    """SIGTERM (every socket gets 1012) and start again. While the server is down, each session in ``while_down``
    prints ``while-down``: only tmux's repaint on the new connection can bring it to the page."""
    server.stop()
    for session in while_down:
        server.tmux.run("send-keys", "-t", f"={session}:", "echo while-''down", "Enter")
        wait_for_tmux(server.tmux, session, r"^while-down$")
    server.start()


def test_restart_reconnects_in_place_without_reloading_the_page(page, server: Server) -> None:
    """Story 2: SIGTERM and start again on the same port: the caption shows the reconnect, the pane comes back open
    with its screen, the page never navigated and the focus stayed in the terminal."""
    server.tmux.new_session("s2")
    open_panes(page, server, "s2")
    page.keyboard.type("echo hello\n")
    wait_for_screen(page, "s2", r"(?m)^hello$")
    page.evaluate("window.marker = 1")
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")
    assert page.evaluate(FOCUSED_IN_XTERM)
    record_history(page, "s2")

    restart(server, while_down=("s2",))

    wait_until(lambda: stats(page, "s2")["opens"] == 2, 10, "the second open")
    wait_for_state(page, "s2", "open")
    wait_for_screen(page, "s2", r"(?m)^while-down$")  # repainted from tmux, not left over
    assert re.search(r"(?m)^hello$", screen(page, "s2"))
    captions = [h["caption"] for h in history(page) if h["caption"]]
    assert "server restarting…" in captions, captions  # the 1012 window: steady, no countdown
    assert page.evaluate("window.marker") == 1
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations
    assert page.evaluate(FOCUSED_IN_XTERM), "the reconnect moved the focus"
    assert page.is_hidden('section.pane[data-session="s2"] .caption')
    assert page.evaluate("window.livepane.liveSockets()") == 1, "the old socket's proxies were not released"


def test_zero_downtime_reload_needs_no_failed_attempt(page, server: Server) -> None:
    """Story 4: SIGHUP hands the listening socket to a successor; the pane reopens on its first attempt."""
    server.tmux.new_session("s4")
    open_panes(page, server, "s4")
    before = stats(page, "s4")
    record_history(page, "s4")

    new_pid = server.reload()

    wait_until(lambda: stats(page, "s4")["opens"] == before["opens"] + 1, 10, "the reopen after the reload")
    wait_for_state(page, "s4", "open")
    after = stats(page, "s4")
    assert after["attempts"] == before["attempts"] + 1, "more than one attempt: one of them failed"
    assert max(h["failures"] for h in history(page)) == 0, history(page)
    assert server.pid == new_pid
    wait_for_screen(page, "s4", PROMPT_RE)
    page.keyboard.type("echo reloaded\n")
    wait_for_tmux(server.tmux, "s4", r"^reloaded$")


def test_keys_typed_while_the_server_is_down_arrive_in_order(page, server: Server) -> None:
    """Story 5: keystrokes are held while down and flushed, in order, right after the reopen's handshake."""
    server.tmux.new_session("s5")
    open_panes(page, server, "s5")
    server.stop()
    wait_until(lambda: stats(page, "s5")["state"] != "open", 5, "the pane to notice the stop")
    page.keyboard.type("echo one-$((40+2))\n")
    page.keyboard.type("echo two\n")
    assert stats(page, "s5")["held_bytes"] > 0
    server.start()
    wait_for_state(page, "s5", "open")
    text = wait_for_tmux(server.tmux, "s5", r"^two$")
    lines = text.splitlines()
    assert lines.index("one-42") < lines.index("two")
    assert stats(page, "s5")["held_bytes"] == 0


def test_two_panes_on_one_page_both_recover(page, server: Server) -> None:
    """Story 8: two sessions side by side on one Pyodide runtime; a restart brings both back."""
    for session in ("s8a", "s8b"):
        server.tmux.new_session(session)
    open_panes(page, server, "s8a", "s8b")
    boxes = [page.locator(f'section.pane[data-session="{s}"]').bounding_box() for s in ("s8a", "s8b")]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"], "the panes are side by side"
    page.click('section.pane[data-session="s8b"] .xterm')
    page.keyboard.type("echo in-b\n")
    wait_for_tmux(server.tmux, "s8b", r"^in-b$")

    restart(server, while_down=("s8a", "s8b"))

    for session in ("s8a", "s8b"):
        wait_until(lambda s=session: stats(page, s)["opens"] == 2, 10, f"{session} to reopen")
        wait_for_state(page, session, "open")
        wait_for_screen(page, session, r"(?m)^while-down$")  # each pane repainted from tmux
    wait_for_screen(page, "s8b", r"(?m)^in-b$")
    assert "in-b" not in screen(page, "s8a")


def test_three_restarts_leave_no_stray_terminal_replies_at_the_prompt(page, server: Server) -> None:
    """Story 10: tmux queries the terminal on every attach; the answers go to the connection that asked and are
    never typed into the shell (a peer printed "0;276;0c" at the prompt after each reconnect)."""
    server.tmux.new_session("s10")
    open_panes(page, server, "s10")
    for number in range(1, 4):
        restart(server)
        wait_until(lambda n=number: stats(page, "s10")["opens"] == n + 1, 10, f"reopen {number}")
        wait_for_state(page, "s10", "open")
    wait_for_screen(page, "s10", PROMPT_RE)
    # Anything stray would sit on the command line before what we type now.
    page.keyboard.type("echo clean\n")
    text = wait_for_tmux(server.tmux, "s10", r"^clean$")
    command_lines = [line for line in text.splitlines() if "echo clean" in line]
    assert len(command_lines) == 1 and re.fullmatch(r"bash-\d+\.\d+[#$] echo clean", command_lines[0]), command_lines
    assert "0;276" not in text and ";0c" not in text
    assert "0;276" not in screen(page, "s10")
    s = stats(page, "s10")
    assert s["replies_sent"] >= 1, "tmux asked nothing: this test would prove nothing"
