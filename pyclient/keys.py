"""Which keys the page takes for copy and paste before xterm.js sees them, as one table (docs: README "Keys").

Rules of this file:

- No ``js``, no ``pyodide``: the browser adapter (``XtermTerminal._on_key``, xterm's custom key handler) asks
  :func:`key_action` about every key event and only translates the answer.
- A key not in :data:`KEY_TABLE` is the terminal's, as xterm.js encodes it: the table lists exceptions only.
- Paste is the browser's own (a ``paste`` event on xterm's textarea: no clipboard permission, bracketed paste when
  the application asked for it), and it reaches tmux as all input does, through the pane, split into frames under
  the server's limit and paced by its acks: never a key handler writing one huge frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["KEY_TABLE", "KeyAction", "KeyDecision", "key_action"]


class KeyAction(enum.Enum):
    TERMINAL = "terminal"  # xterm.js handles the key as usual
    COPY = "copy"  # the terminal's selection to the browser clipboard; nothing reaches the terminal
    PASTE = "paste"  # left to the browser: its paste event carries the clipboard into xterm, then the pane
    SEND = "send"  # these bytes to the terminal, instead of what xterm.js would send


@dataclass(frozen=True)
class KeyDecision:
    action: KeyAction
    data: str = ""  # for SEND


TERMINAL = KeyDecision(KeyAction.TERMINAL)

# (key, ctrl, shift, alt, meta) -> decision. ``key`` is KeyboardEvent.key lower-cased (Shift makes it "C"). Modifier
# sets not listed keep the terminal's meaning: Ctrl+C is always the interrupt, even with a selection.
# | keys | decision | why |
# | Ctrl+Shift+C | copy the selection | as desktop terminals do (GNOME Terminal, kitty); no selection: nothing |
# | Ctrl+Shift+V | paste | as in desktop terminals |
# | Ctrl+V | paste | what a browser user expects; a literal ^V used to eat the next paste's first character |
# | Ctrl+Alt+V | send ^V (0x16) | the literal key for vim's visual block and the shell's quoted insert |
KEY_TABLE: dict[tuple[str, bool, bool, bool, bool], KeyDecision] = {
    ("c", True, True, False, False): KeyDecision(KeyAction.COPY),
    ("v", True, True, False, False): KeyDecision(KeyAction.PASTE),
    ("v", True, False, False, False): KeyDecision(KeyAction.PASTE),
    ("v", True, False, True, False): KeyDecision(KeyAction.SEND, "\x16"),
}


def key_action(key: str, *, ctrl: bool, shift: bool, alt: bool, meta: bool) -> KeyDecision:
    """The decision for a key event (keydown, keypress or keyup alike: the adapter acts on keydown only)."""
    if not ctrl:  # every exception holds Ctrl: plain typing leaves at once
        return TERMINAL
    return KEY_TABLE.get((key.lower(), ctrl, shift, alt, meta), TERMINAL)
