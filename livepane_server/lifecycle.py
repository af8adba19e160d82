"""Process lifecycle: the listening socket, the pid file, signals, and the zero-downtime SIGHUP reload.

Rules:
- SIGTERM/SIGINT close every socket with 1012 and exit within SHUTDOWN_BUDGET_S; tmux sessions survive.
- SIGHUP starts a successor (`sys.executable serve.py <same args>`) on the inherited listening socket and ticket
  journal; only once it says READY_MESSAGE does this process stop listening and exit. A successor that never gets
  ready is killed, and this process keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from .app import SHUTDOWN_BUDGET_S, LivepaneServer
from .auth import TicketJournal
from .config import (
    ENV_LISTEN_FD,
    ENV_READY_FD,
    ENV_TICKETS_FD,
    ENV_TOKEN,
    ENV_UPSTREAM_TOKEN,
    ROOT_DIR,
    Config,
    config_from_args,
    load_tls_context,
)

log = logging.getLogger("livepane")

# The entry point a SIGHUP successor is started through (systemd units and tests name it too).
SERVE_PY = ROOT_DIR / "serve.py"
# After we stop listening, connections we had already accepted get this long to deliver their request before
# shutdown closes idle connections; without it a reload answered a few hammered connects with nothing at all.
ACCEPTED_GRACE_S = 0.1
# A successor must be accepting within this long, or the reload is abandoned and the old process keeps serving.
RELOAD_READY_TIMEOUT_S = 15.0
# Listen backlog: a herd of panes reconnecting after a restart arrives at once.
LISTEN_BACKLOG = 512
# What a successor writes to ENV_READY_FD once it is accepting.
READY_MESSAGE = b"ready\n"


def open_listening_socket(host: str, port: int) -> socket.socket:
    """Bind with SO_REUSEADDR and SO_REUSEPORT.

    SIGHUP reloads do not need SO_REUSEPORT: the successor inherits this socket (ENV_LISTEN_FD). It is kept, as the
    issue asked, for the fallback of a second process binding the port on its own while this one still serves (a
    manual second start, e.g. a blue/green switch): without it that bind fails with EADDRINUSE. Such a switch is
    not lossless like a reload, since connections the kernel queued on the closing listener are reset
    (docs/architecture.md).
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def inherited_listening_socket(environ: dict[str, str]) -> socket.socket | None:
    fd = environ.get(ENV_LISTEN_FD)
    if fd is None:
        return None
    sock = socket.socket(fileno=int(fd))
    sock.setblocking(False)
    return sock


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def write_pid_file(path: Path | None) -> None:
    if path is not None:
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(path)  # atomic: a reader sees the old pid or the new one


def remove_pid_file(path: Path | None) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()


