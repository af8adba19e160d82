"""serve.py as a real process: command line, SIGTERM, SIGHUP reload without refused connections, an output flood.

Behaviour only: how fast serve.py exits on SIGTERM and how fast Ctrl-C gets through a flood are figures of
bench/run.py (sections reconnect and flood), reported in docs/benchmarks.md, never asserted here.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys

from launch import SERVE_PY
from support import async_wait_until, pid_alive

from .conftest import Client, TmuxServer, marker

# How long the flood runs into a socket that reads nothing: the scenario itself, not a race guard. (No memory bound
# here: tmux throttles a slow client by itself, to ~60 KB/s of redraws, so even a server without backpressure stays
# small; the server's own backpressure is proven where it lives, in test_backpressure.py.)
FLOOD_WINDOW_S = 2.0


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPANE_")} if env is None else env
    return subprocess.run([sys.executable, str(SERVE_PY), *args], capture_output=True, text=True, env=env, timeout=20)


def test_help_lists_every_option() -> None:
    result = run_serve("--help")
    assert result.returncode == 0
    for flag in [
        "--host",
        "--port",
        "--token",
        "--tmux-socket",
        "--upstream",
        "--upstream-token",
        "--log-level",
        "--default-session",
        "--shell",
        "--pid-file",
        "--keepalive-s",
    ]:
        assert flag in result.stdout, flag


def test_non_loopback_bind_without_token_is_refused() -> None:
    result = run_serve("--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert "--token" in result.stderr and "0.0.0.0" in result.stderr


def test_bad_arguments_exit_2() -> None:
    for args in [("--port", "70000"), ("--keepalive-s", "0"), ("--default-session", "a.b"), ("--upstream", "http://x")]:
        assert run_serve(*args).returncode == 2, args


async def test_prints_token_url_and_creates_default_session(serve_process, tmux_server: TmuxServer) -> None:
    default = "dflt" + secrets.token_hex(3)
    process = serve_process(default_session=default, token=None)
    try:
        assert tmux_server.has_session(default)
        found = await async_wait_until(
            lambda: re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", process.log()), what="printed URL"
        )
        assert int(found.group(1)) == process.port
        client = Client(process.base_url, token=found.group(2))
        try:
            url = process.base_url.with_query(token=found.group(2))
            async with client.http.get(url, allow_redirects=False) as response:
                assert response.status == 303
            async with client.http.get(
                process.base_url / "api" / "sessions",
                headers={"Cookie": f"livepane_auth={response.cookies['livepane_auth'].value}"},
            ) as response:
                assert default in {s["id"] for s in (await response.json())["sessions"]}
        finally:
            await client.close()
    finally:
        tmux_server.run("kill-session", "-t", f"={default}", check=False)


async def test_sigterm_closes_1012_ends_bridges_and_exits_cleanly(
    serve_process, tmux_server: TmuxServer, session: str
) -> None:
    process = serve_process()
    client = Client(process.base_url)
    try:
        panes = [await client.open_pane(session) for _ in range(3)]
        mark = marker()
        await panes[0].send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await panes[0].wait_output(mark)
        assert len(tmux_server.client_pids(session)) == 3
        process.proc.send_signal(signal.SIGTERM)  # how fast it exits is bench/'s (reconnect: "SIGTERM exit")
        status = await asyncio.get_running_loop().run_in_executor(None, process.proc.wait, 5)
        for pane in panes:
            assert await pane.expect_close() == (1012, "service restart")
        assert status == 0
        assert tmux_server.has_session(session) and mark in tmux_server.capture(session)
        assert tmux_server.client_pids(session) == []
        assert not process.pid_file.exists()
    finally:
        await client.close()


async def hammer(port: int, stop: asyncio.Event, stats: dict) -> None:
    """Open connection after connection, each with one request, counting how every one of them ends."""
    request = b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            data = await reader.read()
            writer.close()
            if data.startswith(b"HTTP/1.1 404"):
                stats["ok"] += 1
            else:
                stats["other"].append(data[:40])
        except ConnectionRefusedError:
            stats["refused"] += 1
        except OSError as exc:
            stats["other"].append(repr(exc))


async def test_sighup_reload_refuses_nothing_and_the_pane_reconnects(
    serve_process, tmux_server: TmuxServer, session: str
) -> None:
    process = serve_process()
    old_pid = process.proc.pid
    client = Client(process.base_url)
    stop = asyncio.Event()
    stats: dict = {"ok": 0, "refused": 0, "other": []}
    hammers = [asyncio.create_task(hammer(process.port, stop, stats)) for _ in range(4)]
    try:
        pane = await client.open_pane(session)
        used = await client.ticket(session)  # used on the old process, replayed on the successor below
        await client.connect(session, ticket=used)  # the upgrade itself redeems it
        await async_wait_until(lambda: stats["ok"] > 20, what="hammer running")
        process.proc.send_signal(signal.SIGHUP)
        assert await pane.expect_close(timeout=15) == (1012, "service restart")
        new_pid = await async_wait_until(
            lambda: (pid := process.serving_pid()) != old_pid and pid, timeout_s=15, what="successor's pid file"
        )
        await async_wait_until(lambda: not pid_alive(old_pid), what="old process gone")
        # The pane comes back (fresh ticket from whichever process answers, same cookie) and works.
        again = await client.open_pane(session)
        mark = marker()
        await again.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await again.wait_output(mark)
        # Single use holds across the reload: the successor shares the used tickets (auth.TicketJournal).
        replay = await client.connect(session, ticket=used)
        assert await replay.expect_close() == (4401, "ticket invalid: already used")
        after = stats["ok"]
        await async_wait_until(lambda: stats["ok"] > after + 20, what="hammer served by the successor")
        stop.set()
        await asyncio.gather(*hammers)
        print(f"reload: {stats['ok']} connections served, {stats['refused']} refused, {len(stats['other'])} other")
        assert stats["refused"] == 0
        assert stats["other"] == []
        assert pid_alive(new_pid)
        assert f"handing over to pid {new_pid}" in process.log()
    finally:
        stop.set()
        await asyncio.gather(*hammers, return_exceptions=True)
        await client.close()


async def test_reload_that_fails_keeps_the_old_process_serving(
    serve_process, tmux_server: TmuxServer, session: str, tmp_path
) -> None:
    process = serve_process()
    # A successor that cannot start (its pid file folder vanished makes write_pid_file fail before "ready").
    process.pid_file.unlink()
    process.pid_file.mkdir()
    client = Client(process.base_url)
    try:
        pane = await client.open_pane(session)
        process.proc.send_signal(signal.SIGHUP)
        await async_wait_until(lambda: "reload failed" in process.log(), timeout_s=15, what="reload failure logged")
        mark = marker()
        await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await pane.wait_output(mark)
        assert process.proc.poll() is None
    finally:
        await client.close()
        process.pid_file.rmdir()
        process.proc.send_signal(signal.SIGTERM)
        process.proc.wait(5)


async def test_ctrl_c_after_an_output_flood_into_a_socket_that_does_not_read_brings_the_prompt_back(
    serve_process, tmux_server: TmuxServer, session: str
) -> None:
    process = serve_process()
    client = Client(process.base_url)
    try:
        pane = await client.open_pane(session)
        await pane.read_until(lambda got: b"$" in got.output or b"#" in got.output)
        await pane.send_input("yes\r")
        await async_wait_until(lambda: tmux_server.current_command(session) == "yes", what="yes running")
        await asyncio.sleep(FLOOD_WINDOW_S)  # the flood runs while this socket reads nothing
        assert process.proc.poll() is None
        # Reading resumes; Ctrl-C brings a working prompt back (how fast is bench/'s flood section).
        mark = marker()
        reading = asyncio.create_task(pane.wait_output(mark))
        await pane.send_input(f"\x03echo {mark[:2]}''{mark[2:]}\r")
        await reading
        assert tmux_server.current_command(session) == "bash"
    finally:
        await client.close()
