"""Issue 13, clipboard: tmux's copies reach the browser clipboard (OSC 52), and the copy/paste keys
(pyclient/keys.py) copy the selection and paste exactly once, through the pane's own input path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from livepane_e2e import Server, open_panes, pane_selector, wait_for_screen
from support import wait_until


@pytest.fixture
def clipboard(browser_context: Any, server: Server, page: Any) -> Iterator[Any]:
    """The page, allowed to read and write the clipboard (as a user's click on the browser's prompt would)."""
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)
    try:
        yield page
    finally:
        browser_context.clear_permissions()


def read_clipboard(page: Any) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def write_clipboard(page: Any, text: str) -> None:
    page.evaluate("t => navigator.clipboard.writeText(t)", text)


def test_tmux_set_buffer_lands_in_the_browser_clipboard(clipboard, server: Server) -> None:
    server.tmux.new_session("osc52")
    open_panes(clipboard, server, "osc52")
    write_clipboard(clipboard, "before")
    client = server.tmux.run("list-clients", "-t", "=osc52", "-F", "#{client_name}").split()[0]
    server.tmux.run("set-buffer", "-w", "-t", client, "hello from tmux")
    wait_until(lambda: read_clipboard(clipboard) == "hello from tmux", 10, "tmux's buffer in the clipboard")
    assert server.tmux.run("show-buffer") == "hello from tmux"


def _cat_into(page: Any, server: Server, session: str, target: Any) -> None:
    # -iexten: a ^V is a byte like any other (else the tty's lnext takes it and quotes the next one away).
    page.keyboard.type(f"stty -echo -iexten; cat > {target}\n")
    wait_until(lambda: server.tmux.current_command(session) == "cat", 10, "cat to run")


def _end_cat(page: Any, server: Server, session: str) -> None:
    page.keyboard.press("Control+D")
    wait_until(lambda: server.tmux.current_command(session) == "bash", 10, "cat to end")
    page.keyboard.type("stty echo iexten\n")


@pytest.mark.parametrize("keys", ["Control+Shift+V", "Control+V"])
def test_paste_keys_paste_once(clipboard, server: Server, tmp_path, keys: str) -> None:
    session = "paste" + keys.replace("+", "").lower()
    server.tmux.new_session(session)
    open_panes(clipboard, server, session)
    write_clipboard(clipboard, "pasted line\n")
    target = tmp_path / "pasted"
    _cat_into(clipboard, server, session, target)
    clipboard.keyboard.press(keys)
    wait_until(lambda: target.exists() and target.read_text() == "pasted line\n", 10, f"the paste in {target}")
    _end_cat(clipboard, server, session)
    assert target.read_text() == "pasted line\n"  # once, and no ^V before it


def test_ctrl_alt_v_sends_a_literal_ctrl_v(clipboard, server: Server, tmp_path) -> None:
    server.tmux.new_session("literal")
    open_panes(clipboard, server, "literal")
    write_clipboard(clipboard, "not this")
    target = tmp_path / "byte"
    clipboard.keyboard.type(f"stty raw -echo; head -c 1 > {target}; stty sane\n")
    wait_until(lambda: server.tmux.current_command("literal") == "head", 10, "head to run")
    clipboard.keyboard.press("Control+Alt+V")
    wait_until(lambda: server.tmux.current_command("literal") == "bash", 10, "head to read its byte")
    assert target.read_bytes() == b"\x16"


def test_ctrl_shift_c_copies_the_selection(clipboard, server: Server) -> None:
    server.tmux.new_session("copy")
    open_panes(clipboard, server, "copy")
    write_clipboard(clipboard, "before")
    clipboard.keyboard.type("echo COPY''ME; cat\n")
    wait_for_screen(clipboard, "copy", r"(?m)^COPYME$")
    wait_until(lambda: server.tmux.current_command("copy") == "cat", 10, "cat to run")
    word = clipboard.locator(f"{pane_selector('copy')} .xterm-rows span").get_by_text("COPYME", exact=True).last
    box = word.bounding_box()
    clipboard.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # xterm selects the word
    clipboard.keyboard.press("Control+Shift+C")
    wait_until(lambda: read_clipboard(clipboard) == "COPYME", 10, "the selection in the clipboard")
    assert server.tmux.current_command("copy") == "cat"  # no ^C reached the terminal
    clipboard.keyboard.press("Control+C")
