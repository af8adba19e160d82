"""livepane_server/preview_html.py: a tmux screen as HTML that xterm.js 6's DOM renderer would draw alike."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from livepane_server import preview_html as P
from livepane_server.preview_html import (
    PLAIN,
    Attributes,
    Color,
    ColorMode,
    Kind,
    apply_sgr,
    char_width,
    parse_rows,
    screen_html,
    style,
)

ROOT = Path(__file__).resolve().parents[2]
XTERM_SRC = ROOT / "web" / "node_modules" / "@xterm" / "xterm" / "src" / "browser"


def palette(index: int) -> Color:
    return Color(ColorMode.PALETTE, index)


def rgb(value: int) -> Color:
    return Color(ColorMode.RGB, value)


def test_the_palette_and_default_colours_are_xterm_js_own() -> None:
    types = (XTERM_SRC / "Types.ts").read_text()
    block = types[types.index("DEFAULT_ANSI_COLORS") :]
    assert tuple(re.findall(r"css\.toColor\('(#[0-9a-f]{6})'\)", block)[:16]) == P.ANSI_16
    assert "[0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff]" in block and "8 + i * 10" in block  # the cube and greys we rebuild
    assert len(P.PALETTE) == 256
    assert P.PALETTE[16] == "#000000" and P.PALETTE[21] == "#0000ff" and P.PALETTE[196] == "#ff0000"
    assert P.PALETTE[231] == "#ffffff" and P.PALETTE[232] == "#080808" and P.PALETTE[255] == "#eeeeee"
    theme = (XTERM_SRC / "services" / "ThemeService.ts").read_text()
    assert f"DEFAULT_FOREGROUND = css.toColor('{P.FOREGROUND}')" in theme
    assert f"DEFAULT_BACKGROUND = css.toColor('{P.BACKGROUND}')" in theme
    terminal_js = (ROOT / "web" / "terminal.js").read_text()
    assert f'background: "{P.BACKGROUND}"' in terminal_js and "foreground" not in terminal_js


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("1;31", Attributes(bold=True, fg=palette(1))),
        ("0", PLAIN),
        ("", PLAIN),
        ("38;5;196;48;5;21", Attributes(fg=palette(196), bg=palette(21))),
        ("38:5:196", Attributes(fg=palette(196))),
        ("38;2;1;2;3", Attributes(fg=rgb(0x010203))),
        ("38:2::1:2:3", Attributes(fg=rgb(0x010203))),
        ("38:2:1:2:3", Attributes(fg=rgb(0x010203))),
        ("48;2;255;128;0", Attributes(bg=rgb(0xFF8000))),
        ("97;104", Attributes(fg=palette(15), bg=palette(12))),
        ("4:3;58:2::255:0:0", Attributes(underline=3, underline_color=rgb(0xFF0000))),
        ("4;21", Attributes(underline=2)),
        ("2;3;7;8;9;53", Attributes(dim=True, italic=True, inverse=True, invisible=True, strikethrough=True,
                                    overline=True)),
        ("1;2;22", PLAIN),
        ("31;39;41;49", PLAIN),
        ("38;5", PLAIN),  # cut short: nothing
        ("38;7;1", Attributes(bold=True)),  # an unknown colour kind: nothing, and the next parameter is read
    ],
)
def test_sgr(params: str, expected: Attributes) -> None:
    assert apply_sgr(PLAIN, params) == expected


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (PLAIN, ((), "")),
        (Attributes(fg=palette(1), bold=True), (("b",), "color:#ef2929")),  # bold draws 0-7 bright
        (Attributes(fg=palette(9), bold=True), (("b",), "color:#ef2929")),
        (Attributes(fg=palette(1), dim=True), ((), "color:#cc000080")),
        (Attributes(dim=True), ((), "color:#ffffff80")),
        (Attributes(fg=rgb(0x123456), dim=True), ((), "color:#123456")),  # xterm's DOM renderer: no dim for RGB
        (Attributes(inverse=True), ((), "background:#ffffff;color:#000000")),
        (Attributes(inverse=True, fg=palette(2), bg=rgb(0xABCDEF)), ((), "background:#4e9a06;color:#abcdef")),
        (Attributes(underline=3, underline_color=palette(1), bold=True),
         (("b", "xterm-underline-3"), "text-decoration-color:#ef2929")),
        (Attributes(italic=True, overline=True, strikethrough=True),
         (("i", "xterm-overline", "xterm-strikethrough"), "")),
    ],
)
def test_style_resolves_colours_as_the_dom_renderer(attributes: Attributes, expected: tuple) -> None:
    assert style(attributes) == expected


def test_widths_are_tmuxs() -> None:
    assert [char_width(c) for c in "a漢é\u0301\u200d😀─"] == [1, 2, 1, 0, 0, 2, 1]


def test_cells_join_zero_width_characters_and_attributes_carry_across_rows() -> None:
    rows = parse_rows(["\x1b[31mab\u0301漢", "c\x1b[0md"])
    assert [(r.kind, r.cells, r.columns) for r in rows[0]] == [
        (Kind.ASCII, ["a", "b\u0301"], 2), (Kind.WIDE, ["漢"], 2)
    ]
    assert rows[1][0].attributes.fg == palette(1) and rows[1][1].attributes == PLAIN


def test_escapes_other_than_sgr_and_controls_are_dropped_whole() -> None:
    rows = parse_rows(["a\x1b]8;;http://x\x1b\\b\x1b[2Jc\x1b(Bd\x07e\x1b]0;title\x07f"])
    assert [("".join(r.cells), r.kind) for r in rows[0]] == [("abcdef", Kind.ASCII)]


class _Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def parsed(markup: str) -> _Parsed:
    result = _Parsed()
    result.feed(markup)
    return result


def html_of(rows: list[str], cursor: tuple[int, int] = (0, 0), *, shown: bool = False, **kw: object) -> str:
    return screen_html(rows, top=kw.pop("top", 0), left=kw.pop("left", 0), cursor=cursor, cursor_visible=shown,
                       name=str(kw.pop("name", "s")))


SCREEN_OPEN = '<pre class="pane-preview-screen"><span class="upto-cursor"'


def test_the_screen_is_text_whatever_it_holds() -> None:
    hostile = "</pre><script>alert(1)</script><!-- & &amp; \" '"
    markup = html_of([hostile, "\x1b[31m</span><img src=x onerror=alert(1)>"], (0, 1), name='"><b>')
    result = parsed(markup)
    assert [tag for tag, _ in result.tags] == ["pre", "span", "span", "span"]  # the two blocks and the red run
    assert result.text.split("\n") == [hostile, "</span><img src=x onerror=alert(1)>"]
    assert 'elementtiming="livepane-screen:&quot;&gt;&lt;b&gt;"' in markup
    assert markup.count("<") == 8  # <pre>, two blocks, the red span: each opened and closed; every other one escaped


def test_placement_cursor_and_cell_blocks() -> None:
    markup = html_of(["ab漢c", "x"], (4, 0), shown=True, top=2, left=3)
    # Rows up to the cursor's, then the rest: no newline right after <pre> (a browser would drop it).
    assert markup.startswith(SCREEN_OPEN + ' elementtiming="livepane-screen:s">\n\n   ab')
    assert markup.endswith('</span><span class="below-cursor">   x</span></pre>')
    result = parsed(markup)
    assert result.text.split("\n") == ["", "", "   ab漢c   x"]  # (the blocks are separate lines in the page)
    assert ("span", {"class": "w", "style": "width:2ch"}) in result.tags  # a wide character: two cells wide
    # The cursor at cell 4 is "c" (the wide character takes cells 2-3).
    assert '<span class="w cursor" style="width:1ch">c</span>' in markup
    # Past a row's end, a blank cell is added for it.
    past = html_of(["ab"], (5, 0), shown=True)
    assert 'ab   <span class="w cursor" style="width:1ch"> </span></span><span class="below-cursor"></span>' in past
    # A hidden cursor is not drawn, but still splits the rows.
    hidden = html_of(["a", "b", "c"], (0, 1))
    assert "w cursor" not in hidden and '>a\nb</span><span class="below-cursor">c</span>' in hidden


def test_blanks_with_a_line_keep_it_and_invisible_text_is_blank() -> None:
    result = parsed(html_of(["\x1b[4m \x1b[24;8msecret"]))
    assert result.text == "\xa0" + " " * 6


def test_a_background_is_a_block_a_row_high_and_only_text_outside_blocks_up_to_the_cursor_is_timed() -> None:
    markup = html_of(["\x1b[41mab\x1b[0m"])
    assert '<span class="w" style="width:2ch;background:#cc0000">ab</span>' in markup
    assert "elementtiming" not in markup  # its only text is in a block: Element Timing would report nothing
    assert "elementtiming" not in html_of(["   "], shown=True)
    assert "elementtiming" not in html_of(["   ", "text below the cursor"])
    assert 'elementtiming="livepane-screen:s"' in html_of(["\x1b[41mab\x1b[0m c"])


def test_runs_of_one_look_are_one_span() -> None:
    markup = html_of(["\x1b[31mabc\x1b[32mdef\x1b[0m ghi"])
    assert markup.count("<span") == 4 and " ghi</span>" in markup  # the two blocks, red, green; the rest bare
