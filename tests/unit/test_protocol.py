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
    assert protocol.parse_preferences(prefs).keepalive_ms == expected


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
    assert protocol.parse_preferences(frame[1:].decode()).keepalive_ms == 10_000.0


def test_close_codes_are_sendable_except_the_local_ones() -> None:
    local = {protocol.Close.ABNORMAL}
    for code in protocol.Close:
        assert protocol.is_sendable_close_code(code) is (code not in local), code
    assert not protocol.is_sendable_close_code(1005)
    assert not protocol.is_sendable_close_code(None)


# --------------------------------------------------------------------------------------------------------------------
# Protocol 2 (docs/protocol.md §2)


def test_protocol_2_frames() -> None:
    assert json.loads(protocol.handshake_frame(80, 24, protocol=2)) == {
        "AuthToken": "",
        "columns": 80,
        "rows": 24,
        "livepane": {"protocol": 2},
    }
    assert protocol.probe_frame("17") == b"917"
    assert protocol.probe_answer_frame(b"17") == b"917"
    assert protocol.ack_frame(42) == b"842"
    assert (ord("8"), ord("9"), b"9") == (protocol.ACK, protocol.PROBE_ANSWER, protocol.PROBE)
    with pytest.raises(ValueError):
        protocol.probe_frame("x" * 17)
    assert protocol.PROTOCOL_VERSION == 5
    # A server advertises what it implements: protocol 1 unless it says otherwise (see preferences_frame).
    assert json.loads(preferences_frame(10_000)[1:])["livepane"]["protocol"] == 1
    assert json.loads(preferences_frame(10_000, 2)[1:])["livepane"]["protocol"] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"livepane": {"protocol": 2, "keepalive_ms": 10000}}', 2),
        ('{"livepane": {"protocol": 1}}', 1),
        ('{"fontSize": 14}', 0),  # a plain ttyd
        ('{"livepane": {"protocol": true}}', 0),
        ('{"livepane": {"protocol": "2"}}', 0),
        ('{"livepane": {"protocol": -3}}', 0),
        ('{"livepane": []}', 0),
        ("[]", 0),
        ("not json", 0),
    ],
)
def test_server_protocol_is_read_only_from_a_livepane_field(text: str, expected: int) -> None:
    assert protocol.parse_preferences(text).protocol == expected
    assert protocol.client_protocol(json.loads(text) if text != "not json" else None) == expected


@pytest.mark.parametrize(
    ("payload", "expected"), [("0", 0), ("12", 12), (" 7 ", 7), ("-1", None), ("1e3", None), ("", None), ("٣", None)]
)
def test_parse_ack(payload: str, expected: int | None) -> None:
    assert protocol.parse_ack(payload) == expected


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("a" * 10, 4),
        ("é" * 10, 5),  # 2-byte sequences across an odd limit
        ("€" * 10, 4),  # 3-byte
        ("😀" * 10, 6),  # 4-byte
        ("a😀é€" * 50, 7),
        ("", 4),
    ],
)
def test_split_input_never_cuts_inside_a_utf8_sequence(text: str, limit: int) -> None:
    pieces = protocol.split_input(text.encode(), limit)
    assert b"".join(pieces) == text.encode()
    assert all(0 < len(p) <= limit for p in pieces) or text == ""
    assert "".join(p.decode() for p in pieces) == text  # each piece decodes on its own


def test_split_input_cuts_bytes_that_are_not_utf8_where_they_fall() -> None:
    data = b"\x80" * 10
    assert protocol.split_input(data, 4) == [b"\x80" * 4, b"\x80" * 4, b"\x80" * 2]
    most = protocol.MAX_CLIENT_FRAME_BYTES - 1  # the payload of the largest frame: one byte goes to the command
    assert protocol.split_input(b"x" * (most + 1)) == [b"x" * most, b"x"]


def test_protocol_3_scroll_frames() -> None:
    assert protocol.SCROLL == b"8"  # client to server; the server's ACK is also "8", the other way
    assert protocol.scroll_frame(-3) == b"8-3"
    assert protocol.scroll_frame(12) == b"812"
    assert protocol.scroll_frame(-10**6) == b"8-1000"  # clamped to MAX_SCROLL_LINES
    with pytest.raises(ValueError):
        protocol.scroll_frame(0)
    assert protocol.parse_scroll(b"-3") == protocol.ScrollRequest(-3)
    assert protocol.parse_scroll(b"+7") == protocol.ScrollRequest(7)
    assert protocol.parse_scroll(b"999999999") == protocol.ScrollRequest(protocol.MAX_SCROLL_LINES)
    assert protocol.parse_scroll(b"-999999999") == protocol.ScrollRequest(-protocol.MAX_SCROLL_LINES)
    for bad in (b"", b"0", b"-0", b"007", b"1e3", b"1.5", b" 1", b"1\n", b"--1", b"1" * 10, "٣".encode()):
        assert protocol.parse_scroll(bad) is None, bad


def test_protocol_4_scroll_frames_name_the_cell_under_the_wheel() -> None:
    assert protocol.PROTOCOL_VERSION >= protocol.SCROLL_AT_CELL_PROTOCOL == 4
    cell = protocol.Cell(column=12, row=0)
    assert protocol.scroll_frame(-3, cell) == b"8-3 12 0"
    assert protocol.parse_scroll(b"-3 12 0") == protocol.ScrollRequest(-3, cell)
    assert protocol.parse_scroll(b"5000 99999 7") == protocol.ScrollRequest(1000, protocol.Cell(99999, 7))
    for bad_cell in (protocol.Cell(-1, 0), protocol.Cell(0, protocol.MAX_TERMINAL_SIDE)):
        with pytest.raises(ValueError):
            protocol.scroll_frame(1, bad_cell)
    for bad in (b"-3 1", b"-3 1 2 3", b"-3 -1 2", b"-3  1 2", b"-3 01 2", b"-3 1 123456", b"-3 1,2", b"-3 1 2\n"):
        assert protocol.parse_scroll(bad) is None, bad
