"""Issue 13, scrollback: the wheel over a pane scrolls tmux's history whatever the session's `mouse` option, and text
can still be selected for the browser's clipboard.

- `mouse off` (tmux's default): tmux asks for no mouse reports, so xterm.js would turn the wheel into Up/Down arrows
  (tmux runs in the alternate screen) and the prompt would fill with old commands. The page asks serve.py to scroll
  the pane in tmux's copy mode instead (docs/protocol.md §2, SCROLL).
- `mouse on`: xterm.js reports the wheel to tmux as mouse events and tmux scrolls by itself.
- Either way scrolling back down leaves copy mode at the bottom (`copy-mode -e`), and typing reaches the shell.
- Selection: a plain drag selects in xterm.js with `mouse off`; with `mouse on` a drag goes to tmux, and Shift+drag
  still selects in xterm.js.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from livepane_e2e import PROMPT_RE, Server, open_panes, pane_selector, screen, wait_for_screen, wait_for_tmux
from support import wait_until

LINES = 200
PRINT_LINES = f"seq -f 'row%03g' 1 {LINES}\n"  # the typed command holds no "rowNNN" of its own
# One of the first 40 of 200: history, far above the live screen. tmux's copy mode pads its rows with blanks and puts
# its position ("[20/171]") at the end of the first.
EARLY_ROW = re.compile(r"(?m)^row0[0-3]\d\b")
WHEEL_PX = 300  # one wheel event: about three notches of a mouse wheel in Chromium
SCROLL_TIMEOUT_S = 30.0


def pane_centre(page: Any, session: str) -> tuple[float, float]:
    box = page.locator(f"{pane_selector(session)} .pane-body").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def wheel_until(
    page: Any, session: str, delta_y: float, done: Any, what: str, at: tuple[float, float] | None = None
) -> Any:
    """Wheel over the pane (its centre, or ``at``), one event per poll, until ``done()`` holds (each poll waits for the
    page to settle)."""
    page.mouse.move(*(at or pane_centre(page, session)))

    def step() -> Any:
        value = done()
        if not value:
            page.mouse.wheel(0, delta_y)
        return value

    return wait_until(step, SCROLL_TIMEOUT_S, what, interval_s=0.1)


def in_mode(server: Server, session: str) -> bool:
    return server.tmux.display(session, "#{pane_in_mode}") == "1"


def prompt_is_empty(server: Server, session: str) -> bool:
    """The pane's own last line (not copy mode's view) is a bare prompt: no old command recalled onto it."""
    lines = [line for line in server.tmux.capture(session).splitlines() if line.strip()]
    return bool(lines) and re.fullmatch(PROMPT_RE.pattern.rstrip() + r"\s*", lines[-1]) is not None


def print_history(page: Any, server: Server, session: str, mouse: str) -> None:
    server.tmux.new_session(session)
    server.tmux.run("set-option", "-t", f"={session}:", "mouse", mouse)
    open_panes(page, server, session)
    page.keyboard.type(PRINT_LINES)
    wait_for_screen(page, session, rf"(?m)^row{LINES:03d}$")
    wait_until(lambda: prompt_is_empty(server, session), 5, "the prompt after the rows")


@pytest.mark.parametrize("mouse", ["off", "on"])
def test_the_wheel_scrolls_tmux_history_and_back_to_a_live_prompt(page, server: Server, mouse: str) -> None:
    session = f"wheel-{mouse}"
    print_history(page, server, session, mouse)

    wheel_until(page, session, -WHEEL_PX, lambda: EARLY_ROW.search(screen(page, session)), "an early row on the page")
    assert in_mode(server, session), "the history shown is not tmux's copy mode"
    assert prompt_is_empty(server, session), "the wheel recalled old commands onto the prompt"

    wheel_until(page, session, WHEEL_PX, lambda: not in_mode(server, session), "copy mode left at the bottom")
    wait_for_screen(page, session, rf"(?m)^row{LINES:03d}\n{PROMPT_RE.pattern}$")
    assert prompt_is_empty(server, session)
    page.keyboard.type("echo typed-''after-scroll\n")
    wait_for_tmux(server.tmux, session, r"^typed-after-scroll$")


def pane_in_mode(server: Server, pane_id: str) -> bool:
    return server.tmux.run("display-message", "-p", "-t", pane_id, "#{pane_in_mode}").strip() == "1"


def test_the_wheel_scrolls_the_tmux_pane_under_the_pointer_in_a_split_window(page, server: Server) -> None:
    """A window split side by side, the right pane active: the wheel over the left one scrolls the left one's history
    (and leaves it inactive), as tmux's own wheel does; typing still goes to the right one."""
    session = "wheel-split"
    print_history(page, server, session, "off")
    left = server.tmux.display(session, "#{pane_id}")
    server.tmux.run("split-window", "-h", "-t", f"={session}:", *shlex.split(server.tmux.shell))
    right = server.tmux.display(session, "#{pane_id}")
    wait_for_screen(page, session, "│")  # the border drawn: the page shows the split
    box = page.locator(f"{pane_selector(session)} .xterm-screen").bounding_box()
    over_left = (box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.4)  # a cell of the left half
    wheel_until(page, session, -WHEEL_PX, lambda: pane_in_mode(server, left), "the left pane in copy mode", over_left)
    assert not pane_in_mode(server, right), "the active pane scrolled"
    assert server.tmux.display(session, "#{pane_id}") == right, "the wheel made the left pane active"
    wheel_until(page, session, -WHEEL_PX, lambda: EARLY_ROW.search(screen(page, session)), "an early row", over_left)
    page.keyboard.type("echo typed-''in-the-right-pane\n")
    typed = "typed-in-the-right-pane"
    wait_until(lambda: typed in server.tmux.run("capture-pane", "-p", "-t", right), 10, "typing on the right")


def drag_over_first_row(page: Any, session: str, *, shift: bool) -> None:
    """Drag from the left edge of the pane's first row to the middle of its second row."""
    rows = page.locator(f"{pane_selector(session)} .xterm-rows > div")
    first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    if shift:
        page.keyboard.down("Shift")
    try:
        page.mouse.move(first["x"] + 2, first["y"] + first["height"] / 2)
        page.mouse.down()
        page.mouse.move(second["x"] + second["width"] / 2, second["y"] + second["height"] / 2, steps=5)
        page.mouse.up()
    finally:
        if shift:
            page.keyboard.up("Shift")


def selection(page: Any, session: str) -> str:
    return page.evaluate("s => window.livepane.selection(s)", session)


@pytest.mark.parametrize(("mouse", "shift"), [("off", False), ("on", True)])
def test_a_drag_selects_text_in_xterm(page, server: Server, mouse: str, shift: bool) -> None:
    session = f"select-{mouse}"
    server.tmux.new_session(session)
    server.tmux.run("set-option", "-t", f"={session}:", "mouse", mouse)
    open_panes(page, server, session)
    page.keyboard.type("clear; echo firstrow-''selectable\n")
    wait_for_screen(page, session, r"(?m)^firstrow-selectable$")
    drag_over_first_row(page, session, shift=shift)
    wait_until(lambda: "firstrow-" in selection(page, session), 5, "the dragged text selected in xterm")
    assert not in_mode(server, session), "the drag went to tmux instead"


def test_the_pane_says_how_to_scroll_and_select(page, server: Server) -> None:
    server.tmux.new_session("hint")
    open_panes(page, server, "hint")
    hint = page.locator(f"{pane_selector('hint')} .pane-header").get_attribute("title") or ""
    assert "wheel" in hint.lower() and "shift" in hint.lower(), hint
