"""Fixtures for the server tests: an isolated tmux server, serve.py in-process or as a real process, a pane client.

Rules: real tmux, real sockets on loopback, no browser. Nothing sleeps to paper over a race: tests wait on a
condition with a deadline (`wait_until`). `async def` tests run in a fresh event loop each (hook below), so these
tests need no pytest plugin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import random
import secrets
import shutil
import string
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from launch import SHELL, ServeProcess, Tmux
from support import wait_until
from yarl import URL

ROOT_DIR = Path(__file__).resolve().parents[2]
if str(ROOT_DIR) not in sys.path:
    sys.path.insert(0, str(ROOT_DIR))

from livepane_server.app import LivepaneServer  # noqa: E402
from livepane_server.auth import COOKIE_NAME, cookie_value_for  # noqa: E402
from livepane_server.config import Config  # noqa: E402
from pyclient import protocol  # noqa: E402

TEST_SHELL = SHELL
TOKEN = "test-token-" + secrets.token_hex(8)
# Deadline for conditions that normally hold within milliseconds; generous for a loaded 2-core machine.
DEADLINE_S = 5.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in their own event loop."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        run_in_own_loop(pyfuncitem.obj(**kwargs))
        return True
    return None


def run_in_own_loop(coro: Coroutine[object, object, object]) -> None:
    """`asyncio.run`, also when this thread already runs a loop.

    pytest-playwright's sync API keeps an event loop running on the main thread once a browser test has run in the
    same pytest process (`make test` runs every suite in one), and asyncio.run() refuses to nest: such a coroutine
    gets a loop of its own on a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-test") as pool:
        pool.submit(asyncio.run, coro).result()


def marker(prefix: str = "MK") -> str:
    """A unique screen marker with no two equal neighbours (tmux may compress runs of one character)."""
    chars = [prefix]
    alphabet = string.ascii_uppercase + string.digits
    while len(chars) < 11:
        c = random.choice(alphabet)
        if c != chars[-1][-1]:
            chars.append(c)
    return "".join(chars)


TmuxServer = Tmux  # the name these tests use


@pytest.fixture(scope="session")
def tmux_server() -> Tmux:
    server = Tmux(f"livepane-test-{secrets.token_hex(4)}").start("anchor")
    yield server
    server.kill_server()


@pytest.fixture
def session(tmux_server: TmuxServer) -> str:
    """A fresh tmux session running a bare bash, with its prompt up."""
    session_id = tmux_server.new_session()
    wait_until(lambda: "$" in tmux_server.capture(session_id) or "#" in tmux_server.capture(session_id), what="prompt")
    yield session_id
    tmux_server.kill_session(session_id)


def counting_tmux(folder: Path, refuse: str = "") -> Path:
    """A tmux in ``folder`` (put it first on the app's PATH) that logs each command line it runs, one line per
    process, to the returned file, then runs the real tmux; with ``refuse``, a command line holding that word fails
    instead (exit 1). Call again to change ``refuse``."""
    real = shutil.which("tmux")
    assert real, "tmux is not installed"
    log = folder / "tmux.log"
    refusal = f'case "$*" in *{refuse}*) exit 1;; esac\n' if refuse else ""
    shim = folder / "tmux"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\n{refusal}exec {real} "$@"\n')
    shim.chmod(0o755)
    return log


def cookie_header(token: str = TOKEN) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={cookie_value_for(token)}"}


