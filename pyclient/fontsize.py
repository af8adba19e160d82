"""The terminals' font size: its bounds, its steps, and how it is kept (``localStorage``) across pages.

Rules of this file:

- No ``js``, no ``pyodide`` (tested under CPython, ``tests/unit/test_fontsize.py``). Python writes the stored size
  (``pyclient/browser.py``, the bar's A−/A+); ``web/terminal.js`` reads it when it makes a terminal, so terminals
  made before Python is up start at the stored size too. Its constants repeat these; a unit test compares them.
- A stored value that is not a whole number within the bounds counts as no value: the default.
- What is drawn as text rather than by xterm (a pane's last screen, ``.pane-last-screen``) follows the same size:
  Python sets CSS_VARIABLE on the document's root, which ``web/livepane.css`` reads (a unit test holds the two).
"""

from __future__ import annotations

__all__ = ["CSS_VARIABLE", "DEFAULT_PX", "MAX_PX", "MIN_PX", "STORAGE_KEY", "css_value", "step", "stored"]

STORAGE_KEY = "livepane.fontSize"
DEFAULT_PX = 14  # web/terminal.js's OPTIONS.fontSize: 80 columns in ~700 px of DejaVu Sans Mono
MIN_PX = 8  # smaller is unreadable on any screen
MAX_PX = 32  # ~20 columns on a phone: larger leaves no room for a command line
# The size as a CSS custom property on <html>, for the text that stands in for a terminal (web/livepane.css).
CSS_VARIABLE = "--livepane-font-size"


def stored(text: str | None) -> int:
    """The size a stored string means (``localStorage.getItem``'s answer, None when absent)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        return DEFAULT_PX
    return value if MIN_PX <= value <= MAX_PX and str(value) == str(text).strip() else DEFAULT_PX


def step(size: int, direction: int) -> int:
    """One step smaller (``direction`` < 0) or larger, within the bounds."""
    return max(MIN_PX, min(MAX_PX, size + (1 if direction > 0 else -1)))


def css_value(size: int) -> str:
    """CSS_VARIABLE's value for a size."""
    return f"{size}px"
