"""Protocol 3's SCROLL on the server (docs/protocol.md §2, livepane_server/scroll.py): the session's active pane is
scrolled in tmux's copy mode (and back out of it at the bottom), an app in the alternate screen gets arrow keys,
amounts are clamped, and a bad value closes that socket 4400 while every other keeps running."""

from __future__ import annotations

import pytest
from support import async_wait_until

from livepane_server.scroll import PaneState, scroll_command
from pyclient import protocol

from .conftest import TmuxServer, running_app
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


@pytest.mark.parametrize(
    "payload",
    [b"", b"0", b"-0", b"+", b"x", b"1.5", b" 3", b"3\n", b"--1", b"1" * 10, b"\xff", b'{"lines": 3}'],
)
async def test_a_bad_scroll_closes_4400_and_the_server_stays_up(
    tmux_server: TmuxServer, session: str, payload: bytes
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.open_pane(session)
        await pane.ws.send_bytes(protocol.SCROLL + payload)
        assert await pane.expect_close() == (4400, "bad request: a scroll carries a nonzero signed decimal line count")
        await assert_still_serving(client, witness)


async def test_a_scroll_is_answered_with_nothing_and_a_plain_client_sees_no_new_frame(
    tmux_server: TmuxServer, session: str
) -> None:
    """A plain ttyd client never sends SCROLL (the page sends it only to a server advertising 3); the server's
    frames to it are ttyd's, and a scroll adds none (no ack, no answer)."""
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)  # a ttyd handshake: no "livepane" key
        assert pane.got.preferences["livepane"]["protocol"] == protocol.PROTOCOL_VERSION >= 3
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


def test_pane_state_parsing() -> None:
    assert PaneState.parse("%12\tcopy-mode\t0\n") == PaneState("%12", "copy-mode", False)
    assert PaneState.parse("%3\t\t1") == PaneState("%3", "", True)
    assert PaneState.parse("") is None
    assert PaneState.parse("garbage") is None
