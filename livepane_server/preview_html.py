"""A tmux screen as HTML, painted with the page's first paint before any script runs (issue #14 goal 1): the rows of
``capture-pane -e`` as spans, coloured and placed as xterm.js 6's DOM renderer will draw them once it takes over.

Why not a library: PyPI's ``ansi2html`` (the usual choice) has no xterm.js palette (its "xterm" scheme is XTerm's,
not xterm.js's Tango one), turns bold into a weight but never into the bright colour xterm.js draws, knows no cursor,
no inverse of the default colours, no underline styles or underline colour, and counts no cell widths (a wide
character shifts the rest of its row). What it would save is the SGR tokenizer, ~40 lines here; the rest is the
tables below, which any library would have to be configured into.

Rules:
- Colours and attributes follow xterm.js 6 (src/browser/Types.ts DEFAULT_ANSI_COLORS, ThemeService's defaults,
  renderer/dom/DomRendererRowFactory.ts): bold draws colours 0-7 as 8-15, dim halves the alpha of a palette or
  default foreground (not of a truecolour one), inverse swaps colours (the default ones too), invisible draws blanks,
  an underlined or overlined blank is a no-break space so its line shows. Underline, overline and strikethrough use
  xterm.css's own classes (the page loads it), so they combine exactly as xterm's do.
- Cells are counted as tmux counts them (``char_width``): printable ASCII sits in the font's advance (the pre uses
  the terminal's font; xterm's cell is that advance); every run of other characters (each wide one alone) is an
  inline block as wide as its cells (``ch``), so whatever font draws it, the next cell is in its column.
- Only SGR is read; any other escape sequence is dropped whole, and so is any other control character. Attributes
  carry from one row to the next, as ``capture-pane -e`` prints them.
- Every character from the screen is escaped (``html.escape``): only this module's own tags are markup.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import NamedTuple

# -- xterm.js 6's colours -------------------------------------------------------------------------------------------

# src/browser/Types.ts DEFAULT_ANSI_COLORS: the 16 ANSI colours (Tango), then the 6x6x6 cube and 24 greys.
ANSI_16 = (
    "#2e3436", "#cc0000", "#4e9a06", "#c4a000", "#3465a4", "#75507b", "#06989a", "#d3d7cf",
    "#555753", "#ef2929", "#8ae234", "#fce94f", "#729fcf", "#ad7fa8", "#34e2e2", "#eeeeec",
)  # fmt: skip
CUBE_LEVELS = (0x00, 0x5F, 0x87, 0xAF, 0xD7, 0xFF)
PALETTE = (
    *ANSI_16,
    *(f"#{CUBE_LEVELS[i // 36]:02x}{CUBE_LEVELS[i // 6 % 6]:02x}{CUBE_LEVELS[i % 6]:02x}" for i in range(216)),
    *(f"#{8 + 10 * i:02x}{8 + 10 * i:02x}{8 + 10 * i:02x}" for i in range(24)),
)
# ThemeService's defaults (web/terminal.js sets background #000000, the same).
FOREGROUND = "#ffffff"
BACKGROUND = "#000000"
# color.multiplyOpacity(c, 0.5): the alpha byte 0xff * 0.5, rounded.
DIM_ALPHA = "80"
# drawBoldTextInBrightColors (default true): bold colours 0-7 are drawn as 8-15.
BRIGHT_OFFSET = 8


# Colours and attributes are named tuples of ints (an IntEnum hashes as its int): a screen drawn cell by cell in
# truecolour makes one per cell, and dataclasses' replace() and hash were most of its cost.
class ColorMode(IntEnum):
    DEFAULT = 0
    PALETTE = 1  # 0-255
    RGB = 2  # 0xRRGGBB


class Color(NamedTuple):
    mode: ColorMode = ColorMode.DEFAULT
    value: int = 0


DEFAULT_COLOR = Color()


class Attributes(NamedTuple):
    """One cell's SGR state (xterm's cell attributes, as far as the DOM renderer draws them)."""

    fg: Color = DEFAULT_COLOR
    bg: Color = DEFAULT_COLOR
    underline_color: Color = DEFAULT_COLOR
    underline: int = 0  # 0 none, 1 single, 2 double, 3 curly, 4 dotted, 5 dashed (xterm-underline-N)
    bold: bool = False
    dim: bool = False
    italic: bool = False
    inverse: bool = False
    invisible: bool = False
    strikethrough: bool = False
    overline: bool = False


PLAIN = Attributes()
# Looks and SGR transitions seen recently, remembered: a screen repeats a few of them over and over (a truecolour one
# drawn cell by cell has up to a screenful, and still costs only its own).
STYLE_CACHE_SIZE = 4096

# SGR codes that set flags: code -> the fields it sets. (Colours and underline styles are read in apply_sgr.)
SGR_FLAGS: dict[int, dict[str, object]] = {
    1: {"bold": True},
    2: {"dim": True},
    3: {"italic": True},
    4: {"underline": 1},
    7: {"inverse": True},
    8: {"invisible": True},
    9: {"strikethrough": True},
    21: {"underline": 2},  # xterm.js: double underline
    22: {"bold": False, "dim": False},
    23: {"italic": False},
    24: {"underline": 0},
    27: {"inverse": False},
    28: {"invisible": False},
    29: {"strikethrough": False},
    39: {"fg": DEFAULT_COLOR},
    49: {"bg": DEFAULT_COLOR},
    53: {"overline": True},
    55: {"overline": False},
    59: {"underline_color": DEFAULT_COLOR},
}
# 30-37 / 40-47: palette 0-7; 90-97 / 100-107: palette 8-15.
SGR_PALETTE_RANGES = ((30, "fg", 0), (40, "bg", 0), (90, "fg", 8), (100, "bg", 8))
# 38 / 48 / 58 (then 5;N or 2;R;G;B, or the same with colons): an extended colour for this field.
SGR_EXTENDED = {38: "fg", 48: "bg", 58: "underline_color"}
UNDERLINE_STYLES = range(0, 6)  # 4:0 .. 4:5


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _extended_color(first: list[str], rest: Iterator[list[str]]) -> Color | None:
    """The colour of ``38;5;N`` / ``38;2;R;G;B`` (each part a parameter of its own) or ``38:5:N`` /
    ``38:2:[colourspace]:R:G:B`` (sub-parameters of ``first``); None if it is neither."""
    if len(first) > 1:  # colon form
        kind, args = _int(first[1]), first[2:]
        if kind == 2 and len(args) == 4:
            args = args[1:]  # the colour space id, ignored as xterm does
    else:  # semicolon form: the next parameters, as many as the kind takes (a sequence cut short sets nothing)
        kind = _int(next(rest, [""])[0])
        args = [next(rest, [""])[0] for _ in range(3 if kind == 2 else 1 if kind == 5 else 0)]
        if "" in args:
            return None
    if kind == 5 and len(args) >= 1 and 0 <= _int(args[0]) <= 255:
        return Color(ColorMode.PALETTE, _int(args[0]))
    if kind == 2 and len(args) >= 3:
        r, g, b = (min(_int(v), 255) for v in args[:3])
        return Color(ColorMode.RGB, r << 16 | g << 8 | b)
    return None


@functools.lru_cache(maxsize=STYLE_CACHE_SIZE)
def apply_sgr(attributes: Attributes, params: str) -> Attributes:
    """``attributes`` after ``CSI params m``."""
    parts = iter([p.split(":") for p in (params.split(";") if params else ["0"])])
    for part in parts:
        code = _int(part[0])
        if code == 0:
            attributes = PLAIN
        elif code in SGR_FLAGS:
            attributes = attributes._replace(**SGR_FLAGS[code])
            if code == 4 and len(part) > 1 and _int(part[1]) in UNDERLINE_STYLES:
                attributes = attributes._replace(underline=_int(part[1]))
        elif code in SGR_EXTENDED:
            color = _extended_color(part, parts)
            if color is not None:
                attributes = attributes._replace(**{SGR_EXTENDED[code]: color})
        else:
            for base, field, offset in SGR_PALETTE_RANGES:
                if base <= code < base + 8:
                    attributes = attributes._replace(**{field: Color(ColorMode.PALETTE, code - base + offset)})
    return attributes


# -- runs of cells -------------------------------------------------------------------------------------------------

# A CSI sequence, an OSC / DCS / APC / PM / SOS string (to BEL or ST), another escape, a C0/C1 control, or text.
TOKEN_RE = re.compile(
    r"\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|\x1b[\]P_^X][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|(?P<control>[\x00-\x1f\x7f-\x9f])"
    r"|(?P<text>[^\x00-\x1f\x7f-\x9f]+)"
)


def char_width(char: str) -> int:
    """A character's cells as tmux 3.3a counts them (glibc's wcwidth: East Asian wide and full-width are 2;
    combining marks, format characters and Hangul medial/final jamo are 0)."""
    code = ord(char)
    if code < 0x7F:
        return 1
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf") or 0x1160 <= code <= 0x11FF:
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class Kind(Enum):
    ASCII = "ascii"  # printable ASCII, one cell each: drawn in the font's advance
    OTHER = "other"  # other one-cell characters: a block as wide as its cells
    WIDE = "wide"  # one two-cell character: a block of its own


@dataclass
class Run:
    """Cells of one look and kind, in a row: each cell's text (a character, and any zero-width ones after it)."""

    attributes: Attributes
    kind: Kind
    cells: list[str]

    @property
    def columns(self) -> int:
        return 2 * len(self.cells) if self.kind is Kind.WIDE else len(self.cells)


