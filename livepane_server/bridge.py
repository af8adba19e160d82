"""One terminal socket bridged to one tmux session (ttyd's wire protocol, docs/protocol.md §2).

Rules:
- The PTY is read only as fast as the socket drains; PAUSE/RESUME hold the pump.
- Frames are built and read with pyclient/protocol.py's bytes and builders; no frame literal here.
- A client frame that breaks §2 raises ProtocolError, which carries the close code and reason; the pane closes with
  it and every other pane keeps running.
- A close always has a code and a reason (close_ws), and waits at most WS_CLOSE_TIMEOUT_S for the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import aiohttp
from aiohttp import WSMsgType, web

from pyclient.protocol import (
    INPUT,
    KEEPALIVE_FRAME,
    MAX_CLIENT_FRAME_BYTES,
    MAX_TERMINAL_SIDE,
    PAUSE,
    RESIZE,
    RESUME,
    Close,
    Reason,
    output_frame,
    preferences_frame,
    title_frame,
)

from .client_json import BadJson, parse_json
from .pty import Pty
from .tmux import Tmux, TmuxClient

log = logging.getLogger("livepane")

# One output frame carries at most this much: coalesces the PTY's 4 KiB reads without hurting keystroke latency.
PTY_READ_CHUNK_BYTES = 64 * 1024
# Server-side WebSocket pings: a ping after 20 s of silence, dead if no pong 10 s later (aiohttp waits half the
# interval): a vanished browser is dropped within 30 s.
WS_HEARTBEAT_S = 20.0
# How long a close waits for the peer's close frame; a peer that does not answer is cut off.
WS_CLOSE_TIMEOUT_S = 1.0
# A tmux client that exits this many times within the window means attaching is broken, not flaky: stop respawning.
RESPAWN_LIMIT = 5
RESPAWN_WINDOW_S = 10.0


class ProtocolError(Exception):
    """A client frame broke docs/protocol.md §2; carries the close code and reason."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def frame_bytes(msg: aiohttp.WSMessage) -> bytes:
    """The payload of a data frame: binary as is, text as UTF-8 (ttyd's clients send either).

    Never over MAX_CLIENT_FRAME_BYTES: aiohttp's parser refuses a larger frame (websocket.TerminalSocket)."""
    return msg.data if msg.type is WSMsgType.BINARY else msg.data.encode()


def parse_size(payload: bytes, what: str, require_token: bool = False) -> tuple[int, int]:
    """Columns and rows from a handshake or resize JSON object."""
    try:
        obj = parse_json(payload, what, MAX_CLIENT_FRAME_BYTES)
    except BadJson as exc:
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {exc.reason}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {what} is not a JSON object")
    if require_token and not isinstance(obj.get("AuthToken", ""), str):
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {what} AuthToken is not a string")
    size = []
    for key in ("columns", "rows"):
        value = obj.get(key)
        if type(value) is not int or not 1 <= value <= MAX_TERMINAL_SIDE:
            reason = f"{Reason.BAD_REQUEST}: {what} {key} must be an integer 1-{MAX_TERMINAL_SIDE}"
            raise ProtocolError(Close.BAD_REQUEST, reason)
        size.append(value)
    return size[0], size[1]


async def close_ws(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, code: int, reason: str) -> None:
    """Close with a code and reason, giving the peer WS_CLOSE_TIMEOUT_S to answer; a no-op if already closed."""
    if ws.closed:
        return
    message = reason.encode()[:123]  # RFC 6455: a close reason fits in 123 bytes
    with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
        await asyncio.wait_for(ws.close(code=code, message=message), WS_CLOSE_TIMEOUT_S)


class TerminalPane:
    """One terminal socket bridged to one tmux session through a Pty and a supervised tmux client."""

    def __init__(
        self, ws: web.WebSocketResponse, session_id: str, tmux: Tmux, keepalive_s: float, size: tuple[int, int]
    ) -> None:
        self.ws = ws
        self.session_id = session_id
        self.tmux = tmux
        self.keepalive_s = keepalive_s
        self.pty = Pty(*size)
        self.client: TmuxClient | None = None
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.last_sent = time.monotonic()

    async def send(self, frame: bytes) -> None:
        await self.ws.send_bytes(frame)
        self.last_sent = time.monotonic()

    async def run(self) -> None:
        """Title, preferences, then output until the socket or the session ends."""
        await self.send(title_frame(self.session_id))
        await self.send(preferences_frame(round(self.keepalive_s * 1000)))
        tasks = [
            asyncio.create_task(self.pump_output()),
            asyncio.create_task(self.supervise()),
            asyncio.create_task(self.keepalive()),
        ]
        try:
            await self.read_input()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.client is not None:
                await self.client.stop()
            self.pty.close()

    async def pump_output(self) -> None:
        """PTY -> socket, never faster than the socket drains (send_bytes waits while aiohttp's buffer is full)."""
        with contextlib.suppress(ConnectionError):
            while True:
                await self.resumed.wait()
                data = await self.pty.read(PTY_READ_CHUNK_BYTES)
                if not data:
                    return
                await self.resumed.wait()  # a pause that arrived while we waited for output holds this chunk
                await self.send(output_frame(data))

    async def keepalive(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                idle_s = time.monotonic() - self.last_sent
                if idle_s >= self.keepalive_s:
                    await self.send(KEEPALIVE_FRAME)
                    idle_s = 0.0
                await asyncio.sleep(self.keepalive_s - idle_s)

    async def supervise(self) -> None:
        """Keep one live tmux client on the Pty while the session exists; close the socket when it ends."""
        exits: deque[float] = deque(maxlen=RESPAWN_LIMIT)
        while True:
            try:
                self.client = TmuxClient(self.tmux.attach_argv(self.session_id), self.pty, self.tmux.env)
            except OSError as exc:
                log.error("cannot start tmux for session %s: %s", self.session_id, exc)
                await close_ws(self.ws, Close.INTERNAL_ERROR, f"{Reason.INTERNAL_ERROR}: cannot start tmux")
                return
            status = await self.client.exited
            if not await self.tmux.has_session(self.session_id):
                await close_ws(self.ws, Close.NORMAL, Reason.SESSION_ENDED)
                return
            now = time.monotonic()
            exits.append(now)
            if len(exits) == RESPAWN_LIMIT and now - exits[0] < RESPAWN_WINDOW_S:
                log.error("tmux client for session %s keeps exiting (status %s); giving up", self.session_id, status)
                await close_ws(self.ws, Close.INTERNAL_ERROR, f"{Reason.INTERNAL_ERROR}: tmux client keeps exiting")
                return
            log.info("tmux client for session %s exited (status %s); attaching again", self.session_id, status)

    async def read_input(self) -> None:
        """Socket -> PTY, until the socket closes; a protocol error closes it with its code."""
        try:
            async for msg in self.ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                await self.handle_frame(frame_bytes(msg))
        except ProtocolError as exc:
            await close_ws(self.ws, exc.code, exc.reason)

    async def handle_frame(self, data: bytes) -> None:
        command, payload = data[:1], data[1:]
        if command == INPUT:
            self.pty.write(payload)
            await self.pty.drain()
        elif command == RESIZE:
            columns, rows = parse_size(payload, "resize")
            self.pty.resize(columns, rows)
            if self.client is not None:
                self.client.notify_resize()
        elif command == PAUSE:
            self.resumed.clear()
        elif command == RESUME:
            self.resumed.set()
        elif not command:
            raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: empty frame")
        else:
            raise ProtocolError(Close.UNSUPPORTED_DATA, Reason.UNKNOWN_MESSAGE)
