"""The page's previews (issue #14): each of its sessions' screens as tmux draws it at request time, carried in the
page twice: as HTML in the pane's own markup (livepane_server/preview_html.py: painted with the page's first paint,
before any script), and as VT text for the terminal web/preboot.js makes before Python is up, which takes over from the
HTML; with the first ticket of each pane's connection.

Rules:
- A preview is made only for a request the cookie authorised (app.py decides; this room never sees another), only for
  the sessions the page will open (``pyclient/page.py``'s ``sessions_from_query``, or the default session), only for
  valid ids of sessions that exist, and never names a session it was not asked for.
- Every tmux call goes through ``Tmux.screen`` with a deadline (``PreviewPolicy.deadline_s``): a slow, failing or
  missing tmux means no preview for that session, never a slow page or a 500.
- Bounded: at most ``max_panes`` previews, each at most ``max_pane_bytes`` (its JSON and its HTML), together at most
  ``max_total_bytes``; a screen over its limit is left out whole (a cut escape sequence would paint garbage).
- The blob is JSON in ``<script type="application/json">`` with every ``<``, ``>`` and ``&`` escaped (``\\u003c``...):
  nothing on a screen can close the element (``</script>``) or open a comment (``<!--``) that would hide its end.
- The paint is built here, as plain VT text, so the page's JavaScript only writes it (it paints, it decides nothing).
- The pane's HTML is the page's own pane template (index.html's placeholder section) with the session's name, state
  and screen filled in (``pane_section``): one template for the server, web/preboot.js and pyclient/browser.py's Slot.
  Every character from a screen is escaped; a template that no longer has the parts this fills in gets no HTML
  preview (logged), never a broken page.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyclient.page import sessions_from_query
from pyclient.protocol import SESSION_ID_RE

from .assets import PANES_PLACEHOLDER, PREVIEW_PLACEHOLDER
from .preview_html import screen_html
from .tmux import Tmux

log = logging.getLogger("livepane")

# The element id web/preboot.js reads (and pyclient/browser.py, through preboot's API).
ELEMENT_ID = "livepane-preview"
# The blob's format version: preboot paints only a version it knows.
PREVIEW_VERSION = 1

# Characters that must not appear raw inside a <script> element's text (HTML "script data" state): `</script` ends it
# and `<!--` starts an escaped state in which a later `</script>` may not. `&` too, so the text is the same if a
# parser ever treats it as markup. JSON.parse turns each escape back into the character.
HTML_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
HTML_UNSAFE_TABLE = str.maketrans(HTML_UNSAFE)

# Painting: the cursor initialized (below), autowrap off while the rows are written (web/preboot.js writes them on a
# terminal of tmux's size, then fits it), attributes reset after the last row, the cursor put where tmux has it,
# shown or hidden.
AUTOWRAP_OFF, AUTOWRAP_ON = "\x1b[?7l", "\x1b[?7h"
RESET_ATTRIBUTES = "\x1b[0m"
CURSOR_SHOWN, CURSOR_HIDDEN = "\x1b[?25h", "\x1b[?25l"
# xterm.js draws no cursor until its terminal had a key or switched screens (its isCursorInitialized): the alternate
# screen and back (the normal one is kept as it is) before the rows, so the terminal shows the cursor the HTML shows.
CURSOR_INITIALIZED = "\x1b[?1047h\x1b[?1047l"


@dataclass(frozen=True)
class PreviewPolicy:
    """Every number of the page's previews."""

    # tmux answers in ~5 ms; the preview is worth its wait only if it comes well before the live screen (~1 s warm):
    # past this the page goes out without it.
    deadline_s: float = 0.4
    # A dashboard of 12 panes (issue #14) gets a preview for each; a page asking for more previews its first 12.
    max_panes: int = 12
    # An 80x24 screen with colours is 2-10 KiB; a 250x70 one drawn cell by cell in truecolour ~350 KiB. Past these the
    # page would take longer to download than the live screen takes to come.
    max_pane_bytes: int = 256 * 1024
    max_total_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.deadline_s <= 0 or self.max_panes < 0 or self.max_pane_bytes <= 0 or self.max_total_bytes <= 0:
            raise ValueError(f"bad preview policy: {self}")