def _add(runs: list[Run], attributes: Attributes, kind: Kind, cells: list[str]) -> None:
    last = runs[-1] if runs else None
    if last is not None and kind is not Kind.WIDE and last.kind is kind and last.attributes == attributes:
        last.cells.extend(cells)
    else:
        runs.append(Run(attributes, kind, cells))


def parse_rows(rows: Iterable[str]) -> list[list[Run]]:
    """Each row's runs. Printable ASCII is taken a whole token at a time; only other text goes character by character
    (a zero-width character joins the cell before it)."""
    attributes = PLAIN
    parsed: list[list[Run]] = []
    for row in rows:
        runs: list[Run] = []
        for match in TOKEN_RE.finditer(row):
            text = match["text"]
            if text is None:
                if match["final"] == "m":
                    attributes = apply_sgr(attributes, match["params"])
            elif text.isascii():
                _add(runs, attributes, Kind.ASCII, list(text))
            else:
                for char in text:
                    width = char_width(char)
                    if width == 0:
                        if runs:
                            runs[-1].cells[-1] += char
                        continue
                    kind = Kind.ASCII if char.isascii() else Kind.WIDE if width == 2 else Kind.OTHER
                    _add(runs, attributes, kind, [char])
        parsed.append(runs)
    return parsed


# -- HTML -----------------------------------------------------------------------------------------------------------