class Lifecycle:
    """Runs the server until SIGTERM/SIGINT (exit) or a successful SIGHUP reload (hand over, exit)."""

    def __init__(self, config: Config, environ: dict[str, str], argv: list[str]) -> None:
        self.config = config
        self.environ = environ
        self.argv = argv  # the command-line arguments (no program name) the successor is started with
        tickets_fd = environ.get(ENV_TICKETS_FD)  # a reload successor shares its predecessor's used tickets
        self.server = LivepaneServer(config, ticket_journal=TicketJournal(int(tickets_fd)) if tickets_fd else None)
        self.sock: socket.socket | None = None
        self.stop_requested = asyncio.Event()
        self.reloading = False
        self.handed_over = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        inherited = inherited_listening_socket(self.environ)
        try:
            self.sock = inherited or open_listening_socket(self.config.host, self.config.port)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", self.config.host, self.config.port, exc)
            return 1
        runner = web.AppRunner(
            self.server.build_app(),
            handle_signals=False,
            access_log=logging.getLogger("aiohttp.access") if log.isEnabledFor(logging.DEBUG) else None,
            shutdown_timeout=SHUTDOWN_BUDGET_S / 2,
        )
        await runner.setup()
        # TLS wraps each accepted connection, not the listening socket: a successor inheriting the socket loads the
        # certificate files itself (so a reload picks up a renewed certificate).
        tls = load_tls_context(self.config.certfile, self.config.keyfile) if self.config.certfile else None
        site = web.SockSite(runner, self.sock, backlog=LISTEN_BACKLOG, ssl_context=tls)
        await site.start()
        write_pid_file(self.config.pid_file)
        port = self.sock.getsockname()[1]
        if inherited is None:
            print(f"livepane: open {self.printed_url(port)}?token={self.config.token}", flush=True)
            log.info("serving on %s:%s (pid %d)", self.config.host, port, os.getpid())
        else:
            log.info("reload: successor pid %d accepting on port %s", os.getpid(), port)
        self._signal_ready()

        loop.add_signal_handler(signal.SIGTERM, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        await self.stop_requested.wait()
        started = time.monotonic()
        # Stop listening first: from here on the kernel queues new connections for the successor only (or, on a
        # plain stop, refuses them rather than leaving them unanswered).
        await site.stop()
        await asyncio.sleep(ACCEPTED_GRACE_S)
        # Every socket gets 1012 and its input in flight is still written (app.close_all_sockets), BEFORE cleanup():
        # cleanup() first marks every connection closing, and from then on aiohttp drops all bytes that arrive on
        # it (web_protocol.RequestHandler.data_received), WebSocket frames included. Then aiohttp ends connections.
        await self.server.close_all_sockets()
        await runner.cleanup()
        if not self.handed_over:
            remove_pid_file(self.config.pid_file)
        log.info("stopped in %.0f ms", (time.monotonic() - started) * 1000)
        return 0

    def printed_url(self, port: int) -> str:
        """The page's URL for users: --public-url, else this process's own address."""
        if self.config.public_url is not None:
            return str(self.config.public_url)
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{url_host(self.config.host)}:{port}/"

    def _signal_ready(self) -> None:
        fd = self.environ.get(ENV_READY_FD)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(int(fd), READY_MESSAGE)
            with contextlib.suppress(OSError):
                os.close(int(fd))

    async def reload(self) -> None:
        """SIGHUP: start a successor on our listening socket; once it is accepting, stop listening and exit."""
        if self.reloading or self.stop_requested.is_set() or self.sock is None:
            return
        self.reloading = True
        loop = asyncio.get_running_loop()
        ready_r, ready_w = os.pipe()
        listen_fd = self.sock.fileno()
        env = dict(self.environ)
        tickets_fd = self.server.auth.journal.fd
        env.update({ENV_TOKEN: self.config.token, ENV_LISTEN_FD: str(listen_fd), ENV_READY_FD: str(ready_w),
                    ENV_TICKETS_FD: str(tickets_fd)})
        if self.config.upstream_token:
            env[ENV_UPSTREAM_TOKEN] = self.config.upstream_token
        argv = [sys.executable, str(SERVE_PY), *self.argv]
        log.info("reload requested: starting a successor")
        try:
            successor = subprocess.Popen(argv, env=env, pass_fds=(listen_fd, ready_w, tickets_fd))
        except OSError as exc:
            log.error("reload failed: cannot start a successor: %s", exc)
            os.close(ready_r)
            os.close(ready_w)
            self.reloading = False
            return
        os.close(ready_w)
        try:
            ready = await asyncio.wait_for(self._read_ready(loop, ready_r), RELOAD_READY_TIMEOUT_S)
        except TimeoutError:
            ready = False
        finally:
            os.close(ready_r)
        if not ready:
            log.error("reload failed: successor pid %d never became ready; still serving", successor.pid)
            with contextlib.suppress(ProcessLookupError):
                successor.kill()
            await loop.run_in_executor(None, successor.wait)
            self.reloading = False
            return
        log.info("reload: handing over to pid %d", successor.pid)
        self.handed_over = True
        self.stop_requested.set()

    @staticmethod
    async def _read_ready(loop: asyncio.AbstractEventLoop, fd: int) -> bool:
        received = bytearray()
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, readable.set_result, None)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            chunk = os.read(fd, 64)
            if not chunk:
                return False  # the successor exited (or closed the pipe) without saying ready
            received += chunk
            if READY_MESSAGE in received:
                return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = dict(os.environ)
    config = config_from_args(argv, environ)
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper()),
        format="%(asctime)s livepane[%(process)d] %(levelname)s %(message)s",
    )
    return asyncio.run(Lifecycle(config, environ, argv).run())
