"""Issue 13: what tmux holds reaches the page as it is: colours and attributes, character widths, titles and bell.

Each story asserts on what the page shows and on what tmux holds.
"""

from __future__ import annotations

from urllib.parse import unquote

from livepane_e2e import PROMPT_RE, Server, open_panes, pane_selector, stats, wait_for_screen, wait_for_state
from support import wait_until

from pyclient.titles import BELL_MARK


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


# SGR attributes xterm.js draws that tmux drops unless told (xterm-256color's terminfo has no smxx, Smol, Smulx):
# the attribute, the page's class for it, tmux's feature name.
ATTRIBUTES = [
    ("9", "29", "xterm-strikethrough", "strikethrough"),
    ("53", "55", "xterm-overline", "overline"),
    ("4:3", "4:0", "xterm-underline-3", "usstyle"),  # a curly underline
]


def test_tmux_is_told_what_xterm_draws(page, server: Server) -> None:
    server.tmux.new_session("attrs")
    open_panes(page, server, "attrs")
    # "open" is the socket's: the server attaches tmux's client just after, and the page may already show the
    # preview's prompt (as test_clipboard does, wait for the client to be there).
    listed = wait_until(lambda: server.tmux.run("list-clients", "-t", "=attrs", "-F", "#{client_termfeatures}").strip(),
                        10, "the pane's tmux client")
    features = listed.split(",")
    for name in ("RGB", "clipboard", "title", "ccolour", "cstyle", "focus", "strikethrough", "overline", "usstyle",
                 "sync"):
        assert name in [f.strip() for f in features], f"{name} not in tmux's {features}"
    for on, off, css_class, _ in ATTRIBUTES:
        mark = f"ATTR{css_class[6:].replace('-', '').upper()}"
        page.keyboard.type(f"printf '\\033[{on}m%s\\033[{off}m\\n' {mark}\n")
        wait_for_screen(page, "attrs", rf"(?m)^{mark}")
        cell = page.locator(f"{pane_selector('attrs')} .xterm-rows span").get_by_text(mark, exact=True).last
        assert css_class in cell.evaluate("e => e.className"), f"{mark} lost its attribute in tmux"


def test_the_cursor_after_wide_characters_is_where_tmux_puts_it(page, server: Server) -> None:
    server.tmux.new_session("wide")
    open_panes(page, server, "wide")
    # `cat` holds the cursor right after the output; the y is red so it is a span of its own.
    page.keyboard.type("clear; printf '中文x😀\\033[31my\\033[0m'; cat\n")
    wait_until(lambda: server.tmux.current_command("wide") == "cat", 10, "cat to run")
    tmux_x = int(server.tmux.display("wide", "#{cursor_x}"))
    assert tmux_x == 8  # 中 文 (2 each) x (1) 😀 (2) y (1) by glibc's wcwidth, which tmux uses
    wait_until(lambda: stats(page, "wide")["cursor_y"] == 0 and stats(page, "wide")["cursor_x"] > 0, 10, "output")
    assert stats(page, "wide")["cursor_x"] == tmux_x
    # Where the page draws the y: its left edge, in cells (the row's cells are equal; the cursor is one of them).
    # None until xterm's renderer has drawn the row (it renders on an animation frame after the parse).
    def y_column() -> float | None:
        return page.evaluate(
            """sel => {
                const host = document.querySelector(sel).querySelector('.pane-term');
                const rows = host.shadowRoot.querySelector('.xterm-rows');
                const y = [...rows.firstElementChild.querySelectorAll('span')].find(s => s.textContent === 'y');
                const cursor = rows.querySelector('.xterm-cursor');
                if (!y || !cursor) return null;
                const row = rows.firstElementChild.getBoundingClientRect();
                return (y.getBoundingClientRect().left - row.left) / cursor.getBoundingClientRect().width;
            }""",
            pane_selector("wide"),
        )

    wait_until(lambda: y_column() is not None, 10, "the row with the y drawn")
    assert round(y_column()) == tmux_x - 1
    page.keyboard.press("Control+C")


