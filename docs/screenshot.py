"""Take the README's screenshots: a pane open, a colourful vim, the session bar with two panes, a phone with its key
bar, and the first pane counting down while the server is down.

Usage: ``.venv/bin/python docs/screenshot.py`` (writes docs/screenshot-{open,vim,bar,phone,reconnecting}.png).
It drives the same harness as the end-to-end tests (tests/e2e/livepane_e2e.py): its own ``serve.py`` on a free port
with a private tmux server, and Debian Chromium; nothing is left running.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS.parent / "tests"), str(DOCS.parent / "tests" / "e2e")]

from livepane_e2e import PROMPT_RE, TOKEN, Tmux, make_server, open_panes, pane_selector, screen  # noqa: E402 - lives with the tests
from support import CHROMIUM, CHROMIUM_ARGS, free_port, wait_until  # noqa: E402

SESSION = "demo"
VIEWPORT = {"width": 960, "height": 540}
PHONE = {"width": 390, "height": 844}
# vim with 24-bit colour (tmux passes RGB on: the server attaches with -T RGB), no user config: the same picture on
# any machine. t_8f/t_8b: vim sends RGB only to terminals it knows; inside tmux it must be told how.
VIM = (
    "vim -u NONE -N -c 'syntax on' -c 'set termguicolors number cursorline nowrap laststatus=2 background=dark' "
    "-c 'let &t_8f = \"\\e[38;2;%lu;%lu;%lum\"' -c 'let &t_8b = \"\\e[48;2;%lu;%lu;%lum\"' "
    "-c 'colorscheme desert' -c 'normal! 100Gzt' -c 'vsplit livepane_server/sessions.py' -c 'normal! 60Gzt' "
    "-c 'wincmd l' pyclient/keybar.py"
)
BAR_SESSIONS = ("work", "logs", "build")
LOGS_LINE = "for i in 1 2 3; do printf '\\e[32m%s\\e[0m job %s done\\n' \"$(date +%T)\" $i; done"
PHONE_LINES = ("cd /tmp && ls /usr/share | head -20", "printf '\\e[1;35mCtrl, Alt, Esc, Tab and arrows below\\e[0m\\n'")
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

                # A colourful vim in a session of its own, then back to the demo (the same page: no reload).
                tmux.new_session("vim", shell=f"bash --norc --noprofile -c {shlex.quote(f'cd {ROOT} && {VIM}')}")
                page.click('#sessions .bar-entry[data-session="vim"] a')
                wait_until(lambda: "sessions.py" in screen(page, "vim") and "keybar.py" in screen(page, "vim"),
                           15, "vim's two windows")
                page.screenshot(path=str(DOCS / "screenshot-vim.png"))

                # The session bar: more sessions, two panes side by side, a name typed into "new session".
                for name in BAR_SESSIONS:
                    tmux.new_session(name)
                tmux.send_keys("logs", LOGS_LINE, "Enter")
                page.click(f'#sessions .bar-entry[data-session="{SESSION}"] a')
                wait_until(lambda: page.locator("#sessions .bar-entry").count() >= 5, 15, "the new sessions in the bar")
                page.click('#sessions .bar-entry[data-session="logs"] .bar-beside')
                wait_until(lambda: "job 3 done" in screen(page, "logs"), 15, "the logs pane")
                page.fill("#sessions .bar-new-name", "notes")
                page.screenshot(path=str(DOCS / "screenshot-bar.png"))
                page.fill("#sessions .bar-new-name", "")

                take_phone_screenshot(playwright, Path(workdir), server)

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
    names = ("open", "vim", "bar", "phone", "reconnecting")
    print("wrote " + ", ".join(str(DOCS / f"screenshot-{name}.png") for name in names))


def take_phone_screenshot(playwright: Any, workdir: Path, server: Any) -> None:
    """A phone (390×844, touch): the pane, its key bar, Ctrl armed."""
    context = playwright.chromium.launch_persistent_context(
        str(workdir / "phone-profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=PHONE,
        has_touch=True,
        is_mobile=True,
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{server.origin}/?token={TOKEN}")
        open_panes(page, server, "build")
        page.wait_for_selector("#keybar .key", state="visible")
        for number, line in enumerate(PHONE_LINES, 2):
            page.keyboard.type(line + "\n")
            # The next line at the next prompt: typed ahead, bash's echo lands inside the output.
            wait_until(lambda n=number: len(PROMPT_RE.findall(screen(page, "build"))) >= n, 10, f"prompt {number}")
        wait_until(lambda: "arrows below" in screen(page, "build").split("printf", 1)[-1], 10, "the phone's output")
        page.tap('#keybar [data-mod="ctrl"]')
        page.screenshot(path=str(DOCS / "screenshot-phone.png"))
    finally:
        context.close()


if __name__ == "__main__":
    main()
