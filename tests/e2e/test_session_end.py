"""Story 6: `exit` ends the session. The pane offers a relaunch, unmounts, and never connects again; relaunch works."""

from __future__ import annotations

import time

from livepane_e2e import (
    PROMPT_RE,
    Server,
    open_panes,
    pane_selector,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import wait_until

QUIET_WINDOW_S = 10.0  # the assertion itself: no attempt for this long after the session ended
TICKET_LINE = r'"POST /api/ticket '  # access log: every attempt starts with a ticket


def test_exit_offers_a_relaunch_and_no_attempt_follows(page, server: Server) -> None:
    server.tmux.new_session("s6")
    open_panes(page, server, "s6")
    pane = pane_selector("s6")
    page.keyboard.type("exit\n")

    page.wait_for_selector(f"{pane} .relaunch:not([hidden])", timeout=10_000)
    assert page.inner_text(f"{pane} .relaunch-text") == "session ended"
    wait_for_state(page, "s6", "closed")
    assert not server.tmux.has_session("s6")
    assert stats(page, "s6")["mounted"] is False
    assert page.locator(f"{pane} .xterm").count() == 0, "the terminal was not unmounted"
    wait_until(lambda: page.evaluate("window.livepane.liveSockets()") == 0, 2, "every socket to be released")

    # Server side: count ticket requests (one per attempt) in serve.py's access log over the window.
    tickets = len(server.log_lines(TICKET_LINE))
    sockets_seen = len(page.livepane_record.websockets)
    deadline = time.monotonic() + QUIET_WINDOW_S
    while time.monotonic() < deadline:
        assert len(server.log_lines(TICKET_LINE)) == tickets, "an attempt reached the server after the session ended"
        assert len(page.livepane_record.websockets) == sockets_seen
        time.sleep(0.1)  # polling cadence of an observation window, not a wait for a result
    assert page.evaluate("window.livepane.liveSockets()") == 0

    page.click(f"{pane} .relaunch-button")
    wait_for_state(page, "s6", "open")
    wait_for_screen(page, "s6", PROMPT_RE)
    assert server.tmux.has_session("s6")
    assert page.is_hidden(f"{pane} .relaunch")
    page.keyboard.type("echo relaunched\n")  # the fresh pane has the focus
    wait_for_tmux(server.tmux, "s6", r"^relaunched$")
    assert stats(page, "s6")["opens_total"] == 2