@dataclass(frozen=True)
class Screen:
    """One session's active pane as tmux reported it (Tmux.screen)."""

    window_columns: int
    window_rows: int
    pane_left: int
    pane_top: int
    pane_columns: int
    pane_rows: int
    cursor_x: int
    cursor_y: int
    cursor_visible: bool
    status_rows: int  # the status line's rows (0 when off)
    status_top: bool  # the status line is above the window
    rows: tuple[str, ...]  # the pane's rows, with SGR sequences, as capture-pane -e printed them


def status_rows(value: str) -> int:
    """tmux's `status` option: off, on (one line) or 2-5 lines."""
    if value == "on":
        return 1
    return int(value) if value.isdigit() else 0


PANE_ROWS_FIELD = 5  # SCREEN_FORMAT's #{pane_height}


def parse_screen(out: str) -> Screen | None:
    """Tmux.screen's output -> Screen, or None if it is not what that command prints."""
    head, _, body = out.partition("\n")
    fields = head.split()
    if len(fields) != 11:
        return None
    *numbers, cursor_flag, status, position = fields
    if not all(n.isdigit() for n in numbers):
        return None
    window_columns, window_rows, left, top, columns, rows, cursor_x, cursor_y = (int(n) for n in numbers)
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # capture-pane ends every row with a newline
    if len(lines) != rows or not 0 < columns <= window_columns or not 0 < rows <= window_rows:
        return None
    return Screen(
        window_columns=window_columns,
        window_rows=window_rows,
        pane_left=left,
        pane_top=top,
        pane_columns=columns,
        pane_rows=rows,
        cursor_x=cursor_x,
        cursor_y=cursor_y,
        cursor_visible=cursor_flag == "1",
        status_rows=status_rows(status),
        status_top=position == "top",
        rows=tuple(lines),
    )


def paint(screen: Screen) -> str:
    """The VT text that draws ``screen`` on a cleared terminal the size of the tmux client: each row placed where the
    pane sits in the window (below a status line at the top), then the cursor."""
    top = screen.pane_top + (screen.status_rows if screen.status_top else 0)
    left = screen.pane_left + 1
    parts = [CURSOR_INITIALIZED, AUTOWRAP_OFF]
    for index, row in enumerate(screen.rows):
        parts.append(f"\x1b[{top + index + 1};{left}H{row}")
    parts.append(RESET_ATTRIBUTES)
    parts.append(f"\x1b[{top + screen.cursor_y + 1};{left + screen.cursor_x}H")
    parts.append(AUTOWRAP_ON)
    parts.append(CURSOR_SHOWN if screen.cursor_visible else CURSOR_HIDDEN)
    return "".join(parts)


def split_screens(out: str, count: int) -> list[Screen] | None:
    """Tmux.screens' output for ``count`` sessions -> their Screens in order, or None if it is not exactly that: each
    one is SCREEN_FORMAT's line, then as many rows as that line's pane height (a row never holds a newline)."""
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # capture-pane ends every row with a newline
    screens: list[Screen] = []
    at = 0
    for _ in range(count):
        fields = lines[at].split() if at < len(lines) else []
        if len(fields) != 11 or not fields[PANE_ROWS_FIELD].isdigit():
            return None
        end = at + 1 + int(fields[PANE_ROWS_FIELD])
        screen = parse_screen("\n".join(lines[at:end]) + "\n") if end <= len(lines) else None
        if screen is None:
            return None
        screens.append(screen)
        at = end
    return screens if at == len(lines) else None