# The page's classes (web/livepane.css "The screen in the page"): the pre, a cell run of its own width, the cursor.
SCREEN_CLASS = "pane-preview-screen"
BLOCK_CLASS = "w"
CURSOR_CLASS = "cursor"
UPTO_CURSOR_CLASS = "upto-cursor"  # the rows up to the cursor's
BELOW_CURSOR_CLASS = "below-cursor"  # the rows after it
BOLD_CLASS = "b"
ITALIC_CLASS = "i"
# xterm.css's own decoration classes (xterm-underline-1 .. 5, xterm-overline, xterm-strikethrough).
UNDERLINE_CLASS = "xterm-underline-{}"
OVERLINE_CLASS = "xterm-overline"
STRIKETHROUGH_CLASS = "xterm-strikethrough"
# The Element Timing identifier of every screen, before its name (web/early.js marks livepane:screen when all are
# painted).
ELEMENT_TIMING = "livepane-screen"
NO_BREAK_SPACE = "\xa0"


def _css(color: Color, *, bold: bool) -> str:
    if color.mode is ColorMode.RGB:
        return f"#{color.value:06x}"
    index = color.value + BRIGHT_OFFSET if bold and color.value < BRIGHT_OFFSET else color.value
    return PALETTE[index]


@functools.lru_cache(maxsize=STYLE_CACHE_SIZE)
def style(attributes: Attributes) -> tuple[tuple[str, ...], str]:
    """(classes, inline style) for a cell, as DomRendererRowFactory resolves its colours."""
    fg, bg = (attributes.bg, attributes.fg) if attributes.inverse else (attributes.fg, attributes.bg)
    declarations = []
    if bg.mode is not ColorMode.DEFAULT:
        declarations.append(f"background:{_css(bg, bold=False)}")
    elif attributes.inverse:
        declarations.append(f"background:{FOREGROUND}")
    dim = DIM_ALPHA if attributes.dim else ""
    if fg.mode is ColorMode.RGB:
        declarations.append(f"color:{_css(fg, bold=False)}")  # xterm's DOM renderer does not dim truecolour
    elif fg.mode is ColorMode.PALETTE:
        declarations.append(f"color:{_css(fg, bold=attributes.bold)}{dim}")
    elif attributes.inverse:
        declarations.append(f"color:{BACKGROUND}{dim}")
    elif attributes.dim:
        declarations.append(f"color:{FOREGROUND}{dim}")
    if attributes.underline and attributes.underline_color.mode is not ColorMode.DEFAULT:
        declarations.append(f"text-decoration-color:{_css(attributes.underline_color, bold=attributes.bold)}")
    classes = []
    if attributes.bold:
        classes.append(BOLD_CLASS)
    if attributes.italic:
        classes.append(ITALIC_CLASS)
    if attributes.underline:
        classes.append(UNDERLINE_CLASS.format(attributes.underline))
    if attributes.overline:
        classes.append(OVERLINE_CLASS)
    if attributes.strikethrough:
        classes.append(STRIKETHROUGH_CLASS)
    return tuple(classes), ";".join(declarations)


