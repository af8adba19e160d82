"""The pane's DOM is written once, in web/index.html: every part the adapter's Slot looks up is in that template.

browser.py imports ``js``, so this reads its source: each ``part(".selector")`` must find an element in the
placeholder section (the template every Slot clones). A part missing there fails only in the browser, as ``None``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Classes(HTMLParser):
    """The class names used inside the first ``section.pane.placeholder``."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.classes: set[str] = set()
        self.hidden: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = set((dict(attrs).get("class") or "").split())
        if self.depth == 0 and tag == "section" and {"pane", "placeholder"} <= names:
            self.depth = 1
            return
        if self.depth:
            self.depth += 1
            self.classes |= names
            if "hidden" in dict(attrs):
                self.hidden |= names

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1


def test_every_part_the_slot_looks_up_is_in_the_template() -> None:
    source = (ROOT / "pyclient" / "browser.py").read_text()
    parts = re.findall(r'\bpart\("\.([\w-]+)"\)', source)
    assert len(parts) >= 10, "the test no longer finds the Slot's lookups"
    template = _Classes()
    template.feed((ROOT / "web" / "index.html").read_text())
    assert set(parts) - template.classes == set(), "add these to index.html's pane template"


def test_what_only_some_states_show_starts_hidden() -> None:
    template = _Classes()
    template.feed((ROOT / "web" / "index.html").read_text())
    assert {"pane-notice", "pane-last-screen", "retry-now", "relaunch"} <= template.hidden


def test_every_part_the_session_bar_looks_up_is_in_the_page() -> None:
    source = (ROOT / "pyclient" / "browser.py").read_text()
    parts = re.findall(r'bar_part\("\.([\w-]+)"\)', source)
    assert len(parts) >= 4, "the test no longer finds the SessionBar's lookups"
    html = (ROOT / "web" / "index.html").read_text()
    nav = html[html.index('<nav id="sessions"') : html.index("</nav>")]
    missing = [part for part in parts if not re.search(rf'class="[^"]*\b{part}\b', nav)]
    assert not missing, "add these to index.html's #sessions"
