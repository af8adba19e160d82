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
    # The pane's tmux client, once tmux lists it (under load it may be listed a moment after the pane opened).
    client = wait_until(lambda: server.tmux.run("list-clients", "-t", "=osc52", "-F", "#{client_name}").split(), 10,
                        "the pane's tmux client")[0]
    server.tmux.run("set-buffer", "-w", "-t", client, "hello from tmux")
    wait_until(lambda: read_clipboard(clipboard) == "hello from tmux", 10, "tmux's buffer in the clipboard")
    assert server.tmux.run("show-buffer") == "hello from tmux"


@pytest.mark.parametrize("keys", ["Control+Shift+V", "Control+V"])
def test_paste_keys_paste_once(clipboard, server: Server, keys: str) -> None:
    """Pasted at the shell's prompt, as a user does: bash has bracketed paste on there, so a ^V sent before the paste
    (the old Ctrl+V) would quote its ESC and garble the command. (Pasting the instant `cat` starts raced xterm's
    bracketed-paste mode, which tmux updates on its next redraw: `cat` got the `ESC[200~` marker.)"""
    session = "paste" + keys.replace("+", "").lower()
    server.tmux.new_session(session)
    open_panes(clipboard, server, session)
    write_clipboard(clipboard, "echo pasted-$((6*7))")
    clipboard.keyboard.press(keys)
    clipboard.keyboard.press("Enter")
    wait_until(lambda: "pasted-42" in server.tmux.capture(session), 10, "the pasted command's output")
    outputs = [line for line in server.tmux.capture(session).splitlines() if line.strip() == "pasted-42"]
    assert outputs == ["pasted-42"]  # run once, and nothing before it on the command line


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
