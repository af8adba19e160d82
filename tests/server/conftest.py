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
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from support import free_port, pid_alive, wait_until
from yarl import URL

ROOT_DIR = Path(__file__).resolve().parents[2]
if str(ROOT_DIR) not in sys.path:
    sys.path.insert(0, str(ROOT_DIR))

from livepane_server.app import LivepaneServer  # noqa: E402
from livepane_server.auth import COOKIE_NAME, cookie_value_for  # noqa: E402
from livepane_server.config import Config  # noqa: E402
from pyclient import protocol  # noqa: E402

SERVE_PY = ROOT_DIR / "serve.py"
# Root's .bashrc costs ~130 ms per shell; a bare bash starts in a few ms.
TEST_SHELL = "bash --norc --noprofile"
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


class TmuxServer:
    """The test's own tmux server (`tmux -L livepane-test-<random>`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str, check: bool = True) -> str:
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        result = subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def new_session(self, session_id: str | None = None, columns: int = 80, rows: int = 24) -> str:
        session_id = session_id or "t" + secrets.token_hex(4)
        self.run("new-session", "-d", "-s", session_id, "-x", str(columns), "-y", str(rows), *TEST_SHELL.split())
        return session_id

    def has_session(self, session_id: str) -> bool:
        return subprocess.run(["tmux", "-L", self.name, "has-session", "-t", f"={session_id}"]).returncode == 0

    def capture(self, session_id: str) -> str:
        return self.run("capture-pane", "-p", "-t", f"={session_id}:", check=False)

    def display(self, session_id: str, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", f"={session_id}:", fmt, check=False).strip()

    def send_keys(self, session_id: str, *keys: str) -> None:
        self.run("send-keys", "-t", f"={session_id}:", *keys)

    def client_pids(self, session_id: str) -> list[int]:
        out = self.run("list-clients", "-t", f"={session_id}", "-F", "#{client_pid}", check=False)
        return [int(pid) for pid in out.split()]

    def current_command(self, session_id: str) -> str:
        return self.display(session_id, "#{pane_current_command}")


@pytest.fixture(scope="session")
def tmux_server() -> TmuxServer:
    server = TmuxServer(f"livepane-test-{secrets.token_hex(4)}")
    # -f /dev/null: no user config; the "anchor" session keeps the server alive between tests.
    server.run("-f", "/dev/null", "new-session", "-d", "-s", "anchor", *TEST_SHELL.split())
    socket_path = Path(server.run("display-message", "-p", "#{socket_path}").strip())
    yield server
    server.run("kill-server", check=False)
    socket_path.unlink(missing_ok=True)  # kill-server leaves the socket file behind


@pytest.fixture
def session(tmux_server: TmuxServer) -> str:
    """A fresh tmux session running a bare bash, with its prompt up."""
    session_id = tmux_server.new_session()
    wait_until(lambda: "$" in tmux_server.capture(session_id) or "#" in tmux_server.capture(session_id), what="prompt")
    yield session_id
    tmux_server.run("kill-session", "-t", f"={session_id}", check=False)


def cookie_header(token: str = TOKEN) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={cookie_value_for(token)}"}


class Frames:
    """What a pane socket received: output bytes, title, preferences, and the close."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.frames: list[bytes] = []
        self.title: str | None = None
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
            self.got.title = payload.decode()
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


class ServeProcess:
    """serve.py as a real process on a free port (for signals, reloads, memory)."""

    def __init__(self, tmux_server: TmuxServer, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.env = dict(os.environ, LIVEPANE_TOKEN=TOKEN) if env is None else env
        self.port = free_port()
        self.pid_file = tmp_path / "serve.pid"
        self.log_path = tmp_path / "serve.log"
        self.args = [
            "--port",
            str(self.port),
            "--tmux-socket",
            tmux_server.name,
            "--shell",
            TEST_SHELL,
            "--default-session",
            "anchor",
            "--pid-file",
            str(self.pid_file),
            *args,
        ]
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, str(SERVE_PY), *self.args], env=self.env, stdout=log_file, stderr=log_file
            )
        wait_until(lambda: self.serving_pid() == self.proc.pid, timeout_s=10, what="serve.py to write its pid file")
        return self

    def serving_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    @property
    def base_url(self) -> URL:
        return URL(f"http://127.0.0.1:{self.port}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop whatever process serves now (the original or a reload successor)."""
        pids = {pid for pid in (self.serving_pid(), self.proc.pid if self.proc else None) if pid}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for pid in pids:
            wait_until(lambda pid=pid: not pid_alive(pid), timeout_s=5, what=f"pid {pid} to exit")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def serve_process(tmux_server: TmuxServer, tmp_path: Path):
    processes: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        process = ServeProcess(tmux_server, tmp_path, *args, env=env).start()
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()
