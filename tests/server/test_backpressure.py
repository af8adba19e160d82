"""Backpressure, proven where it lives: the PTY pump waits for the socket, and aiohttp's send waits for the peer.

(The end-to-end `yes` flood in test_lifecycle.py cannot prove it alone: tmux throttles slow clients itself.)
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from support import async_wait_until

from livepane_server.bridge import PTY_READ_CHUNK_BYTES, TerminalPane


class StuckSocket:
    """A socket whose send does not return until released, like aiohttp's while the peer reads nothing."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.release = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(data)
        await self.release.wait()


async def fill_until_full(fd: int, limit_bytes: int) -> int:
    """Write into the PTY slave (as tmux would) until the kernel refuses more; returns bytes written."""
    written = 0
    refusals = 0
    while written < limit_bytes:
        try:
            written += os.write(fd, b"x" * 4096)
            refusals = 0
        except BlockingIOError:
            refusals += 1
            if refusals > 20:  # refused again and again while the loop ran: nobody reads the master
                return written
        await asyncio.sleep(0)
    raise AssertionError(f"wrote {written} bytes and the PTY still took more: the pump reads without waiting")


def _write_accepted(fd: int) -> bool:
    try:
        return os.write(fd, b"x") == 1
    except BlockingIOError:
        return False


async def test_pump_stops_reading_the_pty_while_the_socket_does_not_drain() -> None:
    ws = StuckSocket()
    pane = TerminalPane(ws, "s", tmux=None, keepalive_s=10, size=(80, 24))
    pump = asyncio.create_task(pane.pump_output())
    os.set_blocking(pane.pty.slave, False)
    try:
        written = await fill_until_full(pane.pty.slave, limit_bytes=8 * 2**20)
        assert len(ws.frames) == 1  # one frame went out and its send never returned: nothing else was read
        assert len(ws.frames[0]) <= 1 + PTY_READ_CHUNK_BYTES
        assert written < 1 * 2**20
        ws.release.set()
        # Draining again: the pump reads on, and the PTY accepts output again.
        await async_wait_until(lambda: len(ws.frames) > 1, what="pump resumed")
        await async_wait_until(lambda: _write_accepted(pane.pty.slave), what="PTY accepting output again")
    finally:
        pump.cancel()
        pane.pty.close()


async def test_pause_stops_reading_the_pty() -> None:
    ws = StuckSocket()
    ws.release.set()
    pane = TerminalPane(ws, "s", tmux=None, keepalive_s=10, size=(80, 24))
    await pane.handle_frame(b"2")
    pump = asyncio.create_task(pane.pump_output())
    os.set_blocking(pane.pty.slave, False)
    try:
        await fill_until_full(pane.pty.slave, limit_bytes=8 * 2**20)
        assert len(ws.frames) <= 1  # at most the chunk read before the pause was seen, and it is held
        await pane.handle_frame(b"3")
        await async_wait_until(lambda: ws.frames, what="output after resume")
    finally:
        pump.cancel()
        pane.pty.close()


async def test_aiohttp_send_bytes_waits_for_a_peer_that_does_not_read() -> None:
    """The assumption the pump relies on: `await ws.send_bytes` blocks once the peer stops reading."""
    sent = [0]
    stop = asyncio.Event()

    async def flood(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        frame = b"0" + b"y" * (64 * 1024)
        while not stop.is_set():
            await ws.send_bytes(frame)
            sent[0] += len(frame)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", flood)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(server.make_url("/")) as ws:
            # Never read. The count must settle: the send is waiting, not buffering without end.
            last = [-1, time.monotonic()]

            def settled() -> bool:
                if sent[0] != last[0]:
                    last[:] = [sent[0], time.monotonic()]
                return time.monotonic() - last[1] > 0.3

            await async_wait_until(settled, timeout_s=10, what="sends to stop")
            print(f"aiohttp buffered {sent[0] / 2**20:.1f} MiB before waiting")
            assert sent[0] < 64 * 2**20
            stop.set()
            async for _ in ws:  # drain to the server's close
                pass
    finally:
        await server.close()