def pane_header(page, session: str) -> str:
    return page.locator(f"{pane_selector(session)} .pane-title").text_content() or ""


def test_a_title_reaches_the_header_and_the_tab(page, server: Server) -> None:
    server.tmux.new_session("titled")
    open_panes(page, server, "titled")
    page.keyboard.type("printf '\\033]2;my title\\007'\n")
    wait_until(lambda: server.tmux.display("titled", "#{pane_title}") == "my title", 10, "tmux to hold the title")
    wait_until(lambda: pane_header(page, "titled") == "my title", 10, "the title in the pane header")
    wait_until(lambda: page.title() == "titled — my title", 10, f"the tab title (is {page.title()!r})")
    # The favicon says which session, and that it is live: the initial on green (pyclient/titles.py).
    icon = unquote(page.evaluate("document.querySelector('link[rel~=icon]').href"))
    assert icon.startswith("data:image/svg+xml,") and ">T</text>" in icon and "#5fb870" in icon


def test_the_bell_shows(page, server: Server) -> None:
    server.tmux.new_session("bell")
    open_panes(page, server, "bell")
    root = page.locator(pane_selector("bell"))
    assert root.get_attribute("data-bells") in (None, "0")
    page.keyboard.type("printf '\\007'\n")
    wait_until(lambda: root.get_attribute("data-bells") == "1", 10, "the bell to be counted on the pane")
    assert root.get_attribute("data-bell") == "true"  # the header flashes
    # A bell in a window the page does not show: tmux flags that window and passes the bell on (bell-action any).
    server.tmux.run("new-window", "-d", "-t", "=bell:", "-n", "other")
    server.tmux.run("send-keys", "-t", "=bell:other", "printf '\\007'", "Enter")
    flag = ("display-message", "-p", "-t", "=bell:other", "#{window_bell_flag}")
    wait_until(lambda: server.tmux.run(*flag).strip() == "1", 10, "tmux's bell flag on the other window")
    wait_until(lambda: root.get_attribute("data-bells") == "2", 10, "the second bell on the pane")
    assert not page.title().startswith(BELL_MARK)  # the tab is visible: the header's flash is enough
    # A hidden tab (headless Chromium never hides one: the document says so, as the browser would).
    page.evaluate(VISIBILITY_JS, "hidden")
    page.keyboard.type("printf '\\007'\n")
    wait_until(lambda: root.get_attribute("data-bells") == "3", 10, "the third bell on the pane")
    wait_until(lambda: page.title().startswith(BELL_MARK + "bell"), 10, f"the bell in the tab's title ({page.title()})")
    page.evaluate(VISIBILITY_JS, "visible")
    wait_until(lambda: not page.title().startswith(BELL_MARK), 10, "the mark gone once the tab is seen")


