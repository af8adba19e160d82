"""The ttyd frame codec and the terminal-reply classifier."""

from __future__ import annotations

import json

import pytest

from pyclient import protocol
from pyclient.protocol import (
    PAUSE,
    RESUME,
    SESSION_ID_RE,
    handshake_frame,
    input_frame,
    is_terminal_reply,
    keepalive_ms,
    output_frame,
    preferences_frame,
    resize_frame,
    title_frame,
)


def test_frames_match_ttyd() -> None:
    assert json.loads(handshake_frame(80, 24)) == {"AuthToken": "", "columns": 80, "rows": 24}
    assert input_frame("ls\r") == b"0ls\r"
    assert input_frame("é") == b"0\xc3\xa9"
    assert input_frame(b"\x03") == b"0\x03"
    assert resize_frame(120, 40) == b'1{"columns": 120, "rows": 40}'
    assert (PAUSE, RESUME) == (b"2", b"3")


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        ('{"livepane": {"protocol": 1, "keepalive_ms": 10000}}', 10000.0),
        ('{"fontSize": 14}', None),  # a plain ttyd
        ('{"livepane": {"keepalive_ms": 0}}', None),
        ('{"livepane": {"keepalive_ms": true}}', None),
        ('{"livepane": {"keepalive_ms": "10"}}', None),
        ('{"livepane": []}', None),
        ("not json", None),
    ],
)
def test_keepalive_is_read_only_from_a_livepane_server(prefs: str, expected: float | None) -> None:
    assert keepalive_ms(prefs) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "\x1b[>0;276;0c",  # DA2: the stray "0;276;0c" a peer typed into the shell
        "\x1b[?1;2c",  # DA1
        "\x1b[?1;2c\x1b[>0;276;0c",  # both at once
        "\x1b[12;40R",  # cursor position
        "\x1b[0n",  # status
        "\x1b[?2004;1$y",  # mode report
        "\x1b]11;rgb:0000/0000/0000\x1b\\",  # background colour
        "\x1bP>|xterm.js(6.0.0)\x1b\\",  # XTVERSION
        "\x1b[I",
    ],
)
def test_terminal_replies_are_recognised(reply: str) -> None:
    assert is_terminal_reply(reply)


@pytest.mark.parametrize("typed", ["", "ls\r", "\x1b[A", "\x1b[15~", "\x03", "0;276;0c", "\x1b[>0;276;0cls", "\x1b[Z"])
def test_what_a_user_types_is_not_a_reply(typed: str) -> None:
    assert not is_terminal_reply(typed)


@pytest.mark.parametrize(("sid", "ok"), [("main", True), ("a-b_C9", True), ("x" * 64, True), ("x" * 65, False),
                                         ("", False), ("a b", False), ("../x", False), ("main\n", False)])
def test_session_ids(sid: str, ok: bool) -> None:
    assert bool(SESSION_ID_RE.match(sid)) is ok


def test_server_frames_carry_their_kind_byte() -> None:
    assert output_frame(b"hi") == b"0hi"
    assert protocol.KEEPALIVE_FRAME == b"0"
    assert title_frame("main") == b"1main"
    frame = preferences_frame(10_000)
    assert frame[0] == protocol.PREFERENCES
    assert keepalive_ms(frame[1:].decode()) == 10_000.0


def test_close_codes_are_sendable_except_the_local_ones() -> None:
    local = {protocol.Close.ABNORMAL}
    for code in protocol.Close:
        assert protocol.is_sendable_close_code(code) is (code not in local), code
    assert not protocol.is_sendable_close_code(1005)
    assert not protocol.is_sendable_close_code(None)
