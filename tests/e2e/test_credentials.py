"""Stories of the stored token (issue 9 item 1): serve.py restarted the way `make run` does (no --token, the same
state folder) brings every pane back with the keys typed meanwhile; a rotated token stops the pane with the reason.

This module's serve.py runs without a token: it makes one in its own state folder (tests/launch.py points
XDG_STATE_HOME at the module's work folder) and each test opens the URL it printed, as a user would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from launch import ServeProcess
from livepane_e2e import (
    Server,
    Tmux,
    open_panes,
    screen,
    stats,
    wait_for_screen,
    wait_for_state,
    wait_for_tmux,
)
from support import wait_until

from livepane_server.app import ROTATED_TEXT


def stored_token_server(port: int, tmux: Tmux, workdir) -> ServeProcess:
    return ServeProcess(tmux, workdir, port=port, token=None, default_session=None, log_level="debug")


@pytest.fixture(scope="module")
def server(e2e_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmux = Tmux(f"livepane-e2e-h1-credentials-{e2e_port}")
    srv = stored_token_server(e2e_port, tmux, tmp_path_factory.mktemp("credentials"))
    try:
        yield srv.start()
    finally:
        srv.close()
        tmux.kill_server()


def log_in(browser_context: Any, server: Server) -> str:
    """Open the URL serve.py printed (its 303 sets the cookie); returns it."""
    url = wait_until(server.printed_url, 10, "the printed URL")
    response = browser_context.request.get(url, max_redirects=0)
    assert response.status == 303, response.text()
    return url


def test_a_restart_without_a_token_brings_the_pane_back_with_the_keys_typed_meanwhile(
    page, browser_context, server: Server
) -> None:
    url = log_in(browser_context, server)
    server.tmux.new_session("c1")
    open_panes(page, server, "c1")
    page.keyboard.type("echo before-$((20+1))\n")
    wait_for_screen(page, "c1", r"(?m)^before-21$")

    server.stop()  # Ctrl-C on `make run` ...
    wait_until(lambda: stats(page, "c1")["state"] != "open", 5, "the pane to notice the stop")
    page.keyboard.type("echo while-$((40+2))\n")
    server.start()  # ... and `make run` again: no --token, the same state folder

    assert server.printed_url() == url, "a restart printed another URL"
    wait_for_state(page, "c1", "open")
    wait_for_tmux(server.tmux, "c1", r"^while-42$")
    text = wait_for_screen(page, "c1", r"(?m)^while-42$")
    assert re.search(r"(?m)^before-21$", text), text
    assert stats(page, "c1")["held_bytes"] == 0


def test_a_rotated_token_stops_the_pane_and_says_it_was_rotated(page, browser_context, server: Server) -> None:
    log_in(browser_context, server)
    server.tmux.new_session("c2")
    open_panes(page, server, "c2")

    server.stop()
    rotated = ServeProcess(server.tmux, server.workdir, "--rotate-token", port=server.port, token=None,
                           default_session=None, log_level="debug")
    try:
        rotated.start()
        wait_for_state(page, "c2", "closed")
        assert stats(page, "c2")["state"] == "closed"
        caption = page.locator('section.pane[data-session="c2"] .caption-text').text_content()
        # The caption is the server's own line for this 401 (why, and what to open), not a fixed "not authorized".
        assert "rotated" in caption and caption.strip() == ROTATED_TEXT.strip(), caption
        assert any("the access token was rotated" in line for line in page.livepane_record.console), (
            page.livepane_record.console
        )
        refusal = page.request.post(f"{server.origin}/api/ticket", data={"session": "c2"})
        assert (refusal.status, refusal.text()) == (401, ROTATED_TEXT)
        assert screen(page, "c2").strip(), "the last screen stays readable"
    finally:
        rotated.close()
