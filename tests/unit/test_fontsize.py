"""The font size (pyclient/fontsize.py) and web/terminal.js, which reads what Python stores: the same key and bounds."""

from __future__ import annotations

import re
from pathlib import Path

from pyclient import fontsize

TERMINAL_JS = Path(__file__).resolve().parents[2] / "web" / "terminal.js"
LIVEPANE_CSS = Path(__file__).resolve().parents[2] / "web" / "livepane.css"


def test_a_stored_size_is_used_only_when_whole_and_within_bounds() -> None:
    assert fontsize.stored("18") == 18
    assert fontsize.stored(" 18 ") == 18
    for bad in (None, "", "abc", "7", "33", "14.5", "1e1", "+16"):
        assert fontsize.stored(bad) == fontsize.DEFAULT_PX, bad
    assert fontsize.stored(str(fontsize.MIN_PX)) == fontsize.MIN_PX
    assert fontsize.stored(str(fontsize.MAX_PX)) == fontsize.MAX_PX


def test_steps_stay_within_bounds() -> None:
    assert fontsize.step(14, 1) == 15
    assert fontsize.step(14, -1) == 13
    assert fontsize.step(fontsize.MAX_PX, 1) == fontsize.MAX_PX
    assert fontsize.step(fontsize.MIN_PX, -1) == fontsize.MIN_PX


def test_terminal_js_reads_the_same_key_with_the_same_bounds_and_default() -> None:
    js = TERMINAL_JS.read_text()

    def constant(name: str) -> str:
        found = re.search(rf"\b{name}\s*[:=]\s*\"?([\w.]+)\"?", js)
        assert found, f"{name} not in web/terminal.js"
        return found.group(1)

    assert constant("FONT_SIZE_KEY") == fontsize.STORAGE_KEY
    assert int(constant("FONT_SIZE_MIN")) == fontsize.MIN_PX
    assert int(constant("FONT_SIZE_MAX")) == fontsize.MAX_PX
    assert int(constant("fontSize")) == fontsize.DEFAULT_PX


def test_the_last_screen_reads_the_variable_python_sets_with_the_default_before() -> None:
    rules = re.findall(r"(?m)^\.pane-last-screen\s*\{([^}]*)\}", LIVEPANE_CSS.read_text())
    assert rules, ".pane-last-screen's own rule is not in web/livepane.css"
    assert f"font: var({fontsize.CSS_VARIABLE}, {fontsize.css_value(fontsize.DEFAULT_PX)})/" in rules[0]
    assert fontsize.css_value(18) == "18px"