def _has_background(attributes: Attributes) -> bool:
    return attributes.inverse or attributes.bg.mode is not ColorMode.DEFAULT


def _span(text: str, classes: tuple[str, ...], inline: str, block_cells: int | None) -> str:
    """One run's markup: bare text when it needs nothing; with ``block_cells``, an inline block that many cells wide
    and one row high (as xterm.js's DOM renderer draws every span: a background fills its whole cell)."""
    if block_cells is not None:
        classes = (BLOCK_CLASS, *classes)
        inline = f"width:{block_cells}ch" + (f";{inline}" if inline else "")
    escaped = html.escape(text, quote=False)
    if not classes and not inline:
        return escaped
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    attrs += f' style="{inline}"' if inline else ""
    return f"<span{attrs}>{escaped}</span>"


def _shown(run: Run) -> str:
    a = run.attributes
    if a.invisible:
        return " " * run.columns
    text = "".join(run.cells)
    return text.replace(" ", NO_BREAK_SPACE) if a.underline or a.overline else text


@dataclass(frozen=True)
class Row:
    markup: str
    has_text: bool  # some of its text is not blank and not in a block (Element Timing sees only that text)


def _at_cursor(runs: list[Run], cursor_x: int) -> list[tuple[Run, bool]]:
    """The runs with the cursor's cell split out as a run of its own (flagged); past the row's end, blank cells are
    added up to it, as xterm draws the cursor there."""
    out: list[tuple[Run, bool]] = []
    column = 0
    for run in runs:
        if column <= cursor_x < column + run.columns:
            at = 0 if run.kind is Kind.WIDE else cursor_x - column
            if at:
                out.append((Run(run.attributes, run.kind, run.cells[:at]), False))
            out.append((Run(run.attributes, run.kind, run.cells[at : at + 1]), True))
            if run.cells[at + 1 :]:
                out.append((Run(run.attributes, run.kind, run.cells[at + 1 :]), False))
        else:
            out.append((run, False))
        column += run.columns
    if cursor_x >= column:
        if cursor_x > column:
            out.append((Run(PLAIN, Kind.ASCII, [" "] * (cursor_x - column)), False))
        out.append((Run(PLAIN, Kind.ASCII, [" "]), True))
    return out


def row_html(runs: list[Run], cursor_x: int | None) -> Row:
    """One row: each run one span (or bare text); a run with a background, of characters other than printable ASCII,
    or the cursor's cell is a block."""
    marked = [(run, False) for run in runs] if cursor_x is None else _at_cursor(runs, cursor_x)
    out: list[str] = []
    has_text = False
    for run, is_cursor in marked:
        classes, inline = style(run.attributes)
        text = _shown(run)
        block = is_cursor or run.kind is not Kind.ASCII or _has_background(run.attributes)
        has_text = has_text or (not block and not text.isspace())
        classes = (CURSOR_CLASS, *classes) if is_cursor else classes
        out.append(_span(text, classes, inline, run.columns if block else None))
    return Row("".join(out), has_text)


def screen_html(
    rows: Iterable[str], *, top: int, left: int, cursor: tuple[int, int], cursor_visible: bool, name: str
) -> str:
    """The <pre> that shows ``rows`` (capture-pane -e's) ``top`` rows and ``left`` cells from the terminal's corner,
    with the cursor at (x, y) of the rows (drawn if ``cursor_visible``).

    Its rows are two blocks, up to the cursor's row and after it, which web/livepane.css lays out as xterm.js shrinks
    a terminal to the pane's rows (preboot.js paints tmux's whole size, then fits): rows below the cursor go first,
    then rows from the top, so the cursor's row stays in view. The first block carries an Element Timing identifier
    (ELEMENT_TIMING, a colon, ``name``: each screen its own) only if it has text that Element Timing reports
    (web/early.js waits for each such screen's entry)."""
    cursor_x, cursor_y = cursor
    lines = [""] * top
    has_text = False
    for y, runs in enumerate(parse_rows(rows)):
        row = row_html(runs, cursor_x if cursor_visible and y == cursor_y else None)
        lines.append(" " * left + row.markup)
        has_text = has_text or (y <= cursor_y and row.has_text)
    split = top + cursor_y + 1
    timing = f' elementtiming="{ELEMENT_TIMING}:{html.escape(name)}"' if has_text else ""
    upto, below = "\n".join(lines[:split]), "\n".join(lines[split:])
    return (
        f'<pre class="{SCREEN_CLASS}"><span class="{UPTO_CURSOR_CLASS}"{timing}>{upto}</span>'
        f'<span class="{BELOW_CURSOR_CLASS}">{below}</span></pre>'
    )
