"""The wire contract between the pane and serve.py (docs/protocol.md §2-3): the one module both ends import.

Rules:

- Pure standard library, no I/O, no ``js``: serve.py imports it under CPython, the page under Pyodide, the test
  client too. Nothing else in the repository writes a frame byte, a close code or a contract reason as a literal.
- Frames are built as ``bytes`` (the browser adapter hands them to ``WebSocket.send`` as a Uint8Array); server frames
  are classified by their first byte so the adapter can pass the payload on to xterm.js without copying it.
- Close codes and the reasons the client reads are defined here once; what the client *does* with each lives in
  ``pyclient/reconnect.py``.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACK",
    "DRAIN",
    "DRAIN_FRAME",
    "INPUT",
    "INPUT_END",
    "KEEPALIVE_FRAME",
    "MAX_CLIENT_FRAME_BYTES",
    "MAX_CLOSE_REASON_BYTES",
    "MAX_PROBE_PAYLOAD_BYTES",
    "MAX_SCROLL_LINES",
    "MAX_TERMINAL_SIDE",
    "OUTPUT",
    "PAUSE",
    "PREFERENCES",
    "PROBE",
    "PROBE_ANSWER",
    "PROTOCOL_VERSION",
    "RESIZE",
    "RESUME",
    "SCROLL",
    "SCROLL_AT_CELL_PROTOCOL",
    "SENDABLE_CLOSE_CODES",
    "SESSION_ID_RE",
    "SETTLED_PROTOCOL",
    "SUBPROTOCOL",
    "TITLE",
    "Cell",
    "Close",
    "Reason",
    "ScrollRequest",
    "ServerPreferences",
    "ack_frame",
    "client_protocol",
    "handshake_frame",
    "input_frame",
    "is_sendable_close_code",
    "is_terminal_reply",
    "output_frame",
    "parse_ack",
    "parse_preferences",
    "parse_scroll",
    "preferences_frame",
    "probe_answer_frame",
    "probe_frame",
    "resize_frame",
    "scroll_frame",
    "split_input",
    "title_frame",
]

SUBPROTOCOL = "tty"  # ttyd's; lets the pyclient talk to an unmodified ttyd

# Client to server: the first byte of each frame after the handshake.
INPUT = b"0"
RESIZE = b"1"
PAUSE = b"2"
RESUME = b"3"
# livepane protocol 2, sent only to a server whose preferences say protocol >= 2 (ttyd uses 0-3 client to server):
PROBE = b"9"  # + payload (<= MAX_PROBE_PAYLOAD_BYTES ASCII): "answer me now"
INPUT_END = b"7"  # the answer to DRAIN: no input follows on this connection (what was typed since waits for the next)
# livepane protocol 3, sent only to a server whose preferences say protocol >= 3:
SCROLL = b"8"  # + ASCII signed decimal N: scroll the session's active pane N lines (N < 0: back into the history)
# (protocol 4: N, a space, column, a space, row: scroll the pane under that cell of the terminal, the wheel's)

# Server to client: the first byte of each frame, as an int (what a Uint8Array index gives).
OUTPUT = ord("0")
TITLE = ord("1")
PREFERENCES = ord("2")
# livepane protocol 2, sent only to a client whose handshake said protocol >= 2 (ttyd uses 0-2 server to client):
ACK = ord("8")  # + ASCII decimal N: input frames of this connection written to the PTY so far (cumulative)
PROBE_ANSWER = ord("9")  # + the probe's payload, sent as soon as the probe is read
# The server is about to close 1012: send INPUT_END and no more input here. Browsers drop what a page sends after
# they received a close frame, before the page hears of it; so a restart ends the client's input before its close.
DRAIN = ord("7")

# An empty output frame: the server's keepalive, sent after a quiet interval so a half-open socket is noticed.
KEEPALIVE_FRAME = bytes([OUTPUT])

# livepane's own fields in the handshake and the preferences frame, under the key "livepane" (a plain ttyd sends and
# reads none). 2: acks and probes; 3: scroll requests; 4: a scroll may name the cell under the wheel; 5: settled
# restarts (docs/protocol.md §2). A peer that sends no "livepane" key speaks 0 (plain ttyd).
PROTOCOL_VERSION = 5
# The first protocol whose SCROLL may carry a cell: a protocol-3 server closes 4400 on one, so it never gets one.
SCROLL_AT_CELL_PROTOCOL = 4
# From this protocol on, a client's graceful restart may close 1012 with Reason.SETTLED: the last ack before that close
# counts every input frame the server wrote (or relayed) on the connection, and nothing after it was: the client
# sends the rest again on its next connection. Only to a client whose handshake declared it.
SETTLED_PROTOCOL = 5

# A probe's payload: a short token the answer echoes (a counter is enough).
MAX_PROBE_PAYLOAD_BYTES = 16

# The most lines one SCROLL moves (a larger request is clamped to it): tmux's default history-limit is 2000 lines, and
# a fast fling of a wheel is some tens of lines per event; it bounds the repeat count serve.py hands tmux.
MAX_SCROLL_LINES = 1000
# A SCROLL payload: a sign and at most 9 digits (a client sends at most MAX_SCROLL_LINES; anything longer is garbage),
# then (protocol 4) optionally the cell: two decimals of at most 5 digits, each after one space (0-based column, row).
_SCROLL_RE = re.compile(rb"\A([+-]?[1-9][0-9]{0,8})(?: (0|[1-9][0-9]{0,4}) (0|[1-9][0-9]{0,4}))?\Z")

# \Z, not $: "$" also matches before a trailing newline, which would let "main\n" through.
SESSION_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")

# Limits. A client frame larger than this closes the socket with 1009 (ttyd's own input buffer is of this order).
MAX_CLIENT_FRAME_BYTES = 64 * 1024
# Largest column or row count a handshake or resize may ask for: bounds the PTY and tmux's screen allocation.
MAX_TERMINAL_SIDE = 10_000


class Close(enum.IntEnum):
    """WebSocket close codes with a meaning in the contract (docs/protocol.md §3)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002  # a frame that breaks RFC 6455 itself (aiohttp's parser refuses it)
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006  # never sent: the browser reports it when the connection broke
    INVALID_TEXT = 1007  # a text frame that is not UTF-8
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013  # never sent by serve.py itself; relayed from an upstream in proxy mode
    BAD_GATEWAY = 1014
    CLIENT_TIMEOUT = 4000  # client-side: the pane's own close of an abandoned attempt or a silent socket
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NO_SUCH_SESSION = 4404


