"""Take the README's screenshots: a pane open, and the same pane counting down while the server is down.

Usage: ``.venv/bin/python docs/screenshot.py`` (writes docs/screenshot-open.png and docs/screenshot-reconnecting.png).
It starts its own ``serve.py`` on a free port with a private tmux server and Debian Chromium; nothing is left running.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = os.environ.get("LIVEPANE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "screenshot"
SESSION = "demo"
VIEWPORT = {"width": 960, "height": 540}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def main() -> None:
    port = free_port()
    tmux_socket = f"livepane-screenshot-{os.getpid()}"
    tmux = ["tmux", "-L", tmux_socket]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", "bash --norc --noprofile"], check=True
    )
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "serve.py"),
                f"--port={port}",
                f"--token={TOKEN}",
                f"--tmux-socket={tmux_socket}",
                "--shell=bash --norc --noprofile",
                f"--default-session={SESSION}",
                "--log-level=warning",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 15, "serve.py")
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    workdir, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT
                )
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
                page.wait_for_function(
                    "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=30_000
                )
                pane = f'section.pane[data-session="{SESSION}"]'
                page.wait_for_selector(f'{pane}[data-state="open"]')
                screen = lambda: page.evaluate("s => window.livepane.screen(s)", SESSION)  # noqa: E731
                wait_until(lambda: re.search(r"bash-\d", screen()), 10, "the prompt")
                for line in (
                    r"PS1='\[\e[1;32m\]you@livepane\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '; clear",
                    "cd pyclient 2>/dev/null || cd /tmp; ls -l",
                    "printf '\\e[33mthe pane survives server restarts: no page refresh\\e[0m\\n'",
                ):
                    page.keyboard.type(line + "\n")
                wait_until(lambda: "no page refresh" in screen().split("printf", 1)[-1], 10, "the demo output")
                page.screenshot(path=str(DOCS / "screenshot-open.png"))

                server.send_signal(signal.SIGKILL)
                server.wait()
                wait_until(
                    lambda: re.match(r"reconnecting in [2-9] s…", page.inner_text(f"{pane} .caption-text") or ""),
                    15,
                    "the countdown",
                )
                page.screenshot(path=str(DOCS / "screenshot-reconnecting.png"))
                context.close()
        finally:
            if server.poll() is None:
                server.terminate()
                server.wait()
            subprocess.run([*tmux, "kill-server"], check=False)
    print(f"wrote {DOCS / 'screenshot-open.png'} and {DOCS / 'screenshot-reconnecting.png'}")


if __name__ == "__main__":
    main()
