"""Protocol 3's SCROLL on the server (docs/protocol.md §2, livepane_server/scroll.py): the session's active pane is
scrolled in tmux's copy mode (and back out of it at the bottom), an app in the alternate screen gets arrow keys,
amounts are clamped, and a bad value closes that socket 4400 while every other keeps running."""

from __future__ import annotations

import shlex

import pytest
from support import async_wait_until

from livepane_server.scroll import PaneState, WindowPane, pane_under, scroll_command
from pyclient import protocol
from pyclient.protocol import Cell

from .conftest import TEST_SHELL, TmuxServer, running_app
from .test_socket_errors import assert_still_serving


def mode_and_position(tmux_server: TmuxServer, session: str) -> tuple[str, str]:
    in_mode, _, position = tmux_server.display(session, "#{pane_in_mode} #{scroll_position}").partition(" ")
    return in_mode, position


async def print_rows(pane, tmux_server: TmuxServer, session: str, count: int) -> None:
    await pane.send_input(f"seq -f 'row%04g' 1 {count}\r")
    await async_wait_until(lambda: f"row{count:04d}" in tmux_server.capture(session), what="the rows printed")


async def test_scroll_up_enters_copy_mode_and_scrolling_down_to_the_bottom_leaves_it(
    tmux_server: TmuxServer, session: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await print_rows(pane, tmux_server, session, 200)
        await pane.ws.send_bytes(protocol.scroll_frame(-30))
        await async_wait_until(lambda: mode_and_position(tmux_server, session) == ("1", "30"), what="30 lines up")
        await pane.ws.send_bytes(protocol.scroll_frame(-10))
        await pane.ws.send_bytes(protocol.scroll_frame(25))  # summed with what is still pending: no queue of runs
        await async_wait_until(lambda: mode_and_position(tmux_server, session) == ("1", "15"), what="15 lines up")
        await pane.ws.send_bytes(protocol.scroll_frame(40))  # past the bottom: copy mode (entered -e) ends
        await async_wait_until(lambda: mode_and_position(tmux_server, session)[0] == "0", what="copy mode left")
        assert not tmux_server.capture(session).rstrip().endswith("seq -f 'row%04g' 1 200")  # no command recalled
        await pane.ws.send_bytes(protocol.scroll_frame(5))  # down at the live screen: nothing to do
        await assert_still_serving(client, pane)
        assert mode_and_position(tmux_server, session)[0] == "0"


async def test_a_huge_scroll_is_clamped(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await print_rows(pane, tmux_server, session, 1500)
        await pane.ws.send_bytes(protocol.SCROLL + b"-999999999")
        limit = str(protocol.MAX_SCROLL_LINES)
        await async_wait_until(lambda: mode_and_position(tmux_server, session) == ("1", limit), what="clamped")


async def test_an_app_in_the_alternate_screen_gets_arrow_keys(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await pane.send_input("printf '\\033[?1049h'; cat -v\r")  # what vim or less do first; cat shows the keys
        await async_wait_until(lambda: tmux_server.display(session, "#{alternate_on}") == "1", what="alt screen")
        await pane.ws.send_bytes(protocol.scroll_frame(-2))
        await async_wait_until(lambda: "^[[A^[[A" in tmux_server.capture(session), what="Up Up")
        await pane.ws.send_bytes(protocol.scroll_frame(1))  # (sent together, the two would be summed: one Up)
        await async_wait_until(lambda: "^[[A^[[A^[[B" in tmux_server.capture(session), what="then Down")
        assert mode_and_position(tmux_server, session)[0] == "0"
        await pane.send_input("\x03")


def pane_mode_and_position(tmux_server: TmuxServer, pane_id: str) -> tuple[str, str]:
    out = tmux_server.run("display-message", "-p", "-t", pane_id, "#{pane_in_mode} #{scroll_position}", check=False)
    in_mode, _, position = out.strip().partition(" ")
    return in_mode, position


async def test_a_scroll_at_a_cell_scrolls_the_pane_under_it_in_a_split_window(
    tmux_server: TmuxServer, session: str
) -> None:
    """Protocol 4: the wheel's cell picks the pane (the left one, while the right one is active); a scroll without a
    cell (a protocol-3 client) still scrolls the active pane."""
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)  # 80×24: the window is rows 0-22, tmux's status line row 23
        await print_rows(pane, tmux_server, session, 200)
        left = tmux_server.display(session, "#{pane_id}")
        tmux_server.run("split-window", "-h", "-t", f"={session}:", *shlex.split(TEST_SHELL))  # columns 0-39 | 41-79
        right = tmux_server.display(session, "#{pane_id}")
        assert left != right and tmux_server.display(session, "#{pane_left}") == "41"
        await pane.ws.send_bytes(protocol.SCROLL + b"-30 5 5")  # a cell of the left pane
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, left) == ("1", "30"), what="left scrolled")
        assert pane_mode_and_position(tmux_server, right)[0] == "0", "the active pane scrolled instead"
        await pane.ws.send_bytes(protocol.SCROLL + b"-5 39 22")  # its last cell (bottom right)
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, left) == ("1", "35"), what="left again")
        await pane.send_input("seq -f 'right%04g' 1 100\r")  # typing goes to the active (right) pane
        await async_wait_until(lambda: "right0100" in tmux_server.run("capture-pane", "-p", "-t", right), what="rows")
        await pane.ws.send_bytes(protocol.SCROLL + b"-7 60 0")  # the right pane's first row
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, right) == ("1", "7"), what="right scrolled")
        await pane.ws.send_bytes(protocol.SCROLL + b"10 40 5")  # the border: no pane's cell, the active one's
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, right)[0] == "0", what="right at bottom")
        assert pane_mode_and_position(tmux_server, left) == ("1", "35")
        await pane.ws.send_bytes(protocol.scroll_frame(-3))  # no cell: the active pane, as protocol 3 does
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, right) == ("1", "3"), what="active pane")
        await pane.ws.send_bytes(protocol.scroll_frame(3))  # back to the live screen: typing reaches the shell
        await async_wait_until(lambda: pane_mode_and_position(tmux_server, right)[0] == "0", what="right live")
        await assert_still_serving(client, pane)