class Frames:
    """What a pane socket received: output bytes, title, preferences, and the close."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.frames: list[bytes] = []
        self.title: str | None = None  # the first TITLE frame (the session id, as ttyd's title is the command)
        self.titles: list[str] = []  # every TITLE frame: then the session's pane title, as tmux changes it
        self.preferences: dict | None = None


class Pane:
    """A test-side terminal socket speaking docs/protocol.md §2."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.got = Frames()
        self.close_code: int | None = None
        self.close_reason: str = ""

    async def handshake(self, columns: int = 80, rows: int = 24) -> None:
        await self.ws.send_bytes(protocol.handshake_frame(columns, rows))

    async def send_input(self, text: str) -> None:
        await self.ws.send_bytes(protocol.input_frame(text))

    async def resize(self, columns: int, rows: int) -> None:
        await self.ws.send_bytes(protocol.resize_frame(columns, rows))

    async def receive_one(self, timeout: float = DEADLINE_S) -> bytes | None:
        """One frame (recorded), or None once the socket is closed (code and reason recorded)."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is aiohttp.WSMsgType.BINARY:
            frame = bytes(msg.data)
        elif msg.type is aiohttp.WSMsgType.TEXT:
            frame = msg.data.encode()
        else:
            # The code the server sent (msg.data); ws.close_code may say 1006 if the server hung up right after.
            is_close = msg.type is aiohttp.WSMsgType.CLOSE
            self.close_code = int(msg.data) if is_close else self.ws.close_code
            self.close_reason = (msg.extra or "") if is_close else ""
            return None
        self.got.frames.append(frame)
        kind, payload = frame[0] if frame else None, frame[1:]
        if kind == protocol.OUTPUT:
            self.got.output += payload
        elif kind == protocol.TITLE:
            self.got.titles.append(payload.decode())
            if self.got.title is None:
                self.got.title = self.got.titles[0]
        elif kind == protocol.PREFERENCES:
            self.got.preferences = json.loads(payload)
        return frame

    async def read_until(self, predicate: Callable[[Frames], bool], timeout: float = DEADLINE_S) -> Frames:
        deadline = time.monotonic() + timeout
        while not predicate(self.got):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; output tail: {bytes(self.got.output[-400:])!r}")
            try:
                frame = await self.receive_one(timeout=remaining)
            except TimeoutError:
                continue
            if frame is None:
                raise AssertionError(f"socket closed {self.close_code} {self.close_reason!r} while waiting")
        return self.got

    async def wait_output(self, text: str, timeout: float = DEADLINE_S) -> None:
        await self.read_until(lambda got: text.encode() in got.output, timeout)

    async def expect_close(self, timeout: float = DEADLINE_S) -> tuple[int | None, str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("socket did not close")
            if await self.receive_one(timeout=remaining) is None:
                return self.close_code, self.close_reason

    async def close(self) -> None:
        await self.ws.close()


class Client:
    """HTTP + socket client for one serve.py (in-process or a real process)."""

    def __init__(self, base_url: URL, token: str = TOKEN) -> None:
        self.base_url = base_url
        self.token = token
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        self.panes: list[Pane] = []

    async def close(self) -> None:
        for pane in self.panes:
            with contextlib.suppress(Exception):
                await pane.ws.close()
        await self.http.close()

    def url(self, path: str) -> URL:
        return self.base_url.with_path(path)

    async def ticket(self, session_id: str) -> str:
        async with self.http.post(
            self.url("/api/ticket"), json={"session": session_id}, headers=cookie_header(self.token)
        ) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["ticket"]

    async def connect(
        self, session_id: str, ticket: str | None = "fetch", headers: dict[str, str] | None = None
    ) -> Pane:
        """Open a socket (fetching a ticket unless one is given; None sends none). No handshake yet."""
        if ticket == "fetch":
            ticket = await self.ticket(session_id)
        url = self.base_url.with_scheme("ws").with_path(f"/ws/{session_id}")
        if ticket is not None:
            url = url.with_query(ticket=ticket)
        ws = await self.http.ws_connect(url, protocols=("tty",), headers=headers or {})
        pane = Pane(ws)
        self.panes.append(pane)
        return pane

    async def open_pane(self, session_id: str, columns: int = 80, rows: int = 24) -> Pane:
        """Connect, handshake, and read up to the first output (tmux's repaint has started)."""
        pane = await self.connect(session_id)
        await pane.handshake(columns, rows)
        await pane.read_until(lambda got: got.title is not None and got.preferences is not None and got.output)
        return pane


def make_config(tmux_server: TmuxServer, **overrides: object) -> Config:
    fields = {"token": TOKEN, "tmux_socket": tmux_server.name, "shell": TEST_SHELL, "default_session": "anchor"}
    fields.update(overrides)
    return Config(**fields)


@contextlib.asynccontextmanager
async def running_app(
    tmux_server: TmuxServer, port: int | None = None, proxy_sleep=asyncio.sleep, **overrides: object
) -> AsyncIterator[tuple[Client, LivepaneServer]]:
    """serve.py's app in this process on a loopback port, and a client for it."""
    server = LivepaneServer(make_config(tmux_server, **overrides), proxy_sleep=proxy_sleep)
    test_server = TestServer(server.build_app(), host="127.0.0.1", port=port)
    await test_server.start_server()
    client = Client(URL(f"http://127.0.0.1:{test_server.port}"))
    try:
        yield client, server
    finally:
        await client.close()
        await test_server.close()


@pytest.fixture
def serve_process(tmux_server: Tmux, tmp_path: Path):
    """Start serve.py as a real process: ``serve_process(*args, env=..., token=..., ...)`` -> a started
    launch.ServeProcess (keyword arguments as ServeProcess takes them); every one is closed at the end."""
    processes: list[ServeProcess] = []

    def start(*args: str, **options: object) -> ServeProcess:
        options.setdefault("token", TOKEN)
        workdir = tmp_path / f"serve-{len(processes)}"
        process = ServeProcess(tmux_server, workdir, *args, **options)
        processes.append(process)
        return process.start()

    yield start
    for process in processes:
        process.close()
