"""The copy/paste key table (pyclient/keys.py) under CPython, and README's "Keys" table against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyclient.keys import KEY_TABLE, KeyAction, KeyDecision, key_action

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("key", "mods", "expected"),
    [
        ("C", "ctrl shift", KeyDecision(KeyAction.COPY)),  # Shift makes KeyboardEvent.key upper-case
        ("V", "ctrl shift", KeyDecision(KeyAction.PASTE)),
        ("v", "ctrl", KeyDecision(KeyAction.PASTE)),
        ("v", "ctrl alt", KeyDecision(KeyAction.SEND, "\x16")),
        ("c", "ctrl", KeyDecision(KeyAction.TERMINAL)),  # the interrupt, selection or not
        ("v", "", KeyDecision(KeyAction.TERMINAL)),
        ("V", "shift", KeyDecision(KeyAction.TERMINAL)),
        ("v", "meta", KeyDecision(KeyAction.TERMINAL)),  # macOS: Cmd+V is the browser's paste already
        ("v", "ctrl shift alt", KeyDecision(KeyAction.TERMINAL)),
        ("Control", "ctrl", KeyDecision(KeyAction.TERMINAL)),
    ],
)
def test_key_action(key: str, mods: str, expected: KeyDecision) -> None:
    flags = {name: name in mods.split() for name in ("ctrl", "shift", "alt", "meta")}
    assert key_action(key, **flags) == expected


def _readme_keys() -> dict[tuple[str, bool, bool, bool, bool], KeyAction]:
    text = (ROOT / "README.md").read_text()
    section = text.split("| keys | what they do |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines()[2:]:
        keys, action = (cell.strip() for cell in line.strip().strip("|").split("|")[:2])
        *mods, key = keys.strip("`").split("+")
        words = {m.lower() for m in mods}
        chord = (key.lower(), "ctrl" in words, "shift" in words, "alt" in words, "meta" in words)
        rows[chord] = KeyAction(re.match(r"\*\*(\w+)\*\*", action).group(1).lower())
    return rows


def test_readme_lists_the_table() -> None:
    assert _readme_keys() == {chord: decision.action for chord, decision in KEY_TABLE.items()}