@pytest.mark.parametrize(
    "payload",
    [
        *(b"", b"0", b"-0", b"+", b"x", b"1.5", b" 3", b"3\n", b"--1", b"1" * 10, b"\xff", b'{"lines": 3}'),
        *(b"-3 1", b"-3 1 2 3", b"-3 -1 2", b"-3 1  2", b"-3 01 2", b"-3 1 123456", b"-3 1,2", b"-3 1 2\n"),
    ],
)
async def test_a_bad_scroll_closes_4400_and_the_server_stays_up(
    tmux_server: TmuxServer, session: str, payload: bytes
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.open_pane(session)
        await pane.ws.send_bytes(protocol.SCROLL + payload)
        reason = "bad request: a scroll carries a nonzero signed decimal line count, optionally then a column and a row"
        assert await pane.expect_close() == (4400, reason)
        await assert_still_serving(client, witness)


async def test_a_scroll_is_answered_with_nothing_and_a_plain_client_sees_no_new_frame(
    tmux_server: TmuxServer, session: str
) -> None:
    """A plain ttyd client never sends SCROLL (the page sends it only to a server advertising 3); the server's
    frames to it are ttyd's, and a scroll adds none (no ack, no answer)."""
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)  # a ttyd handshake: no "livepane" key
        assert pane.got.preferences["livepane"]["protocol"] == protocol.PROTOCOL_VERSION >= 4
        await pane.ws.send_bytes(protocol.scroll_frame(-1))
        await assert_still_serving(client, pane)
        kinds = {frame[:1] for frame in pane.got.frames}
        assert kinds <= {b"0", b"1", b"2"}, kinds  # output, title, preferences: never an ack or anything else


