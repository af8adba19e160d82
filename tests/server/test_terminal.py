"""The terminal socket against real tmux: order of frames, repaint, input, resize, supervision, session end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from support import async_wait_until

from .conftest import TmuxServer, counting_tmux, marker, running_app


async def test_first_frames_are_title_preferences_then_repaint(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        # ttyd's title (the session id), the preferences, then tmux's repaint; the session's pane title may come
        # in between (livepane_server/titles.py), as a title frame.
        first, *rest = pane.got.frames
        assert first[:1] == b"1"
        assert [frame[:1] for frame in rest if frame[:1] != b"1"][:2] == [b"2", b"0"]
        assert pane.got.title == session
        assert pane.got.preferences == {"livepane": {"protocol": 5, "keepalive_ms": 10000}}
        assert pane.ws.protocol == "tty"


async def test_title_frames_follow_the_pane_title(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await pane.read_until(lambda got: len(got.titles) >= 2)
        assert pane.got.titles[1] == "bash"  # no title set yet: the window's name (its command)
        await pane.send_input("printf '\\033]2;%s\\007' 'set by OSC'\r")
        await pane.read_until(lambda got: got.titles[-1] == "set by OSC")


async def test_attach_repaints_what_was_on_screen(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    tmux_server.send_keys(session, f"echo {mark}", "Enter")
    await async_wait_until(lambda: tmux_server.capture(session).count(mark) == 2, what="marker on screen")
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        # The echo ran before this socket existed: only tmux's repaint on attach can carry it.
        await pane.wait_output(mark)


async def test_input_reaches_the_shell_and_echo_comes_back(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")  # the quotes keep the typed line from matching
        await pane.wait_output(mark)
        assert mark in tmux_server.capture(session)


async def test_text_frames_are_accepted_like_binary(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await client.connect(session)
        await pane.ws.send_str('{"AuthToken": "", "columns": 90, "rows": 20}')
        await pane.read_until(lambda got: bool(got.output))
        await pane.ws.send_str(f"0echo {mark[:2]}''{mark[2:]}\r")
        await pane.wait_output(mark)


async def test_handshake_and_resize_size_the_tmux_window(tmux_server: TmuxServer, session: str) -> None:
    size = "#{window_width}x#{window_height}"
    async with running_app(tmux_server) as (client, _):
        await client.open_pane(session, columns=101, rows=31)
        # tmux keeps one row for its status line.
        await async_wait_until(lambda: tmux_server.display(session, size) == "101x30", what="handshake size")
        pane = client.panes[0]
        await pane.resize(77, 19)
        await async_wait_until(lambda: tmux_server.display(session, size) == "77x18", what="resized")


async def test_latest_active_client_size_wins(tmux_server: TmuxServer, session: str) -> None:
    size = "#{window_width}x#{window_height}"
    async with running_app(tmux_server) as (client, _):
        first = await client.open_pane(session, columns=100, rows=30)
        await client.open_pane(session, columns=60, rows=15)
        await async_wait_until(lambda: tmux_server.display(session, size) == "60x14", what="second pane's size")
        await first.send_input(" ")  # activity makes the first pane the latest
        await async_wait_until(lambda: tmux_server.display(session, size) == "100x29", what="first pane's size")


async def test_on_the_users_own_tmux_a_socket_sets_its_sessions_windows_to_the_latest_size_in_one_process(
    tmux_server: TmuxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --tmux-socket (`make run`: the user's own tmux server) `window-size latest` is set on each window of the
    session a socket opens, and only there, by the same tmux process that checks the session exists: the open used
    to wait for three processes in a row (has-session, list-windows, set-option). A missing session sets nothing."""
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path))  # this test's own "default" tmux server
    env = {**os.environ, "TMUX_TMPDIR": str(tmp_path)}
    env.pop("TMUX", None)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-f", "/dev/null", *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    tmux("new-session", "-d", "-s", "mine", "-x", "80", "-y", "24", "sh")
    tmux("new-window", "-t", "=mine:", "sh")
    tmux("new-session", "-d", "-s", "theirs", "sh")
    tmux("set-option", "-g", "-w", "window-size", "smallest")
    shims = tmp_path / "bin"
    shims.mkdir()
    log = counting_tmux(shims)
    try:
        async with running_app(tmux_server, tmux_socket=None, default_session="mine") as (client, server):
            server.tmux.env["PATH"] = f"{shims}:{os.environ['PATH']}"
            await client.open_pane("mine")
            lines = log.read_text().splitlines()
            before_attach = lines[: next(i for i, line in enumerate(lines) if "attach-session" in line)]
            assert len(before_attach) == 1 and before_attach[0].startswith("has-session -t =mine ; run-shell"), \
                before_attach
            sizes = tmux("list-windows", "-a", "-F", "#{session_name} #{window-size}").split("\n")
            assert sorted(filter(None, sizes)) == ["mine latest", "mine latest", "theirs smallest"]
            assert not await server.tmux.has_session("nope", latest_size=True)
            # A tmux that refuses the size loop (an older one, without `run-shell -C`): the session is still there.
            counting_tmux(shims, refuse="run-shell")
            assert await server.tmux.has_session("mine", latest_size=True)
    finally:
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True)


