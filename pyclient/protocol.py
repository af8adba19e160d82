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
from typing import Any

__all__ = [
    "INPUT",
    "KEEPALIVE_FRAME",
    "MAX_CLIENT_FRAME_BYTES",
    "MAX_TERMINAL_SIDE",
    "OUTPUT",
    "PAUSE",
    "PREFERENCES",
    "PROTOCOL_VERSION",
    "RESIZE",
    "RESUME",
    "SENDABLE_CLOSE_CODES",
    "SESSION_ID_RE",
    "SUBPROTOCOL",
    "TITLE",
    "Close",
    "Reason",
    "handshake_frame",
    "input_frame",
    "is_sendable_close_code",
    "is_terminal_reply",
    "keepalive_ms",
    "output_frame",
    "preferences_frame",
    "resize_frame",
    "title_frame",
]

SUBPROTOCOL = "tty"  # ttyd's; lets the pyclient talk to an unmodified ttyd

# Client to server: the first byte of each frame after the handshake.
INPUT = b"0"
RESIZE = b"1"
PAUSE = b"2"
RESUME = b"3"

# Server to client: the first byte of each frame, as an int (what a Uint8Array index gives).
OUTPUT = ord("0")
TITLE = ord("1")
PREFERENCES = ord("2")

# An empty output frame: the server's keepalive, sent after a quiet interval so a half-open socket is noticed.
KEEPALIVE_FRAME = bytes([OUTPUT])

# livepane's own fields in the preferences frame, under the key "livepane" (a plain ttyd sends none).
PROTOCOL_VERSION = 1

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
    MESSAGE_TOO_BIG = "message too big"
    PROTOCOL_ERROR = "protocol error"  # prefix: "protocol error: <what aiohttp's parser found>"
    INVALID_TEXT = "text frame is not UTF-8"
    UNKNOWN_MESSAGE = "unknown message type"
    INTERNAL_ERROR = "internal error"
    ORIGIN_NOT_ALLOWED = "origin not allowed"
    BAD_REQUEST = "bad request"  # prefix: "bad request: <what>"
    UNAUTHORIZED = "unauthorized"  # prefix
    BAD_GATEWAY = "bad gateway"  # prefix
    CLIENT_TIMEOUT = "connect timeout"
    KEEPALIVE_TIMEOUT = "keepalive timeout"


# Codes a peer may put in a close frame (RFC 6455 §7.4): 1005/1006/1015 are reserved for "no code" and local reports.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_sendable_close_code(code: int | None) -> bool:
    return code is not None and (code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999)


def handshake_frame(columns: int, rows: int, auth_token: str = "") -> bytes:
    """The first frame on every socket: sizes the PTY before tmux attaches and paints."""
    return json.dumps({"AuthToken": auth_token, "columns": int(columns), "rows": int(rows)}).encode()


def input_frame(data: str | bytes) -> bytes:
    return INPUT + (data.encode() if isinstance(data, str) else bytes(data))


def resize_frame(columns: int, rows: int) -> bytes:
    return RESIZE + json.dumps({"columns": int(columns), "rows": int(rows)}).encode()


def output_frame(data: bytes) -> bytes:
    return bytes([OUTPUT]) + data


def title_frame(title: str) -> bytes:
    return bytes([TITLE]) + title.encode()


def preferences_frame(keepalive_ms: float) -> bytes:
    """The preferences frame serve.py sends after the title: ttyd's frame, livepane's fields under "livepane"."""
    livepane = {"protocol": PROTOCOL_VERSION, "keepalive_ms": int(keepalive_ms)}
    return bytes([PREFERENCES]) + json.dumps({"livepane": livepane}).encode()


def keepalive_ms(preferences_json: str) -> float | None:
    """The keepalive interval a livepane server advertises in its preferences frame; ``None`` from a plain ttyd."""
    try:
        prefs: Any = json.loads(preferences_json)
        value = prefs["livepane"]["keepalive_ms"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


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
