"""Process lifecycle: the listening socket, credentials, pid files, signals, and the zero-downtime SIGHUP reload.

Rules:
- Signal handlers are in place before the process announces itself (pid file, ready): a signal sent to the pid a
  pid file names never meets the default action (which, for SIGHUP, is death).
- One server per port: the first bind sets SO_REUSEADDR only, so a second serve.py on a served port fails at once
  (exit 1) and names the serving pid when a pid file knows it. A SIGHUP successor inherits the listening socket, so
  the port is served at every instant of a reload.
- The stored token is read (made, rotated) only once the port is ours: a start that fails changes nothing.
- SIGTERM/SIGINT close every socket with 1012 and exit within SHUTDOWN_BUDGET_S; tmux sessions survive.
- SIGHUP starts a successor (`sys.executable serve.py <same args>`) on the inherited listening socket and ticket
  journal; only once it says READY_MESSAGE does this process stop listening and exit. A successor that never gets
  ready is killed, the pid files name this process again, and it keeps serving. A SIGHUP during a reload is queued
  (one more reload, by the successor once it serves); one after the hand-over is passed on to the successor.
- The pid files (``--pid-file`` and the state folder's ``serve-PORT.pid``) always name a live, serving process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from . import state
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
from .logs import ResourceErrorLog, SecretFilter, install_secret_filter

log = logging.getLogger("livepane")

# The entry point a SIGHUP successor is started through (systemd units and tests name it too).
SERVE_PY = ROOT_DIR / "serve.py"
# After we stop listening, connections we had already accepted get this long to deliver their request before
# shutdown closes idle connections; without it a reload answered a few hammered connects with nothing at all.
ACCEPTED_GRACE_S = 0.1
# On a hand-over (the successor already serves, so waiting costs nobody anything) connections we accepted that have
# not sent a request yet get up to this long: on two busy cores a client can take over 0.1 s from connect to write,
# and closing its socket once the request sits unread resets it (3 resets in a burst of 20 SIGHUPs).
HANDOVER_GRACE_MAX_S = 1.0
# Loop turns between the last accept and closing the server: one runs the attach tasks; the second is a margin.
ATTACH_TURNS = 2
HANDOVER_GRACE_POLL_S = 0.01
# A successor must be accepting within this long, or the reload is abandoned and the old process keeps serving.
RELOAD_READY_TIMEOUT_S = 15.0
# Listen backlog: a herd of panes reconnecting after a restart arrives at once.
LISTEN_BACKLOG = 512
# serve.py blocks these at its first line; run() unblocks them once its handlers are in place.
HANDLED_SIGNALS = frozenset({signal.SIGHUP, signal.SIGTERM, signal.SIGINT})
# What a successor writes to ENV_READY_FD once it is accepting.
READY_MESSAGE = b"ready\n"


def open_listening_socket(host: str, port: int) -> socket.socket:
    """Bind with SO_REUSEADDR (a restart may bind while old connections sit in TIME_WAIT), never SO_REUSEPORT.

    SO_REUSEPORT was set when reloads were two processes binding side by side; since a SIGHUP successor inherits
    this socket (ENV_LISTEN_FD) it only let a second, unrelated serve.py bind a served port, and the kernel then split
    connections between the two servers (issue 9). Without it that bind fails with EADDRINUSE.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None


def live_serve_pid(paths: list[Path]) -> tuple[int, Path] | None:
    """The first pid a pid file names whose process is alive and runs serve.py (a stale file may name a reused pid)."""
    for path in paths:
        pid = read_pid(path)
        if pid is None or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass  # someone else's process: alive
        with contextlib.suppress(OSError):
            if b"serve.py" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
        return pid, path
    return None