async def test_killed_tmux_client_is_respawned_on_the_same_socket(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        [old_pid] = await async_wait_until(lambda: tmux_server.client_pids(session), what="tmux client")
        tmux_server.send_keys(session, f"echo {mark}", "Enter")
        await pane.wait_output(mark)
        os.kill(old_pid, signal.SIGKILL)
        new_pids = await async_wait_until(
            lambda: [pid for pid in tmux_server.client_pids(session) if pid != old_pid], what="respawned client"
        )
        assert len(new_pids) == 1
        # The new client repaints: the marker arrives again, on the same socket.
        seen = pane.got.output.count(mark.encode())
        await pane.read_until(lambda got: got.output.count(mark.encode()) > seen)
        assert not pane.ws.closed
        other = marker()
        await pane.send_input(f"echo {other[:2]}''{other[2:]}\r")
        await pane.wait_output(other)


async def test_session_exit_closes_1000_session_ended(tmux_server: TmuxServer) -> None:
    session = tmux_server.new_session()
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await pane.send_input("exit\r")
        assert await pane.expect_close() == (1000, "session ended")
        assert not tmux_server.has_session(session)


async def test_unknown_session_closes_4404(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.connect("no-such-session")
        assert await pane.expect_close() == (4404, "no such session")


async def test_exact_target_never_attaches_a_prefix_match(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.connect(session[:-1])  # `tabc` must not attach `tabcd`
        assert await pane.expect_close() == (4404, "no such session")


async def test_keepalive_frame_when_idle(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server, keepalive_s=0.2) as (client, _):
        pane = await client.open_pane(session)
        assert pane.got.preferences == {"livepane": {"protocol": 5, "keepalive_ms": 200}}
        await pane.read_until(lambda got: b"0" in got.frames[3:], timeout=2.0)


async def test_pause_holds_output_and_resume_releases_it(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await pane.ws.send_bytes(b"2")
        await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await async_wait_until(lambda: tmux_server.capture(session).count(mark) == 1, what="echo ran")
        # tmux has written the echo to our PTY; paused, none of it may reach the socket. The read is given a
        # window (a negative check); everything that does arrive is recorded and must not hold the marker.
        with contextlib.suppress(AssertionError):
            await pane.read_until(lambda got: mark.encode() in got.output, timeout=0.5)
        assert mark.encode() not in pane.got.output
        await pane.ws.send_bytes(b"3")
        await pane.wait_output(mark)


async def test_other_panes_keep_working_when_one_session_ends(tmux_server: TmuxServer, session: str) -> None:
    doomed = tmux_server.new_session()
    async with running_app(tmux_server) as (client, _):
        survivor = await client.open_pane(session)
        victim = await client.open_pane(doomed)
        await victim.send_input("exit\r")
        assert (await victim.expect_close())[0] == 1000
        mark = marker()
        await survivor.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await survivor.wait_output(mark)


async def test_closing_the_socket_ends_its_tmux_client(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        await async_wait_until(lambda: tmux_server.client_pids(session), what="client attached")
        await pane.close()
        await async_wait_until(lambda: not tmux_server.client_pids(session), what="client gone")
        assert tmux_server.has_session(session)


async def test_concurrent_sockets_share_nothing(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        panes = await asyncio.gather(*(client.open_pane(session) for _ in range(4)))
        await async_wait_until(lambda: len(tmux_server.client_pids(session)) == 4, what="four clients")
        mark = marker()
        await panes[0].send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        for pane in panes:
            await pane.wait_output(mark)


async def test_a_browser_that_stops_answering_pings_is_dropped(
    tmux_server: TmuxServer, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dead browser (a closed laptop) must not keep its tmux client attached, pinning the window size. Pings are
    # shrunk from 20 s to 0.3 s; a socket that never answers is closed within about 1.5 of them.
    monkeypatch.setattr("livepane_server.app.WS_HEARTBEAT_S", 0.3)
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)  # answers pings while it is being read
        ticket = await client.ticket(session)
        url = client.base_url.with_scheme("ws").with_path(f"/ws/{session}").with_query(ticket=ticket)
        dead = await client.http.ws_connect(url, protocols=("tty",), autoping=False)  # never reads: never pongs
        await dead.send_bytes(b'{"AuthToken": "", "columns": 80, "rows": 24}')
        await async_wait_until(lambda: len(tmux_server.client_pids(session)) == 2, what="both clients attached")
        mark = marker()
        reader = asyncio.create_task(witness.wait_output(mark))
        await async_wait_until(lambda: len(tmux_server.client_pids(session)) == 1, what="the dead browser dropped")
        await witness.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await reader  # the live pane kept answering pings and still works
        await dead.close()

