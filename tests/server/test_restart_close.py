"""A restart's close on the wire (bridge.SocketCloser), read with a raw WebSocket client: one close frame (1012),
nothing after it, input that follows it still written, and the connection ended by the peer's close or the deadline.

These hold aiohttp's behaviour that SocketCloser relies on (send_frame with a CLOSE opcode, autoclose=False, and
its own close at the end writing nothing once the transport is closing): an aiohttp that changes it fails here.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import struct
from pathlib import Path

from support import async_wait_until

from pyclient import protocol

from .conftest import DEADLINE_S, TmuxServer, running_app
from .test_protocol2 import handshake

OP_BINARY = 0x2
OP_CLOSE = 0x8


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length)
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


class RawSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, path_qs: str) -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path_qs} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tty\r\n\r\n".encode()
        )
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    def send(self, opcode: int, payload: bytes) -> None:
        self.writer.write(client_frame(opcode, payload))

    async def frame(self) -> tuple[int, bytes] | None:
        """The next server frame (opcode, payload), or None at EOF."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), DEADLINE_S)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None

    async def frames_until_close(self) -> list[tuple[int, bytes]]:
        frames = []
        while (frame := await self.frame()) is not None:
            frames.append(frame)
            if frame[0] == OP_CLOSE:
                return frames
        raise AssertionError(f"EOF without a close frame after {frames[-3:]}")


async def open_raw(client, session_id: str) -> RawSocket:
    ticket = await client.ticket(session_id)
    raw = await RawSocket.open(client.base_url.port, f"/ws/{session_id}?ticket={ticket}")
    raw.send(OP_BINARY, handshake(2))
    frame = await raw.frame()
    assert frame is not None and frame[1][:1] == bytes([protocol.TITLE])  # open: the terminal answered
    return raw


async def test_input_after_the_restart_close_is_written_and_nothing_follows_the_close_frame(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    try:
        async with running_app(tmux_server) as (client, server):
            raw = await open_raw(client, session_id)
            raw.send(OP_BINARY, protocol.input_frame("before\r"))
            closing = asyncio.create_task(server.close_all_sockets())
            close = (await raw.frames_until_close())[-1]
            assert close == (OP_CLOSE, struct.pack("!H", 1012) + b"service restart")
            # Frames in flight when the close came (here: sent after it arrived) are still written to the PTY.
            raw.send(OP_BINARY, protocol.input_frame("in-flight\r"))
            raw.send(OP_CLOSE, struct.pack("!H", 1012))
            assert await raw.frame() is None  # no second close frame, no data frame: EOF
            await closing
            assert server.sockets == {}
        await async_wait_until(lambda: out.exists() and out.read_text() == "before\nin-flight\n", what="both lines")
    finally:
        tmux_server.kill_session(session_id)


async def test_a_peer_that_never_answers_the_restart_close_is_cut_off(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, server):
        raw = await open_raw(client, session)
        closing = asyncio.create_task(server.close_all_sockets())
        assert (await raw.frames_until_close())[-1][0] == OP_CLOSE
        assert await raw.frame() is None  # the server ended the connection by itself (RESTART_CLOSE_DEADLINE_S)
        await closing
        assert server.sockets == {}