STATES = {
    "shell": PaneState("%1", "", False),
    "app": PaneState("%1", "", True),
    "copy": PaneState("%1", "copy-mode", False),
    "view": PaneState("%1", "view-mode", True),
    "tree": PaneState("%1", "tree-mode", False),
}


@pytest.mark.parametrize(
    ("state", "lines", "argv"),
    [
        ("shell", -3, ["copy-mode", "-e", "-t", "%1", ";", "send-keys", "-t", "%1", "-X", "-N", "3", "scroll-up"]),
        ("shell", 3, None),
        ("copy", -3, ["send-keys", "-t", "%1", "-X", "-N", "3", "scroll-up"]),
        ("copy", 4, ["send-keys", "-t", "%1", "-X", "-N", "4", "scroll-down"]),
        ("view", 4, ["send-keys", "-t", "%1", "-X", "-N", "4", "scroll-down"]),
        ("app", -2, ["send-keys", "-t", "%1", "-N", "2", "Up"]),
        ("app", 2, ["send-keys", "-t", "%1", "-N", "2", "Down"]),
        ("tree", 1, ["send-keys", "-t", "%1", "-N", "1", "Down"]),
        ("copy", -5000, ["send-keys", "-t", "%1", "-X", "-N", str(protocol.MAX_SCROLL_LINES), "scroll-up"]),
        ("copy", 0, None),
    ],
)
def test_the_scroll_table(state: str, lines: int, argv: list[str] | None) -> None:
    assert scroll_command(STATES[state], lines) == argv


def test_window_pane_parsing() -> None:
    line = "%12\tcopy-mode\t0\t1\t41\t0\t39\t23\t0\ton\tbottom\n"
    assert WindowPane.parse(line) == WindowPane(PaneState("%12", "copy-mode", False), True, 41, 0, 39, 23, False, 0)
    top = WindowPane.parse("%3\t\t1\t0\t0\t0\t40\t22\t1\t2\ttop")
    assert top == WindowPane(PaneState("%3", "", True), False, 0, 0, 40, 22, zoomed=True, rows_above=2)
    assert WindowPane.parse("%3\t\t1\t0\t0\t0\t40\t22\t0\toff\ttop").rows_above == 0
    for bad in ("", "garbage", "%3\t\t1\t0\tx\t0\t40\t22\t0\ton\tbottom", "3\t\t1\t0\t0\t0\t40\t22\t0\ton\tbottom"):
        assert WindowPane.parse(bad) is None, bad


def window(*, zoomed: bool = False, rows_above: int = 0) -> list[WindowPane]:
    """80×24 split in two side by side (columns 0-39 | border 40 | 41-79), the right one active."""
    return [
        WindowPane(PaneState("%1", "", False), False, 0, 0, 40, 23, zoomed, rows_above),
        WindowPane(PaneState("%2", "", False), True, 41, 0, 39, 23, zoomed, rows_above),
    ]


@pytest.mark.parametrize(
    ("panes", "cell", "pane_id"),
    [
        (window(), None, "%2"),  # no cell: the active pane
        (window(), Cell(5, 5), "%1"),
        (window(), Cell(39, 22), "%1"),
        (window(), Cell(41, 0), "%2"),
        (window(), Cell(40, 5), "%2"),  # the border
        (window(), Cell(5, 23), "%2"),  # the status line (bottom)
        (window(), Cell(500, 500), "%2"),  # outside the window
        (window(rows_above=1), Cell(5, 0), "%2"),  # the status line on top
        (window(rows_above=1), Cell(5, 23), "%1"),  # the window's last row, one lower
        (window(zoomed=True), Cell(5, 5), "%2"),  # zoomed: only the active pane is drawn
    ],
)
def test_the_pane_under_the_cell(panes: list[WindowPane], cell: Cell | None, pane_id: str) -> None:
    assert pane_under(panes, cell) == PaneState(pane_id, "", False)
    assert pane_under([], cell) is None
