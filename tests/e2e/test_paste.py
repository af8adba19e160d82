"""Issue 10, item 3: a paste over 64 KiB arrives whole (the pane splits it into frames under the server's limit)
instead of closing the socket with 1009 and reaching the shell as nothing."""

from __future__ import annotations

from livepane_e2e import Server, open_panes, pane_selector, stats, wait_for_screen
from support import wait_until

LINE = "x" * 98 + "\n"  # short lines: a canonical-mode tty keeps at most 4095 bytes of one line
PASTE = LINE * 1500  # 148,500 bytes: three frames' worth

# A real paste: xterm's textarea gets a paste event (xterm turns each newline into the CR a keyboard sends).
PASTE_JS = """(textarea, text) => {
    const data = new DataTransfer();
    data.setData("text/plain", text);
    textarea.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
}"""


def test_a_paste_over_64_kib_arrives_whole(page, server: Server, tmp_path) -> None:
    server.tmux.new_session("paste")
    open_panes(page, server, "paste")
    target = tmp_path / "pasted"
    page.keyboard.type(f"stty -echo; cat > {target}\n")
    wait_until(lambda: target.exists(), 10, "cat to start")
    page.locator(f"{pane_selector('paste')} textarea").evaluate(PASTE_JS, PASTE)
    wait_until(lambda: target.stat().st_size >= len(PASTE), 60, f"{len(PASTE)} bytes in {target}")
    page.keyboard.press("Control+D")
    page.keyboard.type("stty echo; echo done\n")
    wait_for_screen(page, "paste", r"(?m)^done$")
    assert target.read_text() == PASTE
    s = stats(page, "paste")
    assert s["opens"] == 1, "the socket was closed (1009?) and reopened"
    assert s["input_dropped_bytes"] == 0
