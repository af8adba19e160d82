"""Deadlines and limits nothing can extend: the handshake deadline against pings, frame sizes whatever the size,
idle and half-sent HTTP connections (issue 10 item 5). The deadlines are shortened through Config to keep this fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from yarl import URL

from pyclient.protocol import MAX_CLIENT_FRAME_BYTES, Close, Reason

from .conftest import TmuxServer, cookie_header, running_app
from .test_socket_errors import assert_still_serving

# The shortened deadline the tests configure, and how late a close may come on a loaded 2-core machine.
SHORT_S = 0.5
SLACK_S = 4.0


async def test_pings_do_not_extend_the_handshake_deadline(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server, handshake_timeout_s=SHORT_S) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.connect(session)  # its ticket is spent: only the handshake deadline can end it
        opened = time.monotonic()

        async def ping() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                while not pane.ws.closed:
                    await pane.ws.ping()
                    await asyncio.sleep(SHORT_S / 5)

        pinger = asyncio.create_task(ping())
        try:
            async with asyncio.timeout(SHORT_S + SLACK_S):  # absolute: the client's receive timeout restarts on pongs
                code, reason = await pane.expect_close(timeout=SHORT_S + SLACK_S)
        finally:
            pinger.cancel()
        assert (code, reason) == (Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: no handshake")
        assert time.monotonic() - opened < SHORT_S + SLACK_S
        await assert_still_serving(client, witness)


@pytest.mark.parametrize(
    "size",
    [MAX_CLIENT_FRAME_BYTES + 1, 1024 * 1024, 1024 * 1024 + 1, 4 * 1024 * 1024, 16 * 1024 * 1024],
    ids=["64KiB+1", "1MiB", "1MiB+1", "4MiB", "16MiB"],
)
@pytest.mark.parametrize("where", ["handshake", "input"])
async def test_an_oversized_frame_closes_1009_with_its_reason(
    tmux_server: TmuxServer, session: str, size: int, where: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        if where == "handshake":
            pane = await client.connect(session)
        else:
            pane = await client.open_pane(session)
        with contextlib.suppress(ConnectionError):  # the server may answer before the frame is all written
            await pane.ws.send_bytes(b"0" + b"y" * (size - 1))
        assert await pane.expect_close() == (Close.MESSAGE_TOO_BIG, Reason.MESSAGE_TOO_BIG)
        await assert_still_serving(client, witness)


async def read_until_closed(reader: asyncio.StreamReader, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection; TimeoutError if it is still open at the end."""
    async with asyncio.timeout(timeout_s):
        return await reader.read()


def request_head(base_url: URL, path: str = "/api/sessions") -> bytes:
    cookie = cookie_header()["Cookie"]
    return f"GET {path} HTTP/1.1\r\nHost: {base_url.host}:{base_url.port}\r\nCookie: {cookie}\r\n\r\n".encode()


async def test_an_idle_connection_is_closed(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, http_idle_timeout_s=SHORT_S) as (client, _):
        reader, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
        opened = time.monotonic()
        assert await read_until_closed(reader, SHORT_S + SLACK_S) == b""
        assert time.monotonic() - opened >= SHORT_S * 0.9
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_response(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, http_idle_timeout_s=SHORT_S) as (client, _):
        reader, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
        writer.write(request_head(client.base_url))
        data = await read_until_closed(reader, SHORT_S + SLACK_S)
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        writer.close()


@pytest.mark.parametrize("drip", [False, True], ids=["half-sent", "dripping"])
async def test_a_request_whose_headers_never_finish_is_closed(tmux_server: TmuxServer, drip: bool) -> None:
    async with running_app(tmux_server, http_idle_timeout_s=SHORT_S) as (client, _):
        reader, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
        opened = time.monotonic()
        writer.write(f"GET / HTTP/1.1\r\nHost: {client.base_url.host}\r\n".encode())

        async def dripper() -> None:  # a header byte every 50 ms: activity must not extend the deadline
            with contextlib.suppress(ConnectionError):
                for n in range(1000):
                    writer.write(b"X-Drip-%d: 1\r\n" % n)
                    await writer.drain()
                    await asyncio.sleep(0.05)

        task = asyncio.create_task(dripper()) if drip else None
        try:
            assert await read_until_closed(reader, SHORT_S + SLACK_S) == b""
        finally:
            if task is not None:
                task.cancel()
        assert time.monotonic() - opened < SHORT_S + SLACK_S
        writer.close()


async def test_a_body_that_never_finishes_gets_408(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, http_body_timeout_s=SHORT_S) as (client, _):
        reader, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
        cookie = cookie_header()["Cookie"]
        writer.write(
            f"POST /api/ticket HTTP/1.1\r\nHost: {client.base_url.host}:{client.base_url.port}\r\nCookie: {cookie}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"session\": ".encode()
        )
        async with asyncio.timeout(SHORT_S + SLACK_S):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().partition(b"content-length: ")[2].partition(b"\r\n")[0])
            body = await reader.readexactly(length)
        assert head.startswith(b"HTTP/1.1 408"), head
        assert body == b"request timeout: body not received within 0.5 s\n"
        writer.close()