def bind_failure_message(host: str, port: int, exc: OSError, pid_files: list[Path]) -> str:
    where = f"{url_host(host)}:{port}"
    if exc.errno != errno.EADDRINUSE:
        return f"cannot listen on {where}: {exc.strerror or exc}"
    found = live_serve_pid(pid_files)
    if found is not None:
        pid, path = found
        return (
            f"cannot listen on {where}: livepane already serves it as pid {pid} (pid file {path}); "
            f"stop it (kill -TERM {pid}), reload it (kill -HUP {pid}), or choose another --port"
        )
    return f"cannot listen on {where}: another process uses the port (no pid file names one); choose another --port"


def successor_argv(argv: list[str]) -> list[str]:
    """The arguments a SIGHUP successor gets: ours without --rotate-token (or an abbreviation): it keeps the token."""
    return [arg for arg in argv if not (arg.startswith("--r") and "--rotate-token".startswith(arg))]


def inherited_listening_socket(environ: dict[str, str]) -> socket.socket | None:
    fd = environ.get(ENV_LISTEN_FD)
    if fd is None:
        return None
    sock = socket.socket(fileno=int(fd))
    sock.setblocking(False)
    return sock


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def write_pid_files(paths: list[Path]) -> None:
    for path in paths:
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(path)  # atomic: a reader sees the old pid or the new one


def remove_pid_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()