VISIBILITY_JS = """state => {
    if (state === "visible") delete document.visibilityState;
    else Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


# A width corpus: what the page and tmux 3.3a (glibc 2.36's wcwidth, no utf8proc) may count differently.
WIDTH_CORPUS = {
    "cjk": "中文",
    "hangul": "한국어",
    "fullwidth": "Ａ",
    "halfwidth-kana": "ｶ",
    "emoji": "😀",
    "emoji-13": "🥲",
    "emoji-14": "🫠",
    "wide-since-9": "⚡",
    "narrow-symbol": "✔",
    "text-default": "☺",
    "vs16": "❤️",
    "skin-tone": "👍🏽",
    "zwj": "👩‍💻",
    "zwj-family": "👨‍👩‍👧",
    "flag": "🇫🇷",
    "rainbow-flag": "🏳️‍🌈",
    "zwj-gender": "🤷‍♂️",
    "zwj-skin-tone": "👩🏽‍💻",
    "keycap": "1️⃣",
    "combining-acute": "é",
    "devanagari": "नमस्ते",
}

# Where the page's cursor column differs from tmux's after each item (tmux's, the page's), per width provider
# (web/terminal.js, ?widths=). docs/architecture.md ("Character widths") quotes these tables.
# The cursor stands after the item and a one-cell marker.
WIDTH_MISMATCHES = {
    # tmux 3.3a's rules over the graphemes addon's table (the default): only the table's gap remains.
    "tmux": {
        "emoji-14": (3, 2),  # 🫠: wide in glibc 2.36 (Unicode 14); the addon's table counts it narrow
    },
    # Unicode 15 + grapheme clusters: ZWJ sequences agree; VS16, skin tones and keycaps do not.
    "graphemes": {
        "emoji-14": (3, 2),
        "vs16": (2, 3),  # ❤️: tmux counts U+2764 (1) and ignores VS16; the addon widens it to emoji presentation
        "skin-tone": (5, 3),  # 👍🏽: tmux draws the modifier as a second wide character; one cluster in the page
        "rainbow-flag": (2, 3),  # 🏳️‍🌈: tmux: U+1F3F3 is narrow, the rest joins it; the page: one wide cluster
        "zwj-skin-tone": (5, 3),
        "keycap": (2, 3),  # 1️⃣: VS16 again
    },
    # Unicode 11, no clusters: VS16 and skin tones agree; every ZWJ sequence and newer emoji do not.
    "11": {
        "emoji-13": (3, 2),
        "emoji-14": (3, 2),
        "zwj": (3, 5),  # 👩‍💻: tmux 3.3a joins what follows a ZWJ into the cell before; Unicode 11 draws both
        "zwj-family": (3, 7),
        "rainbow-flag": (2, 4),
        "zwj-gender": (3, 4),
        "zwj-skin-tone": (5, 7),
    },
}


def _escaped(text: str) -> str:
    """``text`` as printf %b escapes of its UTF-8 bytes (typed as ASCII: no IME, no clustering on the way in)."""
    return "".join(f"\\x{b:02x}" for b in text.encode())


def test_width_corpus_against_tmux(page, server: Server) -> None:
    """Measures both providers; the page uses the one with fewer disagreements (web/terminal.js)."""
    assert {widths: _mismatches(page, server, widths) for widths in WIDTH_MISMATCHES} == WIDTH_MISMATCHES


def _mismatches(page, server: Server, widths: str) -> dict[str, tuple[int, int]]:
    """Each corpus item printed alone on the first row (a shell loop, no echo): tmux's cursor column and the page's."""
    session = f"widths{widths}"
    server.tmux.new_session(session)
    page.goto(f"{server.origin}/?session={session}&widths={widths}")
    page.wait_for_function("typeof window.livepane !== 'undefined' && window.livepane.ready === true")
    wait_for_state(page, session, "open")
    wait_for_screen(page, session, PROMPT_RE)
    page.keyboard.type("clear; stty -echo; while IFS= read -r l; do printf '\\r\\033[2K%b' \"$l\"; done\n")
    wait_until(lambda: not _first_row(page, session).strip(), 10, "the loop to start")
    mismatches = {}
    for index, (name, text) in enumerate(WIDTH_CORPUS.items()):
        # Each item ends with its own one-cell marker, so the page's row is this item's (and was painted to its
        # end), even where the page counts differently and tmux's repaint garbles the row.
        line = text + chr(ord("A") + index)
        page.keyboard.type(_escaped(line) + "\n")
        wait_until(lambda t=line: server.tmux.capture(session).splitlines()[0] == t, 10, f"{name} in tmux")
        wait_until(lambda t=line: _first_row(page, session).endswith(t[-1]), 10, f"{name} on the page")
        tmux_x = int(server.tmux.display(session, "#{cursor_x}"))
        page_x = stats(page, session)["cursor_x"]
        if tmux_x != page_x:
            mismatches[name] = (tmux_x, page_x)
    page.keyboard.press("Control+C")
    return mismatches


def _first_row(page, session: str) -> str:
    text = page.evaluate("s => window.livepane.screen(s)", session)
    return text.splitlines()[0] if text else ""