class Reason:
    """Close reasons (and reason prefixes) that a peer reads, not just logs."""

    SESSION_ENDED = "session ended"  # with 1000: the tmux session is gone; the pane offers a relaunch
    NO_SUCH_SESSION = "no such session"
    SERVICE_RESTART = "service restart"
    # With 1012, to a protocol-5 client: input is settled by the last ack (SETTLED_PROTOCOL); a client matches it
    # exactly. A plain "service restart" promises nothing about input the acks did not cover.
    SETTLED = "service restart: input settled by the last ack"
    MESSAGE_TOO_BIG = "message too big"
    PROTOCOL_ERROR = "protocol error"
    INVALID_TEXT = "text frame is not UTF-8"
    UNKNOWN_MESSAGE = "unknown message type"
    INTERNAL_ERROR = "internal error"
    ORIGIN_NOT_ALLOWED = "origin not allowed"
    BAD_REQUEST = "bad request"  # prefix: "bad request: <what>"
    UNAUTHORIZED = "unauthorized"  # prefix
    BAD_GATEWAY = "bad gateway"  # prefix
    CLIENT_TIMEOUT = "connect timeout"
    KEEPALIVE_TIMEOUT = "keepalive timeout"
    PROBE_TIMEOUT = "probe timeout"  # protocol 2: input sent, a probe sent, nothing received by its deadline
    DRAIN_TIMEOUT = "restart timeout"  # a DRAIN, then no close within the policy's drain_close_ms
    OFFLINE = "offline"  # the browser said it is offline: the pane left the connection at once


# RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code.
MAX_CLOSE_REASON_BYTES = 123

# Codes a peer may put in a close frame (RFC 6455 §7.4): 1005/1006/1015 are reserved for "no code" and local reports.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_sendable_close_code(code: int | None) -> bool:
    return code is not None and (code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999)


def handshake_frame(columns: int, rows: int, auth_token: str = "", *, protocol: int | None = None) -> bytes:
    """The first frame on every socket: sizes the PTY before tmux attaches and paints. ``protocol``: the livepane
    protocol this client speaks (the pane passes :data:`PROTOCOL_VERSION`); ``None`` sends ttyd's frame unchanged."""
    handshake: dict[str, Any] = {"AuthToken": auth_token, "columns": int(columns), "rows": int(rows)}
    if protocol is not None:
        handshake["livepane"] = {"protocol": int(protocol)}
    return json.dumps(handshake).encode()


def client_protocol(handshake: Any) -> int:
    """The livepane protocol a parsed handshake declares; 0 for a plain ttyd client (or anything malformed)."""
    try:
        value = handshake["livepane"]["protocol"]
    except (KeyError, TypeError, IndexError):
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def input_frame(data: str | bytes) -> bytes:
    return INPUT + (data.encode() if isinstance(data, str) else bytes(data))


def split_input(payload: bytes, max_payload_bytes: int = MAX_CLIENT_FRAME_BYTES - len(INPUT)) -> list[bytes]:
    """Input cut into payloads of at most ``max_payload_bytes``, never inside a UTF-8 sequence.

    A cut backs up over at most three continuation bytes (10xxxxxx) to the start of a sequence; bytes that are not
    UTF-8 (a legacy mouse report) are cut where they fall. Joined, the pieces are ``payload``.
    """
    if max_payload_bytes < 4:
        raise ValueError("max_payload_bytes must hold a whole UTF-8 sequence (4 bytes)")
    pieces: list[bytes] = []
    start, end = 0, len(payload)
    while end - start > max_payload_bytes:
        cut = start + max_payload_bytes
        back = cut
        while back > cut - 3 and payload[back] & 0xC0 == 0x80:
            back -= 1
        if payload[back] & 0xC0 != 0x80:
            cut = back  # payload[back] starts a sequence (or is ASCII): cut before it
        pieces.append(payload[start:cut])
        start = cut
    pieces.append(payload[start:end])
    return pieces


def probe_frame(payload: str) -> bytes:
    data = payload.encode("ascii")
    if len(data) > MAX_PROBE_PAYLOAD_BYTES:
        raise ValueError(f"a probe payload is at most {MAX_PROBE_PAYLOAD_BYTES} bytes")
    return PROBE + data


def probe_answer_frame(payload: bytes) -> bytes:
    return bytes([PROBE_ANSWER]) + payload


DRAIN_FRAME = bytes([DRAIN])


def ack_frame(count: int) -> bytes:
    return bytes([ACK]) + str(int(count)).encode()


def parse_ack(payload: str) -> int | None:
    """The count an ACK frame carries; ``None`` if it is not a plain non-negative decimal."""
    text = payload.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


@dataclass(frozen=True)
class Cell:
    """A terminal cell, 0-based from the top left: the tmux client's screen (its status line included)."""

    column: int
    row: int


@dataclass(frozen=True)
class ScrollRequest:
    """What a SCROLL frame asks for: ``lines`` (negative: up) of the pane under ``cell``, or the active one's."""

    lines: int
    cell: Cell | None = None


def scroll_frame(lines: int, cell: Cell | None = None) -> bytes:
    """Ask the server to scroll ``lines`` lines (negative: up, into the history): the pane under ``cell`` (only to a
    server of protocol >= SCROLL_AT_CELL_PROTOCOL), or the session's active pane."""
    lines = max(-MAX_SCROLL_LINES, min(MAX_SCROLL_LINES, int(lines)))
    if lines == 0:
        raise ValueError("a scroll moves at least one line")
    if cell is None:
        return SCROLL + str(lines).encode()
    if not (0 <= cell.column < MAX_TERMINAL_SIDE and 0 <= cell.row < MAX_TERMINAL_SIDE):
        raise ValueError(f"a cell is inside a terminal of at most {MAX_TERMINAL_SIDE} cells a side")
    return SCROLL + f"{lines} {cell.column} {cell.row}".encode()