def preview_entry(session: str, screen: Screen, ticket: str | None) -> dict[str, object]:
    """One pane's entry in the blob: the size of the terminal tmux draws on (window plus status line), the paint,
    and the first ticket for its socket (None: the page fetches one)."""
    return {
        "session": session,
        "columns": screen.window_columns,
        "rows": screen.window_rows + screen.status_rows,
        "paint": paint(screen),
        "ticket": ticket,
    }


def screen_markup(session: str, screen: Screen) -> str:
    """The session's screen as HTML (preview_html.py), placed as ``paint`` places it: below a top status line, at the
    pane's place in its window."""
    return screen_html(
        screen.rows,
        top=screen.pane_top + (screen.status_rows if screen.status_top else 0),
        left=screen.pane_left,
        cursor=(screen.cursor_x, screen.cursor_y),
        cursor_visible=screen.cursor_visible,
        name=session,
    )


# index.html's pane template (the first section.pane.placeholder) and the parts of it a preview fills in: each must
# match exactly once (tests/unit/test_pane_template.py checks the page's).
TEMPLATE_RE = re.compile(r'<section class="pane placeholder"[^>]*>.*?</section>', re.S)
TEMPLATE_PARTS = (
    # (what, pattern, replacement with {session} and {screen})
    (
        "root",
        re.compile(r'<section class="pane placeholder"'),
        '<section class="pane preview" data-session="{session}"',
    ),
    ("name", re.compile(r'<span class="pane-name">[^<]*</span>'), '<span class="pane-name">{session}</span>'),
    ("terminal", re.compile(r'<div class="pane-term"></div>'), "{screen}"),
)


def pane_template(page: str) -> str | None:
    """The page's pane template (its placeholder section), if it has one with every part a preview fills in."""
    found = TEMPLATE_RE.search(page)
    if found is None:
        return None
    template = found.group(0)
    for what, pattern, _ in TEMPLATE_PARTS:
        if len(pattern.findall(template)) != 1:
            log.warning("no HTML previews: the page's pane template has no single %s part", what)
            return None
    return template


def pane_section(template: str, session: str, screen: str) -> str:
    """The template filled in for one previewed session: class ``preview``, its id, its name, its screen in place of
    the terminal (state "connecting", stale, "Connecting…": the template's own)."""
    values = {"session": html.escape(session), "screen": screen}
    for _, pattern, replacement in TEMPLATE_PARTS:
        filled = replacement.format_map(values)
        template = pattern.sub(lambda _match, filled=filled: filled, template, count=1)
    return template


