"""A stand-in for one ttyd terminal (ttyd is not in Debian here): ``python ttyd_standin.py PORT TMUX_SOCKET SESSION``.

It speaks ttyd's wire protocol on ``/ws`` (subprotocol ``tty``) the way ttyd 1.7 does, and nothing of livepane's:

- the client's first frame is the JSON handshake (``columns``/``rows``); the server then sends the title (``1``) and
  preferences (``2{}``, no ``"livepane"`` key) and starts the command, here a real ``tmux attach`` on a PTY;
- ``0`` + bytes from the client is input, ``1`` + JSON a resize; ``0`` + bytes from the server is output;
- no session API: it knows one terminal, like ``ttyd tmux attach -t main``.

Used by the proxy-mode story (``serve.py --upstream ws://…/ws``, bare: no ``--upstream-token``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
import termios

from aiohttp import WSMsgType, web


def set_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


async def terminal(request: web.Request) -> web.WebSocketResponse:
    tmux_socket, session = request.app["tmux_socket"], request.app["session"]
    ws = web.WebSocketResponse(protocols=("tty",))
    await ws.prepare(request)
    handshake = await ws.receive()
    if handshake.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return ws
    size = json.loads(handshake.data)
    await ws.send_bytes(b"1" + f"tmux attach -t {session}".encode())
    await ws.send_bytes(b"2{}")
    master, slave = os.openpty()
    set_size(master, int(size["columns"]), int(size["rows"]))
    env = {k: v for k, v in os.environ.items() if k != "TMUX"} | {"TERM": "xterm-256color"}
    client = subprocess.Popen(
        ["tmux", "-L", tmux_socket, "attach-session", "-t", f"={session}"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        output.put_nowait(data)
        if not data:
            loop.remove_reader(master)

    loop.add_reader(master, readable)

    async def pump() -> None:
        while data := await output.get():
            await ws.send_bytes(b"0" + data)
        await ws.close()  # ttyd closes when its command exits

    pumping = asyncio.ensure_future(pump())
    try:
        async for msg in ws:
            data = msg.data.encode() if msg.type is WSMsgType.TEXT else msg.data
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY) or not data:
                continue
            if data[:1] == b"0":
                os.write(master, data[1:])
            elif data[:1] == b"1":
                resize = json.loads(data[1:])
                set_size(master, int(resize["columns"]), int(resize["rows"]))
    finally:
        pumping.cancel()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(master)
        client.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            client.wait(timeout=2)
        os.close(master)
    return ws


def main() -> None:
    port, tmux_socket, session = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = web.Application()
    app["tmux_socket"], app["session"] = tmux_socket, session
    app.router.add_get("/ws", terminal)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
