"""Take the README's screenshots: a pane open, and the same pane counting down while the server is down.

Usage: ``.venv/bin/python docs/screenshot.py`` (writes docs/screenshot-open.png and docs/screenshot-reconnecting.png).
It drives the same harness as the end-to-end tests (tests/e2e/livepane_e2e.py): its own ``serve.py`` on a free port
with a private tmux server, and Debian Chromium; nothing is left running.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent / "tests"), str(DOCS.parent / "tests" / "e2e")]

from livepane_e2e import TOKEN, Tmux, make_server, open_panes, pane_selector, screen  # noqa: E402 - lives with the tests
from support import CHROMIUM, CHROMIUM_ARGS, free_port, wait_until  # noqa: E402

SESSION = "demo"
VIEWPORT = {"width": 960, "height": 540}
DEMO_LINES = (
    r"PS1='\[\e[1;32m\]you@livepane\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '; clear",
    "cd pyclient 2>/dev/null || cd /tmp; ls -l",
    "printf '\\e[33mthe pane survives server restarts: no page refresh\\e[0m\\n'",
)


def main() -> None:
    tmux = Tmux(f"livepane-screenshot-{os.getpid()}")
    tmux.new_session(SESSION)
    with tempfile.TemporaryDirectory() as workdir:
        server = make_server(free_port(), tmux, Path(workdir))
        try:
            server.start()
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    str(Path(workdir) / "profile"),
                    executable_path=CHROMIUM,
                    args=CHROMIUM_ARGS,
                    headless=True,
                    viewport=VIEWPORT,
                )
                page = context.new_page()
                page.goto(f"{server.origin}/?token={TOKEN}")  # exchanges the token for the cookie
                open_panes(page, server, SESSION)
                for number, line in enumerate(DEMO_LINES, 1):
                    page.keyboard.type(line + "\n")
                    # Type the next line at the next prompt: typed ahead, bash's echo lands inside ls's output.
                    wait_until(
                        lambda n=number: screen(page, SESSION).count("you@livepane") >= n, 10, f"prompt {number}"
                    )
                wait_until(
                    lambda: "no page refresh" in screen(page, SESSION).split("printf", 1)[-1], 10, "the demo output"
                )
                page.screenshot(path=str(DOCS / "screenshot-open.png"))

                server.stop(signal.SIGKILL)
                caption = f"{pane_selector(SESSION)} .caption-text"
                wait_until(
                    lambda: re.match(r"reconnecting in [2-9] s…", page.inner_text(caption) or ""), 15, "the countdown"
                )
                page.screenshot(path=str(DOCS / "screenshot-reconnecting.png"))
                context.close()
        finally:
            server.close()
            tmux.kill_server()
    print(f"wrote {DOCS / 'screenshot-open.png'} and {DOCS / 'screenshot-reconnecting.png'}")


if __name__ == "__main__":
    main()