def parse_scroll(payload: bytes) -> ScrollRequest | None:
    """What a SCROLL frame asks for, lines clamped to +-MAX_SCROLL_LINES; ``None`` if it is not a nonzero signed
    decimal of at most 9 digits, optionally followed by a cell (`` column row``, each at most 5 digits)."""
    match = _SCROLL_RE.match(payload)
    if match is None:
        return None
    lines = max(-MAX_SCROLL_LINES, min(MAX_SCROLL_LINES, int(match[1])))
    cell = Cell(int(match[2]), int(match[3])) if match[2] is not None else None
    return ScrollRequest(lines, cell)


def resize_frame(columns: int, rows: int) -> bytes:
    return RESIZE + json.dumps({"columns": int(columns), "rows": int(rows)}).encode()


def output_frame(data: bytes) -> bytes:
    return bytes([OUTPUT]) + data


def title_frame(title: str) -> bytes:
    return bytes([TITLE]) + title.encode()


def preferences_frame(keepalive_ms: float, protocol: int = 1) -> bytes:
    """The preferences frame serve.py sends after the title: ttyd's frame, livepane's fields under "livepane".

    ``protocol``: what this server implements. Advertise 2 or more (:data:`PROTOCOL_VERSION` is 4) only from a server
    that answers probes and acks input: a client probes such a server and drops a connection whose probe goes
    unanswered.
    """
    livepane = {"protocol": int(protocol), "keepalive_ms": int(keepalive_ms)}
    return bytes([PREFERENCES]) + json.dumps({"livepane": livepane}).encode()


@dataclass(frozen=True)
class ServerPreferences:
    """What a server's preferences frame says about livepane: its protocol (0 from a plain ttyd, or anything
    malformed) and its keepalive interval (``None`` from a plain ttyd)."""

    protocol: int = 0
    keepalive_ms: float | None = None


def parse_preferences(preferences_json: str) -> ServerPreferences:
    """The server's preferences frame, parsed once per connection."""
    try:
        prefs: Any = json.loads(preferences_json)
    except ValueError:
        return ServerPreferences()
    try:
        value = prefs["livepane"]["keepalive_ms"]
    except (KeyError, TypeError, IndexError):
        value = None
    valid = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return ServerPreferences(client_protocol(prefs), float(value) if valid else None)


# Answers xterm.js generates by itself to the terminal's queries (tmux asks on every attach). They belong to the
# connection that asked: never held across a drop, never typed into a shell later (a peer printed "0;276;0c" at the
# prompt after each reconnect).
_TERMINAL_REPLY = re.compile(
    r"""\x1b\[[?>=]?[\d;]*c            # primary/secondary/tertiary device attributes (DA1/DA2/DA3)
      | \x1b\[\??\d+;\d+R              # cursor position report (CPR / DECXCPR)
      | \x1b\[\??[\d;]*n               # device status report (DSR)
      | \x1b\[\??[\d;]+\$y             # mode report (DECRPM)
      | \x1b\[[\d;]*t                  # window manipulation reports (XTWINOPS)
      | \x1b\][\d;]+;[^\x07\x1b]*(?:\x07|\x1b\\)   # OSC replies (colour queries)
      | \x1bP[^\x1b]*\x1b\\            # DCS replies (DECRQSS, XTVERSION, XTGETTCAP)
      | \x1b\[[IO]                     # focus in/out reports
    """,
    re.VERBOSE,
)


def is_terminal_reply(data: str) -> bool:
    """Whether a chunk of terminal "input" is made only of replies the terminal generated by itself."""
    return bool(data) and _TERMINAL_REPLY.sub("", data) == ""