class Lifecycle:
    """Runs the server until SIGTERM/SIGINT (exit) or a successful SIGHUP reload (hand over, exit)."""

    def __init__(
        self, config: Config, environ: dict[str, str], argv: list[str], secret_filter: SecretFilter | None = None
    ) -> None:
        self.config = config
        self.environ = environ
        self.argv = argv  # the command-line arguments (no program name) the successor is started with
        self.secret_filter = secret_filter or SecretFilter()
        self.resource_errors = ResourceErrorLog()
        self.server: LivepaneServer | None = None
        self.sock: socket.socket | None = None
        self.pid_files: list[Path] = [config.pid_file] if config.pid_file else []
        self.stop_requested = asyncio.Event()
        self.announced = asyncio.Event()  # the pid files name us and the predecessor (if any) heard "ready"
        self.reload_task: asyncio.Task[None] | None = None
        self.reload_pending = False  # a SIGHUP arrived during a reload: one more once it is done
        self.successor_pid: int | None = None
        self.handed_over = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # First of all: from the moment anyone can learn our pid, a signal finds its handler.
        loop.add_signal_handler(signal.SIGTERM, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGINT, self.stop_requested.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)  # serve.py held them until now
        self.resource_errors.install(loop)
        inherited = inherited_listening_socket(self.environ)
        try:
            self.sock = inherited or open_listening_socket(self.config.host, self.config.port)
        except OSError as exc:
            known = [*self.pid_files]
            if self.config.state_dir is not None:
                known.append(state.pid_path(self.config.state_dir, self.config.port))
            log.error("%s", bind_failure_message(self.config.host, self.config.port, exc, known))
            return 1
        port = self.sock.getsockname()[1]
        try:
            retired = self._resolve_credentials(announce=inherited is None)
            journal = self._ticket_journal()
        except (state.StateError, OSError) as exc:
            log.error("%s", exc)
            self.sock.close()
            return 1
        if self.config.state_dir is not None:
            self.pid_files.append(state.pid_path(self.config.state_dir, port))
        self.server = LivepaneServer(self.config, ticket_journal=journal, retired_cookies=retired)
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
        if inherited is None:
            print(f"livepane: open {self.printed_url(port)}?token={self.config.token}", flush=True)
            log.info("serving on %s:%s (pid %d)", self.config.host, port, os.getpid())
        else:
            log.info("reload: successor pid %d accepting on port %s", os.getpid(), port)
        write_pid_files(self.pid_files)
        self._signal_ready()
        self.announced.set()

        await self.stop_requested.wait()
        started = time.monotonic()
        if self.reload_task is not None and not self.handed_over:
            self.reload_task.cancel()  # SIGTERM during a reload: the successor goes too
            with contextlib.suppress(asyncio.CancelledError):
                await self.reload_task
        # Stop listening first: from here on the kernel queues new connections for the successor only (or, on a
        # plain stop, refuses them rather than leaving them unanswered).
        await self._stop_accepting(loop)
        await site.stop()
        await asyncio.sleep(ACCEPTED_GRACE_S)
        if self.handed_over:
            await self._await_first_requests(runner)
        # Every socket gets 1012 and its input in flight is still written (app.close_all_sockets), BEFORE cleanup():
        # cleanup() first marks every connection closing, and from then on aiohttp drops all bytes that arrive on
        # it (web_protocol.RequestHandler.data_received), WebSocket frames included. Then aiohttp ends connections.
        await self.server.close_all_sockets()
        await runner.cleanup()
        if not self.handed_over:
            remove_pid_files(self.pid_files)
        log.info("stopped in %.0f ms", (time.monotonic() - started) * 1000)
        return 0

    def printed_url(self, port: int) -> str:
        """The page's URL for users: --public-url, else this process's own address."""
        if self.config.public_url is not None:
            return str(self.config.public_url)
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{url_host(self.config.host)}:{port}/"

    async def _stop_accepting(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop accepting before the server closes, so no connection we accepted is reset.

        asyncio accepts a batch of connections in the listening socket's reader callback and attaches each to its
        Server in a task that runs a loop turn later; a connection accepted just before ``Server.close()`` fails
        CPython's ``assert self._sockets is not None`` there and is closed with its request unread: a reset, seen as
        5 of 12,279 connections in a 20-SIGHUP burst. Removing the reader stops the accepts (the kernel keeps queueing
        for the successor on the shared socket); two loop turns let the accepted ones attach before ``site.stop()``.
        """
        loop.remove_reader(self.sock.fileno())
        for _ in range(ATTACH_TURNS):
            await asyncio.sleep(0)

    @staticmethod
    async def _await_first_requests(runner: web.AppRunner) -> None:
        """Until HANDOVER_GRACE_MAX_S: wait while a connection we accepted has not delivered its first request.

        aiohttp counts a connection's requests in RequestHandler._request_count (private; a later aiohttp without it
        just skips this wait).
        """
        server = runner.server
        if server is None:
            return
        deadline = time.monotonic() + HANDOVER_GRACE_MAX_S
        while time.monotonic() < deadline and any(
            getattr(handler, "_request_count", 1) == 0 for handler in server.connections
        ):
            await asyncio.sleep(HANDOVER_GRACE_POLL_S)

    def _resolve_credentials(self, announce: bool) -> tuple[str, ...]:
        """Fill in the stored token unless one was given; returns the retired cookies' fingerprints."""
        directory = self.config.state_dir
        if directory is None:
            if not self.config.token:
                raise state.StateError(f"no token and no state folder: pass --token or set ${ENV_TOKEN}")
            self.secret_filter.secrets.add(self.config.token)
            return ()
        if self.config.token:
            self.secret_filter.secrets.add(self.config.token)
            try:
                state.ensure_dir(directory)
            except state.StateError as exc:
                # A given token needs no state folder (a sandboxed service may have none): used tickets are then
                # journalled for this process and its successors only.
                log.warning("%s: serving without it (used tickets are not kept across a restart)", exc)
                self.config = dataclasses.replace(self.config, state_dir=None)
                return ()
            if announce:
                log.info("token: given by --token or $%s (not stored)", ENV_TOKEN)
            retired = state.retired_cookies(directory)
        elif self.config.rotate_token:
            credentials = state.rotate(directory)
            log.info("token: rotated; the new one is stored in %s: panes holding the old one stop and say so",
                     directory / state.CREDENTIALS_NAME)
            self.config = dataclasses.replace(self.config, token=credentials.token)
            retired = credentials.retired_cookies
        else:
            credentials, created = state.load_or_create(directory)
            log.info("token: %s %s", "made and stored in" if created else "kept in", directory / state.CREDENTIALS_NAME)
            self.config = dataclasses.replace(self.config, token=credentials.token)
            retired = credentials.retired_cookies
        self.secret_filter.secrets.add(self.config.token)
        return retired

    def _ticket_journal(self) -> TicketJournal | None:
        tickets_fd = self.environ.get(ENV_TICKETS_FD)  # a reload successor shares its predecessor's used tickets
        if tickets_fd:
            return TicketJournal(int(tickets_fd))
        if self.config.state_dir is not None:
            return TicketJournal.open(state.journal_path(self.config.state_dir, self.config.token))
        return None

    def _signal_ready(self) -> None:
        fd = self.environ.get(ENV_READY_FD)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(int(fd), READY_MESSAGE)
            with contextlib.suppress(OSError):
                os.close(int(fd))

    # -- SIGHUP ------------------------------------------------------------------------------------------------------

    def _on_sighup(self) -> None:
        """Start a reload, queue one behind a reload under way, or pass it on once we have handed over."""
        if self.handed_over and self.successor_pid is not None:
            log.info("SIGHUP after the hand-over: passed on to pid %d", self.successor_pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.successor_pid, signal.SIGHUP)
        elif self.stop_requested.is_set():
            log.info("SIGHUP ignored: stopping")
        elif self.reload_task is not None and not self.reload_task.done():
            if not self.reload_pending:
                log.info("SIGHUP during a reload: queued")
            self.reload_pending = True
        else:
            self.reload_task = asyncio.ensure_future(self._reloads())

    async def _reloads(self) -> None:
        await self.announced.wait()  # a SIGHUP before we serve waits until we do
        while not self.stop_requested.is_set():
            self.reload_pending = False
            if await self.reload():
                if self.reload_pending and self.successor_pid is not None:
                    log.info("reload: passing the queued SIGHUP on to pid %d", self.successor_pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.successor_pid, signal.SIGHUP)
                return
            if not self.reload_pending:
                return
            log.info("reload: trying again for the SIGHUP queued meanwhile")

    async def reload(self) -> bool:
        """Start a successor on our listening socket; once it is accepting, stop listening (True). On failure the
        successor is killed and we keep serving (False)."""
        assert self.sock is not None and self.server is not None
        loop = asyncio.get_running_loop()
        ready_r, ready_w = os.pipe()
        listen_fd = self.sock.fileno()
        env = dict(self.environ)
        tickets_fd = self.server.auth.journal.fd
        env.update({ENV_TOKEN: self.config.token, ENV_LISTEN_FD: str(listen_fd), ENV_READY_FD: str(ready_w),
                    ENV_TICKETS_FD: str(tickets_fd)})
        if self.config.upstream_token:
            env[ENV_UPSTREAM_TOKEN] = self.config.upstream_token
        argv = [sys.executable, str(SERVE_PY), *successor_argv(self.argv)]
        log.info("reload requested: starting a successor")
        try:
            successor = subprocess.Popen(argv, env=env, pass_fds=(listen_fd, ready_w, tickets_fd))
        except OSError as exc:
            log.error("reload failed: cannot start a successor: %s", exc)
            os.close(ready_r)
            os.close(ready_w)
            return False
        os.close(ready_w)
        ready = False
        try:
            ready = await asyncio.wait_for(self._read_ready(loop, ready_r), RELOAD_READY_TIMEOUT_S)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            log.info("reload abandoned: stopping, and so does successor pid %d", successor.pid)
            raise
        finally:
            os.close(ready_r)
            if not ready:
                # Failed, or cancelled by SIGTERM: the successor goes, and the pid files (which it may have written
                # before it died) name us again.
                with contextlib.suppress(ProcessLookupError):
                    successor.kill()
                try:
                    write_pid_files(self.pid_files)
                except OSError as exc:
                    log.error("cannot rewrite the pid file: %s", exc)
        if not ready:
            log.error("reload failed: successor pid %d never became ready; still serving", successor.pid)
            await loop.run_in_executor(None, successor.wait)
            return False
        log.info("reload: handing over to pid %d", successor.pid)
        self.successor_pid = successor.pid
        self.handed_over = True
        self.stop_requested.set()
        return True

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
    return asyncio.run(Lifecycle(config, environ, argv, install_secret_filter()).run())
