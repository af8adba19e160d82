"""Issue 9 item 5: ``serve.py --upstream ws://…/ws`` in front of one ttyd. The URL it prints opens that terminal's pane.

The proxy connects bare (no ``--upstream-token``), so it has no session API: ``api/sessions`` answers 501 and the
page mounts the default session. The ttyd is tests/e2e/ttyd_standin.py (ttyd's wire protocol, a real ``tmux attach``
on a PTY), since ttyd is not in Debian here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from launch import ServeProcess, Tmux
from livepane_e2e import BOOT_TIMEOUT_S, PROMPT_RE, PageRecord, pane_selector, wait_for_screen, wait_for_state
from support import free_port, port_accepts, wait_until

STANDIN = Path(__file__).with_name("ttyd_standin.py")
PRINTED_URL_RE = re.compile(r"open (http://\S+/\?token=\S+)")


@pytest.fixture(scope="module")
def ttyd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Tmux, int]]:
    tmux = Tmux(f"p-pane-e2e-proxy-{os.getpid()}")
    tmux.new_session("term")
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STANDIN), str(port), tmux.socket_name, "term"])
    try:
        wait_until(lambda: proc.poll() is not None or port_accepts(port), 15, "the ttyd stand-in to listen")
        assert proc.poll() is None, "the ttyd stand-in exited"
        yield tmux, port
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        tmux.kill_server()


@pytest.fixture
def proxy(ttyd: tuple[Tmux, int], tmp_path: Path) -> Iterator[ServeProcess]:
    tmux, port = ttyd
    # No token given: it makes one and prints the URL, as a user runs it. Its state stays in this test's folder.
    srv = ServeProcess(
        tmux,
        tmp_path / "proxy",
        "--upstream",
        f"ws://127.0.0.1:{port}/ws",
        token=None,
        default_session=None,
        env={"XDG_STATE_HOME": str(tmp_path / "state")},
    )
    try:
        yield srv.start()
    finally:
        srv.close()


def test_the_printed_url_of_a_proxy_in_front_of_one_ttyd_shows_its_pane(
    browser_context, proxy: ServeProcess, ttyd: tuple[Tmux, int]
) -> None:
    tmux, _ = ttyd
    printed = wait_until(lambda: PRINTED_URL_RE.search(proxy.log()), 10, "the printed URL").group(1)
    tab = browser_context.new_page()
    record = PageRecord()
    tab.on("pageerror", lambda error: record.errors.append(str(error)))
    try:
        tab.goto(printed)
        tab.wait_for_function(
            "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
        )
        sessions = tab.evaluate("window.livepane.sessions()")
        assert len(sessions) == 1, f"the page mounted {sessions}"
        (session,) = sessions
        assert tab.locator(pane_selector(session)).count() == 1
        wait_for_state(tab, session, "open")
        wait_for_screen(tab, session, PROMPT_RE)  # the ttyd's terminal: tmux session "term" behind it
        tab.keyboard.type("echo through-the-''proxy\n")
        wait_until(lambda: re.search(r"(?m)^through-the-proxy$", tmux.capture("term")), 5, "the input in tmux")
        wait_for_screen(tab, session, r"(?m)^through-the-proxy$")
        # A ttyd advertises no livepane protocol: the page never sends it a SCROLL frame (it would not know one), and
        # the wheel does what ttyd's own page does: an Up arrow, recalling the last command.
        box = tab.locator(f"{pane_selector(session)} .pane-body").bounding_box()
        tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tab.mouse.wheel(0, -100)
        wait_until(lambda: tmux.capture("term").rstrip().endswith("echo through-the-''proxy"), 5, "an Up arrow")
        assert tab.evaluate("s => window.livepane.stats(s).scroll_frames", session) == 0
        assert tmux.display("term", "#{pane_in_mode}") == "0"
        assert not record.errors, record.errors
    finally:
        tab.close()