def script_json(value: object) -> str:
    """JSON that can sit inside a <script> element whatever its strings hold (ASCII only; `<`, `>`, `&` escaped)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).translate(HTML_UNSAFE_TABLE)


def element(blob: dict[str, object]) -> str:
    """The <script> element the page carries (index.html's {{preview}})."""
    return f'<script type="application/json" id="{ELEMENT_ID}">{script_json(blob)}</script>'


def page_sessions(query: str, default_session: str) -> list[str]:
    """The sessions the page will open: those of ``?session=`` (valid, first occurrence, in order: the client's own
    rule), else the default one. (An invalid default opens nothing.)"""
    asked = sessions_from_query(query)
    if asked:
        return asked
    return [default_session] if SESSION_ID_RE.match(default_session) else []


@dataclass(frozen=True)
class PagePreview:
    """What a page carries: the blob (index.html's {{preview}}) and the previewed panes' HTML ({{preview-panes}})."""

    blob: dict[str, object]
    sections: str  # "" when the page has no pane template

    def fills(self) -> dict[str, str]:
        """index.html's preview placeholders -> their text (livepane_server/assets.py fills them in one pass)."""
        return {PREVIEW_PLACEHOLDER: element(self.blob), PANES_PLACEHOLDER: self.sections}


class Previews:
    """Makes the page's previews: tmux's screens (as JSON and HTML) and first tickets for the sessions a page opens."""

    def __init__(
        self,
        tmux: Tmux,
        issue_ticket: Callable[[str], str],
        ticket_ttl_s: float,
        policy: PreviewPolicy | None = None,
    ) -> None:
        self.tmux = tmux
        self.issue_ticket = issue_ticket
        self.ticket_ttl_s = ticket_ttl_s
        self.policy = policy or PreviewPolicy()

    async def capture(self, session: str) -> Screen | None:
        """The session's screen, or None: unknown session, tmux failing, missing or slower than the deadline."""
        if not SESSION_ID_RE.match(session):
            return None
        try:
            status, out = await self.tmux.screen(session, self.policy.deadline_s)
        except TimeoutError:
            log.info("no preview of %s: tmux did not answer within %.1f s", session, self.policy.deadline_s)
            return None
        except OSError as exc:
            log.info("no preview of %s: %s", session, exc)
            return None
        return parse_screen(out) if status == 0 else None

    async def captures(self, sessions: list[str]) -> list[Screen | None]:
        """``capture`` of each session: several in one tmux process (Tmux.screens); one at a time if tmux stopped at
        a session that is not there, so the others still get theirs."""
        asked = [session for session in sessions if SESSION_ID_RE.match(session)]
        if len(asked) > 1:
            try:
                status, out = await self.tmux.screens(asked, self.policy.deadline_s)
            except TimeoutError:
                log.info("no previews: tmux did not answer within %.1f s", self.policy.deadline_s)
                return [None] * len(sessions)
            except OSError as exc:
                log.info("no previews: %s", exc)
                return [None] * len(sessions)
            screens = split_screens(out, len(asked)) if status == 0 else None
            if screens is not None:
                by_session = dict(zip(asked, screens, strict=True))
                return [by_session.get(session) for session in sessions]
        return list(await asyncio.gather(*(self.capture(session) for session in sessions)))

    async def page(self, sessions: Iterable[str], template: str | None) -> PagePreview | None:
        """The previews of ``sessions`` (the first ``max_panes`` of them), or None when none has one; with the page's
        pane ``template`` (``pane_template``), each also as its pane's HTML."""
        wanted = list(dict.fromkeys(sessions))[: self.policy.max_panes]
        if not wanted:
            return None
        screens = await self.captures(wanted)
        panes: list[dict[str, object]] = []
        sections: list[str] = []
        total = 0
        for session, screen in zip(wanted, screens, strict=True):
            if screen is None:
                continue
            entry = preview_entry(session, screen, None)
            size = len(script_json(entry))
            # Over the limits without its HTML, it is left out before the HTML is made (the costlier half).
            fits = size <= self.policy.max_pane_bytes and total + size <= self.policy.max_total_bytes
            # Rendered off the event loop: a large coloured screen costs up to ~0.3 s of CPU, which would stall every
            # other pane's output meanwhile (the thread gives the loop its turns at the interpreter's switch interval).
            section = "" if template is None or not fits else await asyncio.to_thread(
                lambda session=session, screen=screen: pane_section(template, session, screen_markup(session, screen))
            )
            size += len(section)
            if size > self.policy.max_pane_bytes or total + size > self.policy.max_total_bytes:
                log.info("no preview of %s: its screen is %d bytes", session, size)
                continue
            total += size
            panes.append(entry)
            sections.append(section)
        if not panes:
            return None
        for entry in panes:  # minted last, only for the panes the page carries
            entry["ticket"] = self.issue_ticket(str(entry["session"]))
        blob = {"version": PREVIEW_VERSION, "ticket_ttl_ms": round(self.ticket_ttl_s * 1000), "panes": panes}
        return PagePreview(blob, "".join(sections))

    async def blob(self, sessions: Iterable[str]) -> dict[str, object] | None:
        """The blob alone (``page`` without HTML)."""
        preview = await self.page(sessions, None)
        return None if preview is None else preview.blob
