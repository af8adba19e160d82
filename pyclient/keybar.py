"""The touch key bar: Esc, Tab, arrows, and Ctrl/Alt as one-shot sticky modifiers for the next key typed.

Rules of this file:

- No ``js``, no ``pyodide`` (tested under CPython, ``tests/unit/test_keybar.py``); ``pyclient/browser.py``
  (``KeyBarView``) shows the bar, calls :meth:`Modifiers.tap` / :meth:`Modifiers.press` for its buttons and passes
  every chunk xterm types through :meth:`Modifiers.typed`. What comes out goes to the pane's input path, held and
  acknowledged like any typed key.
- The bytes are xterm's own (xterm.js ``Keyboard.ts``): arrows follow the cursor-key mode (DECCKM: ``ESC [ A``
  normally, ``ESC O A`` in application mode); a modified arrow is ``ESC [ 1 ; m A`` with m = 1 + 2·Alt + 4·Ctrl;
  Ctrl with a letter is its control character, Alt prefixes ESC.
- Modifier states are an enum and move by :data:`TAPS` (a table): tapping Ctrl or Alt toggles it; the next key
  (a bar key or one typed on the soft keyboard) takes the armed modifiers and disarms them. Terminal replies (cursor
  reports &c., which xterm also emits as "data") pass through and leave the modifiers armed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from .protocol import is_terminal_reply

__all__ = ["KEYS", "Key", "ModState", "Modifier", "Modifiers", "shows_key_bar"]


class Modifier(enum.Enum):
    CTRL = "ctrl"
    ALT = "alt"


class ModState(enum.Enum):
    IDLE = "idle"
    CTRL = "ctrl"
    ALT = "alt"
    CTRL_ALT = "ctrl+alt"


# (state, modifier tapped) -> state: a tap toggles that modifier, keeping the other.
TAPS: dict[tuple[ModState, Modifier], ModState] = {
    (ModState.IDLE, Modifier.CTRL): ModState.CTRL,
    (ModState.CTRL, Modifier.CTRL): ModState.IDLE,
    (ModState.ALT, Modifier.CTRL): ModState.CTRL_ALT,
    (ModState.CTRL_ALT, Modifier.CTRL): ModState.ALT,
    (ModState.IDLE, Modifier.ALT): ModState.ALT,
    (ModState.ALT, Modifier.ALT): ModState.IDLE,
    (ModState.CTRL, Modifier.ALT): ModState.CTRL_ALT,
    (ModState.CTRL_ALT, Modifier.ALT): ModState.CTRL,
}
CTRL_STATES = frozenset({ModState.CTRL, ModState.CTRL_ALT})
ALT_STATES = frozenset({ModState.ALT, ModState.CTRL_ALT})

ESC = "\x1b"


@dataclass(frozen=True)
class Key:
    """A bar key: its label and the bytes xterm sends for it."""

    name: str
    label: str
    normal: str  # unmodified, normal cursor-key mode
    application: str  # unmodified, application cursor-key mode (DECCKM set)
    csi_final: str = ""  # for a cursor key: the final byte of its modified form ESC [ 1 ; m <final>


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("esc", "Esc", ESC, ESC),
        Key("tab", "Tab", "\t", "\t"),
        Key("up", "↑", "\x1b[A", "\x1bOA", "A"),
        Key("down", "↓", "\x1b[B", "\x1bOB", "B"),
        Key("right", "→", "\x1b[C", "\x1bOC", "C"),
        Key("left", "←", "\x1b[D", "\x1bOD", "D"),
    )
}
# The same cursor keys as a hardware keyboard sends them, for a typed arrow while a modifier is armed.
_CURSOR_BY_BYTES = {seq: key for key in KEYS.values() if key.csi_final for seq in (key.normal, key.application)}

# Ctrl with these characters gives xterm's control characters (besides the letters: code & 0x1f).
_CTRL_SPECIAL = {" ": "\x00", "@": "\x00", "2": "\x00", "[": ESC, "3": ESC, "\\": "\x1c", "4": "\x1c",
                 "]": "\x1d", "5": "\x1d", "^": "\x1e", "6": "\x1e", "_": "\x1f", "7": "\x1f", "-": "\x1f",
                 "?": "\x7f", "8": "\x7f"}  # fmt: skip


def _ctrl(char: str) -> str:
    if "a" <= char.lower() <= "z":
        return chr(ord(char.lower()) & 0x1F)
    return _CTRL_SPECIAL.get(char, char)


def _modified(key: Key, state: ModState, application: bool) -> str:
    if key.csi_final and state is not ModState.IDLE:
        param = 1 + (2 if state in ALT_STATES else 0) + (4 if state in CTRL_STATES else 0)
        return f"\x1b[1;{param}{key.csi_final}"
    plain = key.application if application else key.normal
    return ESC + plain if state in ALT_STATES else plain  # Ctrl+Esc and Ctrl+Tab are Esc and Tab, as in xterm.js


class Modifiers:
    """The bar's Ctrl/Alt: armed by a tap, spent by the next key. ``on_change`` (the view) hears every new state."""

    def __init__(self, on_change: Callable[[ModState], None] | None = None) -> None:
        self.state = ModState.IDLE
        self.on_change = on_change

    def _set(self, state: ModState) -> ModState:
        before, self.state = self.state, state
        if state is not before and self.on_change is not None:
            self.on_change(state)
        return before

    def tap(self, modifier: Modifier) -> ModState:
        self._set(TAPS[(self.state, modifier)])
        return self.state

    def press(self, name: str, *, application_cursor: bool) -> str:
        """A bar key: its bytes with the armed modifiers (then disarmed). ``KeyError`` for an unknown name."""
        key = KEYS[name]
        return _modified(key, self._set(ModState.IDLE), application_cursor)

    def typed(self, data: str) -> str:
        """A chunk xterm typed (``onData``): with modifiers armed, its first key takes them (then disarmed)."""
        if self.state is ModState.IDLE or not data or is_terminal_reply(data):
            return data
        state = self._set(ModState.IDLE)
        cursor = _CURSOR_BY_BYTES.get(data)
        if cursor is not None:
            return _modified(cursor, state, data == cursor.application)
        first, rest = data[0], data[1:]
        if state in CTRL_STATES:
            first = _ctrl(first)
        if state in ALT_STATES:
            first = ESC + first
        return first + rest


def shows_key_bar(*, coarse_pointer: bool) -> bool:
    """The bar is for screens whose main pointer is a finger (``(pointer: coarse)``: phones, tablets): they type on
    a soft keyboard without Esc, Ctrl or arrows. A laptop with a touch screen has a keyboard (its main pointer is
    fine)."""
    return coarse_pointer
