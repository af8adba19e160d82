"""web/early.js (the page's first script) and the screens in the page repeat what web/terminal.js and the server say:
the font, its size and bounds, the line height, the Element Timing name. This compares them."""

from __future__ import annotations

import re
from pathlib import Path

from livepane_server.assets import INLINE_PLACEHOLDER_RE, INLINE_UNSAFE_RE, Assets
from livepane_server.preview import pane_section, pane_template
from livepane_server.preview_html import ELEMENT_TIMING, SCREEN_CLASS
from pyclient import fontsize

WEB = Path(__file__).resolve().parents[2] / "web"


def constant(js: str, name: str) -> str:
    """``const NAME = value`` or an option's ``name: value``."""
    found = re.search(rf"(?:\bconst {name} =|^\s*{name}:)\s*(\"[^\"]*\"|[\w.]+)", js, re.M)
    assert found, name
    return found.group(1).strip('"')


def test_early_js_measures_the_terminals_font_as_terminal_js_sets_it() -> None:
    early, terminal = (WEB / "early.js").read_text(), (WEB / "terminal.js").read_text()
    assert constant(early, "FONT_FAMILY") == constant(terminal, "fontFamily")
    assert constant(early, "FONT_SIZE") == constant(terminal, "fontSize") == str(fontsize.DEFAULT_PX)
    assert constant(early, "LINE_HEIGHT") == constant(terminal, "lineHeight")
    assert constant(early, "FONT_SIZE_KEY") == fontsize.STORAGE_KEY
    assert f'setProperty("{fontsize.CSS_VARIABLE}"' in early  # the variable Python sets on A-/A+ later
    assert (int(constant(early, "FONT_SIZE_MIN")), int(constant(early, "FONT_SIZE_MAX"))) == (
        fontsize.MIN_PX, fontsize.MAX_PX
    )
    assert constant(early, "ELEMENT_TIMING") == ELEMENT_TIMING


def test_the_stylesheet_draws_the_screen_in_the_terminals_font() -> None:
    css = (WEB / "livepane.css").read_text()
    rule = css[css.index(f".{SCREEN_CLASS} {{") :]
    rule = rule[: rule.index("}")]
    family = constant((WEB / "terminal.js").read_text(), "fontFamily")
    assert f"font-family: {family};" in rule
    assert "font-size: var(--livepane-font-size, 14px)" in rule


def test_the_pages_template_has_every_part_a_preview_fills_in() -> None:
    template = pane_template((WEB / "index.html").read_text())
    assert template is not None
    section = pane_section(template, "a-b", "<pre>SCREEN</pre>")
    assert section.startswith('<section class="pane preview" data-session="a-b" data-state="connecting"')
    assert '<span class="pane-name">a-b</span>' in section and "<pre>SCREEN</pre>" in section
    assert "pane-term" not in section and "placeholder" not in section
    assert pane_template("<main><section class=\"pane placeholder\"><p>no parts</p></section></main>") is None
    assert pane_template("<main></main>") is None


def test_every_script_the_page_inlines_can_be_inlined() -> None:
    """index.html's {{inline:static/NAME.js}}: each file exists and holds nothing that would end its <script> element
    or be templated, else the server leaves it out, and without early.js the page would never start its scripts."""
    page = (WEB / "index.html").read_text()
    inlined = INLINE_PLACEHOLDER_RE.findall(page)
    assert inlined == ["static/boot-fetch.js", "static/early.js"], inlined
    for path in inlined:
        text = (WEB / path.removeprefix("static/")).read_text()
        assert not INLINE_UNSAFE_RE.search(text), path
    text, digests = Assets(WEB, WEB.parent / "pyclient").inline_scripts(page)
    assert len(digests) == len(inlined) and "{{inline:" not in text
