"""Issue 13, first piece: what tmux holds reaches the page as it is (truecolor)."""

from __future__ import annotations

from livepane_e2e import Server, open_panes, pane_selector, wait_for_screen


def test_an_rgb_colour_reaches_xterms_dom_as_that_rgb(page, server: Server) -> None:
    server.tmux.new_session("rgb")
    open_panes(page, server, "rgb")
    # printf assembles the sequence, so the typed line (echoed by the shell) does not carry it.
    page.keyboard.type("printf '\\033[38;2;%d;%d;%dm%s\\033[0m\\n' 255 100 0 RGBMARK\n")
    wait_for_screen(page, "rgb", r"(?m)^RGBMARK")
    # The output's coloured run is a span of its own (the typed command line holds RGBMARK too, uncoloured).
    cell = page.locator(f"{pane_selector('rgb')} .xterm-rows span").get_by_text("RGBMARK", exact=True).last
    # Downgraded by tmux, the text came as palette colour 202 (rgb(255, 95, 0)): banded gradients.
    assert cell.evaluate("e => getComputedStyle(e).color") == "rgb(255, 100, 0)"
