"""livepane server: serves the browser pane and bridges each terminal socket to its own tmux client.

Job: one aiohttp process that
- serves the page, the pinned web assets (`/vendor/PKG@VERSION/...`, immutable) and the client package (`/pyclient/`);
- guards access as docs/protocol.md §1 says (token URL -> HMAC cookie -> single-use tickets);
- runs, per terminal socket, one `tmux attach-session -t =<id>` in its own PTY and relays bytes with ttyd's wire
  protocol (docs/protocol.md §2), reading the PTY only as fast as the socket drains;
- or, with `--upstream`, relays each socket frame for frame to another terminal server;
- restarts without downtime: SIGHUP starts a successor on the same listening socket, SIGTERM/SIGINT close every
  socket with 1012 and exit; tmux sessions survive both.

Rules:
- docs/protocol.md is the contract; close codes and reasons come from its table (class Close).
- A socket is always accepted before it is refused, so the browser sees a code and a reason, never a bare 1006.
- Every bad input gets a status or close code with a one-line reason; the process and every other pane keep running.
- No path leaves its folder; secrets are compared in constant time; tmux targets are exact (`=name`).
- No thread per byte: PTYs are non-blocking fds on the event loop; tmux clients are watched through pidfds.
- Log what an operator needs once (start, reloads, connect failures), never each clean close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import errno
import fcntl
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

log = logging.getLogger("livepane")

# ---------------------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------------------

ROOT_DIR = Path(__file__).resolve().parent
WEB_DIR = ROOT_DIR / "web"
PYCLIENT_DIR = ROOT_DIR / "pyclient"

# Loopback only by default: a terminal is a remote shell; exposing it is an explicit decision (with a chosen token).
DEFAULT_HOST = "127.0.0.1"
# ttyd's 7681 plus one thousand-odd: an unprivileged port unlikely to clash with common dev servers.
DEFAULT_PORT = 8765
DEFAULT_SESSION = "main"
# docs/protocol.md §2 advertises keepalive_ms = 10000; the client's watchdog fires after 2.5x that.
DEFAULT_KEEPALIVE_S = 10.0

# docs/protocol.md §1: the one id syntax shared with the client; safe in URLs, tmux targets and logs.
# \A...\Z, not ^...$: "$" also matches before a trailing newline, which would let "main\n" through to tmux.
SESSION_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
COOKIE_NAME = "livepane_auth"
# docs/protocol.md §1: a ticket covers one connect attempt; 30 s is ample for a fetch followed by an upgrade.
TICKET_TTL_S = 30.0
# 128 bits of randomness: unguessable, and short enough for a URL.
TICKET_NONCE_BYTES = 16
# Token generated when none is given: 192 bits, URL-safe.
TOKEN_BYTES = 24

# docs/protocol.md §2: a client frame over 64 KiB closes with 1009. A paste larger than that is a client bug.
MAX_CLIENT_FRAME_BYTES = 64 * 1024
# aiohttp's own hard ceiling, above ours so that we, not aiohttp, answer an oversized frame (with our reason).
WS_PARSER_MAX_MSG_BYTES = 1024 * 1024
# One output frame carries at most this much: coalesces the PTY's 4 KiB reads without hurting keystroke latency.
PTY_READ_CHUNK_BYTES = 64 * 1024
# Input queued for a PTY beyond this makes the socket reader wait (the PTY's own buffer is about 4 KiB).
PTY_INPUT_HIGH_WATER_BYTES = 64 * 1024
# The handshake is the client's first frame, sent on open; a socket silent for this long is not a livepane client.
HANDSHAKE_TIMEOUT_S = 10.0
# tmux's WINDOW_MAXIMUM: it refuses larger windows, so a larger size is a bad request.
MAX_TERMINAL_SIDE = 10000
# Server-side WebSocket pings: a ping after 20 s of silence, dead if no pong 10 s later (aiohttp waits half the
# interval): a vanished browser is dropped within 30 s.
WS_HEARTBEAT_S = 20.0
# How long a close waits for the peer's close frame; a peer that does not answer is cut off.
WS_CLOSE_TIMEOUT_S = 1.0
# Frames are terminal output; the browser is usually on loopback or a LAN, and per-message deflate costs CPU on
# every frame for small screen diffs. Off, like a raw ttyd over loopback.
WS_COMPRESS = False
# A tmux client that exits this many times within the window means attaching is broken, not flaky: stop respawning.
RESPAWN_LIMIT = 5
RESPAWN_WINDOW_S = 10.0
# A tmux client gets this long to exit on SIGTERM before SIGKILL (it exits in a few ms when healthy).
TMUX_CLIENT_STOP_S = 0.3
# SIGTERM must end the process within a second (issue 3): closes and bridge stops share this budget.
SHUTDOWN_BUDGET_S = 0.6
# After we stop listening, connections we had already accepted get this long to deliver their request before
# shutdown closes idle connections; without it a reload answered a few hammered connects with nothing at all.
ACCEPTED_GRACE_S = 0.1
# A successor must be accepting within this long, or the reload is abandoned and the old process keeps serving.
RELOAD_READY_TIMEOUT_S = 15.0
# Listen backlog: a herd of panes reconnecting after a restart arrives at once.
LISTEN_BACKLOG = 512

# Environment shared between a process and the successor it starts on SIGHUP.
ENV_TOKEN = "LIVEPANE_TOKEN"
ENV_UPSTREAM_TOKEN = "LIVEPANE_UPSTREAM_TOKEN"
ENV_LISTEN_FD = "LIVEPANE_LISTEN_FD"
ENV_TICKETS_FD = "LIVEPANE_TICKETS_FD"
ENV_READY_FD = "LIVEPANE_READY_FD"
READY_MESSAGE = b"ready\n"

# The web packages served from web/node_modules, and the folder of each that the browser may read.
# @pyscript/core keeps its files under dist/; the path stays as in the package (`.../dist/core.js`).
VENDOR_PACKAGES = (
    "pyodide",
    "@pyscript/core",
    "@xterm/xterm",
    "@xterm/addon-fit",
    "@xterm/addon-web-links",
    "@xterm/addon-webgl",
)
VENDOR_PLACEHOLDER_RE = re.compile(r"\{\{vendor:([^}\s]+)\}\}")
# Files templated with {{vendor:PKG}} and {{snapshot}} (everything else is served byte for byte).
TEMPLATED_FILES = ("index.html", "pyscript.json")
# Pyodide's memory snapshot with pyclient imported (`make snapshot`): it cuts the interpreter start from ~3 s to ~0.5 s
# (docs/benchmarks.md). pyclient.key holds the snapshot_key() it was made for; a stale one is never served.
SNAPSHOT_FILE = "snapshot/pyclient.bin"
SNAPSHOT_KEY_FILE = "snapshot/pyclient.key"

# Explicit types for what the page loads: Pyodide refuses wasm without application/wasm (it hangs), module scripts
# need a JavaScript type under nosniff, and .py files are shown as text, never executed or downloaded.
MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".zip": "application/zip",
    ".css": "text/css; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
FALLBACK_MIME_TYPE = "application/octet-stream"

# The browser engineer tunes this one constant. Pyodide compiles wasm ('wasm-unsafe-eval'); PyScript/polyscript
# evaluates code and starts workers from blob: URLs ('unsafe-eval', blob:); xterm.js injects <style> elements
# ('unsafe-inline' styles only). 'self' covers ws:/wss: to this host in CSP Level 3 browsers.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:; "
    "worker-src 'self' blob:; "
    "connect-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Versioned vendor URLs never change: the browser keeps the 9.6 MB pyodide.asm.wasm for a year.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
# The page, the config and the client files change with the repository: revalidate (ETag) on every load.
CACHE_REVALIDATE = "no-cache"
CACHE_NEVER = "no-store"

PLACEHOLDER_INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livepane</title><link rel="icon" href="data:,"></head>
<body><p>livepane: the server is running, but web/index.html is not installed yet.</p></body></html>
"""
SAME_SITE_REFRESH_HTML = (
    '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={url}">'
    '<title>livepane</title><a href="{url}">Open livepane</a>\n'
)
UNAUTHORIZED_TEXT = "unauthorized: open the URL that serve.py printed (it ends in ?token=...)\n"


class Close(enum.IntEnum):
    """The WebSocket close codes this server sends itself (docs/protocol.md §3).

    Others in that table (1013) reach a browser only relayed from an upstream in proxy mode, as the upstream's int.
    """

    NORMAL = 1000
    UNSUPPORTED = 1003
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    BAD_GATEWAY = 1014
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404


# Codes a peer may put in a close frame (RFC 6455 §7.4): 1005/1006/1015 are reserved for "no code" and local reports.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_sendable_close_code(code: int | None) -> bool:
    return code is not None and (code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999)


# ---------------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Upstream connects (proxy mode): `attempts` tries, sleeping `delays_s[i]` after failed try i (transient only)."""

    attempts: int = 4
    delays_s: tuple[float, ...] = (0.2, 0.4, 0.8)
    open_timeout_s: float = 4.0

    def delay_after(self, failed_attempt: int) -> float | None:
        """Seconds to wait after failed attempt number `failed_attempt` (1-based), or None when out of attempts."""
        if failed_attempt >= self.attempts:
            return None
        return self.delays_s[min(failed_attempt - 1, len(self.delays_s) - 1)]


@dataclasses.dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = ""
    tmux_socket: str | None = None
    upstream: str | None = None
    upstream_token: str | None = None
    default_session: str = DEFAULT_SESSION
    shell: str = ""
    pid_file: Path | None = None
    keepalive_s: float = DEFAULT_KEEPALIVE_S
    log_level: str = "info"
    web_dir: Path = WEB_DIR
    pyclient_dir: Path = PYCLIENT_DIR
    retry: RetryPolicy = RetryPolicy()


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve.py",
        description="livepane: serve tmux sessions to the browser pane (docs/protocol.md).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default %(default)s)")
    parser.add_argument(
        "--token",
        help=f"access token (default: ${ENV_TOKEN}, else a random one); required to bind a non-loopback address",
    )
    parser.add_argument("--tmux-socket", metavar="NAME", help="tmux server socket name (tmux -L NAME); default: tmux's")
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="proxy mode: relay each socket to this terminal server (ws://host:port, ws://host/x/{session}, ttyd)",
    )
    parser.add_argument(
        "--upstream-token",
        help=f"token of an upstream serve.py (default: ${ENV_UPSTREAM_TOKEN}); without it no ticket is fetched",
    )
    parser.add_argument(
        "--default-session", default=DEFAULT_SESSION, help="session created at start if missing (default %(default)s)"
    )
    parser.add_argument("--shell", help="command run in sessions this server creates (default: $SHELL)")
    parser.add_argument("--pid-file", type=Path, help="write the serving process's pid here (a reload rewrites it)")
    parser.add_argument(
        "--keepalive-s",
        type=float,
        default=DEFAULT_KEEPALIVE_S,
        help="send an empty output frame after this much idle time (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default %(default)s)",
    )
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_from_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> Config:
    """Parse the command line; exits 2 (argparse) on bad input, including a non-loopback bind without a token."""
    environ = os.environ if environ is None else environ
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    token = args.token or environ.get(ENV_TOKEN) or ""
    if not is_loopback(args.host) and not token:
        parser.error(
            f"refusing to bind non-loopback address {args.host!r} with a random token: "
            f"pass --token or set ${ENV_TOKEN} (anyone who can reach the port gets a shell)"
        )
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    if args.keepalive_s <= 0:
        parser.error("--keepalive-s must be positive")
    if not SESSION_ID_RE.match(args.default_session):
        parser.error(f"--default-session must match {SESSION_ID_RE.pattern}")
    if args.upstream:
        upstream = URL(args.upstream)
        if upstream.scheme not in ("ws", "wss") or not upstream.host:
            parser.error("--upstream must be a ws:// or wss:// URL")
    shell = args.shell or environ.get("SHELL") or "/bin/sh"
    try:
        shlex.split(shell)
    except ValueError as exc:
        parser.error(f"--shell: {exc}")
    return Config(
        host=args.host,
        port=args.port,
        token=token or secrets.token_urlsafe(TOKEN_BYTES),
        tmux_socket=args.tmux_socket,
        upstream=args.upstream,
        upstream_token=args.upstream_token or environ.get(ENV_UPSTREAM_TOKEN),
        default_session=args.default_session,
        shell=shell,
        pid_file=args.pid_file,
        keepalive_s=args.keepalive_s,
        log_level=args.log_level,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Access: token -> cookie -> tickets
# ---------------------------------------------------------------------------------------------------------------------


def cookie_value_for(token: str) -> str:
    """The auth cookie is an HMAC of the token: a reload successor with the same token accepts old cookies."""
    return hmac.new(token.encode(), b"livepane cookie v1", hashlib.sha256).hexdigest()


class TicketError(Exception):
    """A ticket was refused; the message is the close reason."""


class TicketJournal:
    """The nonces of redeemed tickets, shared by every process of one serve.py lineage.

    It is a file: the first process makes it (unlinked, in the temp folder), and a SIGHUP successor inherits its fd
    (ENV_TICKETS_FD). So a ticket used on one process is refused by the other, also during a reload while both
    accept. Each check-and-record holds an exclusive lock and first reads what the other process appended. The file
    starts with a generation line; past COMPACT_BYTES it is rewritten with the unexpired entries under the next
    generation, and a process that sees a new generation reads it all again.
    """

    COMPACT_BYTES = 256 * 1024
    _HEADER = "livepane-tickets {:020d}\n"
    _HEADER_LEN = len(_HEADER.format(0))

    def __init__(self, fd: int | None = None) -> None:
        self._file = None
        if fd is None:
            self._file = tempfile.TemporaryFile(prefix="livepane-tickets-")  # noqa: SIM115 (lives as long as we do)
            fd = self._file.fileno()
        self.fd = fd
        self._generation = -1
        self._offset = 0
        self._used: dict[str, float] = {}  # nonce -> expiry (epoch seconds)

    def use(self, nonce: str, expires_at: float, now: float) -> bool:
        """Record ``nonce`` as used; False if it was already, by this process or another one of the lineage."""
        # POSIX record locks (lockf), not flock: a successor's inherited fd shares the open file description, and
        # flock locks belong to that, so both processes would hold the same lock at once.
        fcntl.lockf(self.fd, fcntl.LOCK_EX)
        try:
            self._catch_up()
            if nonce in self._used:
                return False
            self._used[nonce] = expires_at
            line = f"{nonce} {expires_at:.3f}\n".encode()
            os.pwrite(self.fd, line, self._offset)
            self._offset += len(line)
            if self._offset > self.COMPACT_BYTES:
                self._compact(now)
            return True
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        header = os.pread(self.fd, self._HEADER_LEN, 0)
        if len(header) < self._HEADER_LEN:  # a new, empty journal
            self._write_generation(0, b"")
            return
        generation = int(header.split()[1])
        if generation != self._generation:  # compacted by the other process (or first read): start over
            self._generation, self._offset = generation, self._HEADER_LEN
            self._used.clear()
        size = os.fstat(self.fd).st_size
        if size > self._offset:
            data = os.pread(self.fd, size - self._offset, self._offset)
            self._offset = size
            for line in data.decode().splitlines():
                nonce, _, expiry = line.partition(" ")
                self._used[nonce] = float(expiry)

    def _compact(self, now: float) -> None:
        self._used = {nonce: expiry for nonce, expiry in self._used.items() if expiry >= now}
        body = "".join(f"{nonce} {expiry:.3f}\n" for nonce, expiry in self._used.items()).encode()
        self._write_generation(self._generation + 1, body)

    def _write_generation(self, generation: int, body: bytes) -> None:
        content = self._HEADER.format(generation).encode() + body
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, content, 0)
        self._generation, self._offset = generation, len(content)


class Auth:
    """Token, cookie and ticket checks (docs/protocol.md §1).

    Tickets are `<expiry ms>.<nonce>.<mac>` with the MAC over (session, expiry, nonce) keyed from the token, so any
    process with the same token accepts them: during a reload both processes accept connections, and a ticket fetched
    from one must open a socket on the other. Single use holds across the processes too (``TicketJournal``).
    """

    def __init__(
        self, token: str, clock: Callable[[], float] = time.time, journal: TicketJournal | None = None
    ) -> None:
        self._token = token.encode()
        self._cookie = cookie_value_for(token).encode()
        self._ticket_key = hmac.new(self._token, b"livepane ticket key v1", hashlib.sha256).digest()
        self._clock = clock
        self.journal = journal or TicketJournal()

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token)

    @property
    def cookie_value(self) -> str:
        return self._cookie.decode()

    def cookie_ok(self, request: web.BaseRequest) -> bool:
        given = request.cookies.get(COOKIE_NAME)
        return given is not None and hmac.compare_digest(given.encode(), self._cookie)

    def _mac(self, session_id: str, expiry: str, nonce: str) -> str:
        message = f"{session_id}\n{expiry}\n{nonce}".encode()
        return hmac.new(self._ticket_key, message, hashlib.sha256).hexdigest()[:32]

    def issue_ticket(self, session_id: str) -> str:
        expiry = str(int((self._clock() + TICKET_TTL_S) * 1000))
        nonce = secrets.token_hex(TICKET_NONCE_BYTES)
        return f"{expiry}.{nonce}.{self._mac(session_id, expiry, nonce)}"

    def redeem_ticket(self, ticket: str | None, session_id: str) -> None:
        """Accept the ticket once for this session, or raise TicketError with the close reason."""
        if not ticket:
            raise TicketError("unauthorized: no ticket")
        expiry, _, rest = ticket.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expiry.isdigit() and nonce and mac):
            raise TicketError("ticket invalid")
        if not hmac.compare_digest(mac.encode(), self._mac(session_id, expiry, nonce).encode()):
            raise TicketError("ticket invalid")
        expires_at = int(expiry) / 1000
        now = self._clock()
        if expires_at < now:
            raise TicketError("ticket invalid: expired")
        if not self.journal.use(nonce, expires_at, now):
            raise TicketError("ticket invalid: already used")


def origin_ok(request: web.BaseRequest) -> bool:
    """True when the request has no Origin (not a browser) or its Origin names this server's Host.

    Browsers always send Origin on WebSocket upgrades and POSTs; a missing one means a non-browser client, which
    cross-site attacks cannot produce. The scheme may differ (TLS terminated in front of us); host and port may not.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        origin_url = URL(origin)
        if origin_url.scheme not in ("http", "https") or not origin_url.host:
            return False
        host_url = URL(f"{origin_url.scheme}://{request.host}")
    except ValueError:
        return False
    return (origin_url.host.lower(), origin_url.port) == ((host_url.host or "").lower(), host_url.port)


# ---------------------------------------------------------------------------------------------------------------------
# Static assets
# ---------------------------------------------------------------------------------------------------------------------


def safe_join(root: Path, relative: str) -> Path | None:
    """The regular file `root/relative`, or None if the path is odd or leaves root (also through a symlink)."""
    parts = relative.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.startswith(".") or "\\" in part or "\x00" in part:
            return None
    try:
        real_root = root.resolve(strict=True)
        target = (real_root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(real_root) or not target.is_file():
        return None
    return target


def mime_type_for(path: Path) -> str:
    return MIME_TYPES.get(path.suffix.lower(), FALLBACK_MIME_TYPE)


def snapshot_key(web_dir: Path, pyclient_dir: Path) -> str:
    """What a memory snapshot depends on: the Pyodide version and every pyclient source it imported."""
    digest = hashlib.sha256((web_dir / "node_modules" / "pyodide" / "package.json").read_bytes())
    for path in sorted(pyclient_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class Assets:
    """The page, the vendored packages at versioned URLs, the client package, and other files under web/.

    No gzip: measured on loopback, sendfile delivers the 9.6 MB pyodide.asm.wasm in 7-19 ms, while compressing it
    per request costs ~490 ms (zlib level 6; 140 ms at level 1) for 3.6 MB. Immutable caching already makes it a
    once-per-browser download. For slow remote links, compress each vendor file once and keep it in memory.
    """

    def __init__(self, web_dir: Path, pyclient_dir: Path) -> None:
        self.web_dir = web_dir
        self.node_modules = web_dir / "node_modules"
        self.pyclient_dir = pyclient_dir
        self.versions = self._read_versions()
        self._warned: set[str] = set()

    def _read_versions(self) -> dict[str, str]:
        versions = {}
        for package in VENDOR_PACKAGES:
            try:
                meta = json.loads((self.node_modules / package / "package.json").read_text())
                versions[package] = str(meta["version"])
            except (OSError, ValueError, KeyError) as exc:
                log.warning("vendor package %s unavailable (%s); run `make setup`", package, exc)
        return versions

    def vendor_prefix(self, package: str) -> str:
        return f"/vendor/{package}@{self.versions[package]}"

    def template(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            package = match.group(1)
            if package not in self.versions:
                if package not in self._warned:  # once, not on every page load
                    self._warned.add(package)
                    log.warning("unknown vendor placeholder %s left as is", match.group(0))
                return match.group(0)
            return self.vendor_prefix(package)

        text = VENDOR_PLACEHOLDER_RE.sub(replace, text)
        if "{{snapshot}}" in text:  # hashing pyclient for the key only where the page asks for it
            text = text.replace("{{snapshot}}", self.snapshot_url())
        return text

    def snapshot_valid_key(self) -> str | None:
        """The snapshot's key if it was made for this Pyodide and pyclient; else None.

        Recomputed from the files on every call, so a pyclient edit invalidates the snapshot at once.
        """
        try:
            key = snapshot_key(self.web_dir, self.pyclient_dir)
            made_for = (self.web_dir / SNAPSHOT_KEY_FILE).read_text().strip()
        except OSError:
            return None
        if made_for != key or not (self.web_dir / SNAPSHOT_FILE).is_file():
            return None  # the page boots without it (the interpreter wrapper falls back), just slower
        return key

    def snapshot_url(self) -> str:
        """The snapshot's URL, versioned by its key, if it was made for this Pyodide and pyclient; else ""."""
        key = self.snapshot_valid_key()
        return "" if key is None else f"/static/{SNAPSHOT_FILE}?key={key}"

    def templated_response(self, request: web.Request, text: str, content_type: str) -> web.Response:
        body = self.template(text).encode()
        etag = hashlib.sha256(body).hexdigest()[:32]
        headers = {"Cache-Control": CACHE_REVALIDATE}
        if request.headers.get("If-None-Match", "").strip('"W/ ') == etag:
            response = web.Response(status=304, headers=headers)
        else:
            response = web.Response(body=body, headers=headers)
            response.content_type, _, _ = content_type.partition(";")
            if "charset=" in content_type:
                response.charset = content_type.rpartition("charset=")[2]
        response.etag = etag
        return response

    async def index(self, request: web.Request) -> web.StreamResponse:
        try:
            text = (self.web_dir / "index.html").read_text(encoding="utf-8")
        except FileNotFoundError:
            text = PLACEHOLDER_INDEX_HTML
        return self.templated_response(request, text, MIME_TYPES[".html"])

    async def static(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        if relative.split("/", 1)[0] == "node_modules" or relative == "index.html":
            # Vendor files only at versioned URLs; the page only at `/`, behind the token/cookie check.
            raise web.HTTPNotFound(text="not found\n")
        path = safe_join(self.web_dir, relative)
        if path is None:
            raise web.HTTPNotFound(text="not found\n")
        if relative in TEMPLATED_FILES:
            return self.templated_response(request, path.read_text(encoding="utf-8"), mime_type_for(path))
        if relative == SNAPSHOT_FILE:
            # Served only under the key snapshot_url() gives out, which changes with pyclient and Pyodide: a stale or
            # made-up key must not be cached for a year, and a stale snapshot must never be restored.
            if (key := self.snapshot_valid_key()) is None or request.rel_url.query.get("key") != key:
                raise web.HTTPNotFound(text="not found: no snapshot for this pyclient\n")
            return self.file_response(path, CACHE_IMMUTABLE)
        return self.file_response(path, CACHE_REVALIDATE)

    async def pyclient(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        path = safe_join(self.pyclient_dir, relative)
        if path is None or path.suffix != ".py":
            raise web.HTTPNotFound(text="not found\n")
        return self.file_response(path, CACHE_REVALIDATE)

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        spec = request.match_info["spec"]
        # Longest names first, so `@xterm/addon-fit` is never read as `@xterm/addon` + junk.
        for package in sorted(self.versions, key=len, reverse=True):
            if not spec.startswith(package + "@"):
                continue
            version, _, relative = spec[len(package) + 1 :].partition("/")
            if version != self.versions[package] or not relative:
                break
            path = safe_join(self.node_modules / package, relative)
            if path is None:
                break
            return self.file_response(path, CACHE_IMMUTABLE)
        raise web.HTTPNotFound(text="not found\n")

    @staticmethod
    def file_response(path: Path, cache_control: str) -> web.FileResponse:
        # FileResponse gives ETag, Last-Modified, conditional requests, ranges and sendfile.
        return web.FileResponse(path, headers={"Content-Type": mime_type_for(path), "Cache-Control": cache_control})


# ---------------------------------------------------------------------------------------------------------------------
# tmux commands
# ---------------------------------------------------------------------------------------------------------------------


class Tmux:
    """The tmux server this process serves: one place that builds every tmux command line."""

    GLOBAL_LATEST_SIZE = ("set-option", "-g", "-w", "window-size", "latest")

    def __init__(self, socket_name: str | None, shell: str) -> None:
        self.socket_name = socket_name
        self.shell = shell
        # Never talk to the tmux we might run inside ($TMUX) and never leak our secrets into panes.
        self.env = {k: v for k, v in os.environ.items() if k != "TMUX" and not k.startswith("LIVEPANE_")}
        self.env["TERM"] = "xterm-256color"

    def argv(self, *args: str) -> list[str]:
        socket_args = ["-L", self.socket_name] if self.socket_name else []
        return ["tmux", *socket_args, *args]

    async def run(self, *args: str) -> tuple[int, str]:
        """Run one tmux command; returns (exit status, stdout). stderr is kept for the debug log only."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        out, err = await proc.communicate()
        if proc.returncode:
            log.debug("tmux %s -> %s: %s", " ".join(args), proc.returncode, err.decode(errors="replace").strip())
        return proc.returncode or 0, out.decode(errors="replace")

    async def has_session(self, session_id: str) -> bool:
        status, _ = await self.run("has-session", "-t", f"={session_id}")
        return status == 0

    async def new_session(self, session_id: str) -> bool:
        """Create the session detached; False if it already existed (or could not be made).

        On a server we own, this may be the command that starts it (first start, or after its last session ended
        and tmux exited), so the global `window-size latest` is set in the same command list; on the user's server
        the per-connect prefer_latest_size() covers the session.
        """
        args = ["new-session", "-d", "-s", session_id, "--", *shlex.split(self.shell)]
        if self.socket_name:
            args += [";", *self.GLOBAL_LATEST_SIZE]
        status, _ = await self.run(*args)
        return status == 0

    async def prefer_latest_size(self, session_id: str) -> None:
        """`window-size latest` on the session's windows: the most recently active client's size wins.

        On a server we own (--tmux-socket) it is set globally instead; on the user's server only on this session's
        windows, so their other sessions keep their own setting.
        """
        status, out = await self.run("list-windows", "-t", f"={session_id}", "-F", "#{window_id}")
        commands: list[str] = []
        for window_id in out.split():
            commands += [*(["\\;"] if commands else []), "set-option", "-w", "-t", window_id, "window-size", "latest"]
        if status == 0 and commands:
            await self.run(*[c if c != "\\;" else ";" for c in commands])

    async def prefer_latest_size_globally(self) -> None:
        """Only meaningful once the server exists (a session is up): before that, the command fails."""
        await self.run(*self.GLOBAL_LATEST_SIZE)

    async def list_sessions(self) -> list[dict[str, object]]:
        fmt = "#{window_width}\t#{window_height}\t#{session_attached}\t#{pane_dead}\t#{session_name}"
        status, out = await self.run("list-sessions", "-F", fmt)
        if status != 0:  # no server running: no sessions
            return []
        sessions = []
        for line in out.splitlines():
            fields = line.split("\t", 4)
            if len(fields) != 5 or not SESSION_ID_RE.match(fields[4]):
                continue  # a session made outside livepane with a name the pane cannot open
            width, height, attached, dead, name = fields
            sessions.append(
                {
                    "id": name,
                    "attached": int(attached or 0),
                    "width": int(width or 0),
                    "height": int(height or 0),
                    "alive": dead != "1",
                }
            )
        return sessions

    def attach_argv(self, session_id: str) -> list[str]:
        return self.argv("attach-session", "-t", f"={session_id}")


# ---------------------------------------------------------------------------------------------------------------------
# The PTY bridge
# ---------------------------------------------------------------------------------------------------------------------


def set_winsize(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Pty:
    """One pseudo-terminal for one socket's lifetime: non-blocking master I/O on the event loop.

    We keep the slave open too: successive tmux clients (after a respawn) get the same terminal, its size, and any
    input typed in between; and the master never reads EOF just because a client died.
    """

    def __init__(self, columns: int, rows: int) -> None:
        self._loop = asyncio.get_running_loop()
        self.master, self.slave = os.openpty()
        set_winsize(self.master, columns, rows)
        os.set_blocking(self.master, False)
        self._pending = bytearray()
        self._drained: asyncio.Future[None] | None = None
        self._closed = False

    def resize(self, columns: int, rows: int) -> None:
        set_winsize(self.master, columns, rows)

    async def read(self, limit: int) -> bytes:
        """Wait for output, then return what is there (coalesced, up to `limit`); b"" once the PTY is gone."""
        chunks: list[bytes] = []
        size = 0
        while size < limit and not self._closed:
            try:
                data = os.read(self.master, limit - size)
            except BlockingIOError:
                if chunks:
                    break
                await self._wait(self._loop.add_reader, self._loop.remove_reader)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave fd closed
                    break
                raise
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)

    async def _wait(self, add: Callable[..., None], remove: Callable[[int], bool]) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()

        def on_ready() -> None:
            if not ready.done():
                ready.set_result(None)

        add(self.master, on_ready)
        try:
            await ready
        finally:
            if not self._closed:
                remove(self.master)

    def write(self, data: bytes) -> None:
        """Queue input for the terminal; written as the PTY accepts it."""
        if self._closed:
            return
        if not self._pending:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                written = 0
            data = data[written:]
            if not data:
                return
            self._loop.add_writer(self.master, self._flush)
        self._pending += data

    def _flush(self) -> None:
        try:
            written = os.write(self.master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending)  # the terminal is gone; input for it is moot
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self.master)
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    async def drain(self) -> None:
        """If queued input is over the high-water mark, wait until all of it is written (or the pty closes)."""
        if len(self._pending) <= PTY_INPUT_HIGH_WATER_BYTES:
            return
        self._drained = self._loop.create_future()
        await self._drained

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self.master)
        self._loop.remove_writer(self.master)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        os.close(self.master)
        os.close(self.slave)


class TmuxClient:
    """One `tmux attach-session` process on a Pty; `exited` resolves with its status (watched through a pidfd)."""

    def __init__(self, argv: list[str], pty: Pty, env: dict[str, str]) -> None:
        loop = asyncio.get_running_loop()
        # Own session (no signals from our terminal); the PTY is not its controlling terminal, so we deliver
        # SIGWINCH ourselves on resize.
        self.proc = subprocess.Popen(
            argv,
            stdin=pty.slave,
            stdout=pty.slave,
            stderr=pty.slave,
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.exited: asyncio.Future[int] = loop.create_future()
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (old kernel): one waiting thread per client, not per byte
            wait = loop.run_in_executor(None, self.proc.wait)
            wait.add_done_callback(lambda f: self._set_exited(f.result()))
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._set_exited(self.proc.wait())

        loop.add_reader(pidfd, on_exit)

    def _set_exited(self, status: int) -> None:
        if not self.exited.done():
            self.exited.set_result(status)

    def notify_resize(self) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGWINCH)

    async def stop(self) -> None:
        """End the client (tmux detaches it; the session lives on)."""
        for sig, wait_s in ((signal.SIGTERM, TMUX_CLIENT_STOP_S), (signal.SIGKILL, TMUX_CLIENT_STOP_S)):
            if self.exited.done():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.exited), wait_s)


class ProtocolError(Exception):
    """A client frame broke docs/protocol.md §2; carries the close code and reason."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def frame_bytes(msg: aiohttp.WSMessage) -> bytes:
    """The payload of a data frame: binary as is, text as UTF-8 (ttyd's clients send either)."""
    data = msg.data if msg.type is WSMsgType.BINARY else msg.data.encode()
    if len(data) > MAX_CLIENT_FRAME_BYTES:
        raise ProtocolError(Close.TOO_BIG, "message too big")
    return data


def parse_size(payload: bytes, what: str, require_token: bool = False) -> tuple[int, int]:
    """Columns and rows from a handshake or resize JSON object."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(Close.BAD_REQUEST, f"bad request: {what} is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(Close.BAD_REQUEST, f"bad request: {what} is not a JSON object")
    if require_token and not isinstance(obj.get("AuthToken", ""), str):
        raise ProtocolError(Close.BAD_REQUEST, f"bad request: {what} AuthToken is not a string")
    size = []
    for key in ("columns", "rows"):
        value = obj.get(key)
        if type(value) is not int or not 1 <= value <= MAX_TERMINAL_SIDE:
            reason = f"bad request: {what} {key} must be an integer 1-{MAX_TERMINAL_SIDE}"
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
        await self.send(b"1" + self.session_id.encode())
        preferences = {"livepane": {"protocol": 1, "keepalive_ms": round(self.keepalive_s * 1000)}}
        await self.send(b"2" + json.dumps(preferences).encode())
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
                await self.send(b"0" + data)

    async def keepalive(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                idle_s = time.monotonic() - self.last_sent
                if idle_s >= self.keepalive_s:
                    await self.send(b"0")
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
                await close_ws(self.ws, Close.INTERNAL_ERROR, "internal error: cannot start tmux")
                return
            status = await self.client.exited
            if not await self.tmux.has_session(self.session_id):
                await close_ws(self.ws, Close.NORMAL, "session ended")
                return
            now = time.monotonic()
            exits.append(now)
            if len(exits) == RESPAWN_LIMIT and now - exits[0] < RESPAWN_WINDOW_S:
                log.error("tmux client for session %s keeps exiting (status %s); giving up", self.session_id, status)
                await close_ws(self.ws, Close.INTERNAL_ERROR, "internal error: tmux client keeps exiting")
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
        if command == b"0":
            self.pty.write(payload)
            await self.pty.drain()
        elif command == b"1":
            columns, rows = parse_size(payload, "resize")
            self.pty.resize(columns, rows)
            if self.client is not None:
                self.client.notify_resize()
        elif command == b"2":
            self.resumed.clear()
        elif command == b"3":
            self.resumed.set()
        elif not command:
            raise ProtocolError(Close.BAD_REQUEST, "bad request: empty frame")
        else:
            raise ProtocolError(Close.UNSUPPORTED, "unknown message type")


# ---------------------------------------------------------------------------------------------------------------------
# Upstream proxy
# ---------------------------------------------------------------------------------------------------------------------


class UpstreamError(Exception):
    """The upstream could not be reached; `transient` says whether another attempt may help."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def classify_upstream_error(exc: BaseException) -> UpstreamError:
    """Transient: network errors (incl. DNS), timeouts, a dropped handshake, HTTP 5xx. Anything else fails fast."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, aiohttp.WSServerHandshakeError | aiohttp.ClientResponseError):
        return UpstreamError(f"upstream answered HTTP {exc.status}", transient=exc.status >= 500)
    if isinstance(exc, TimeoutError):
        return UpstreamError("upstream timed out", transient=True)
    if isinstance(exc, OSError | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return UpstreamError(f"upstream unreachable ({exc.__class__.__name__})", transient=True)
    return UpstreamError(f"upstream error ({exc.__class__.__name__})", transient=False)


class UpstreamProxy:
    """Relays browser sockets to an upstream terminal server, frames unchanged.

    Upstream URL: `{session}` in it is replaced by the session id; otherwise a URL without a path gets `/ws/<id>`
    appended (an upstream serve.py) and a URL with a path is used as is (one ttyd terminal).
    Upstream auth: with an upstream token, the proxy presents the cookie derived from it and fetches a ticket from
    `<upstream>/api/ticket` before every connect attempt; without one it connects bare (ttyd).
    """

    def __init__(
        self,
        upstream: str,
        upstream_token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.upstream = upstream
        self.upstream_token = upstream_token
        self.retry = retry
        self.sleep = sleep
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()

    def ws_url(self, session_id: str) -> URL:
        if "{session}" in self.upstream:
            return URL(self.upstream.replace("{session}", session_id))
        url = URL(self.upstream)
        if url.path in ("", "/"):
            return url.with_path(f"/ws/{session_id}")
        return url

    def http_base(self) -> URL:
        url = URL(self.upstream.replace("{session}", "x"))
        return url.with_scheme("https" if url.scheme == "wss" else "http").with_path("/").with_query(None)

    def auth_headers(self) -> dict[str, str]:
        if not self.upstream_token:
            return {}
        return {"Cookie": f"{COOKIE_NAME}={cookie_value_for(self.upstream_token)}"}

    async def _attempt(self, session_id: str) -> aiohttp.ClientWebSocketResponse:
        assert self.http is not None
        url = self.ws_url(session_id)
        if self.upstream_token:
            async with self.http.post(
                self.http_base() / "api" / "ticket", json={"session": session_id}, headers=self.auth_headers()
            ) as response:
                response.raise_for_status()
                try:
                    ticket = str((await response.json())["ticket"])
                except (ValueError, KeyError, TypeError, aiohttp.ContentTypeError):
                    raise UpstreamError("upstream ticket answer malformed", transient=True) from None
            url = url.update_query(ticket=ticket)
        return await self.http.ws_connect(
            url,
            protocols=("tty",),
            heartbeat=WS_HEARTBEAT_S,
            max_msg_size=0,  # frames are relayed unchanged; the upstream enforces its own limits
            compress=0,
        )

    async def connect(self, session_id: str) -> aiohttp.ClientWebSocketResponse:
        """Open the upstream socket, retrying transient failures per the RetryPolicy; raises UpstreamError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(self.retry.open_timeout_s):
                    return await self._attempt(session_id)
            except Exception as exc:
                error = classify_upstream_error(exc)
            delay = self.retry.delay_after(attempt) if error.transient else None
            if delay is None:
                raise error
            log.info("upstream connect attempt %d failed: %s; retrying in %.1f s", attempt, error.reason, delay)
            await self.sleep(delay)

    async def relay(self, browser: web.WebSocketResponse, session_id: str) -> None:
        try:
            upstream = await self.connect(session_id)
        except UpstreamError as exc:
            log.warning("upstream for session %s failed: %s", session_id, exc.reason)
            await close_ws(browser, Close.BAD_GATEWAY, f"bad gateway: {exc.reason}")
            return
        to_upstream = asyncio.create_task(self._browser_to_upstream(browser, upstream))
        to_browser = asyncio.create_task(self._upstream_to_browser(upstream, browser))
        try:
            await asyncio.wait({to_upstream, to_browser}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_upstream, to_browser):
                task.cancel()
            await asyncio.gather(to_upstream, to_browser, return_exceptions=True)
            if not upstream.closed:
                await close_ws(upstream, Close.NORMAL, "")

    @staticmethod
    async def _browser_to_upstream(browser: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in browser:
                if msg.type is WSMsgType.BINARY:
                    await upstream.send_bytes(frame_bytes(msg))
                elif msg.type is WSMsgType.TEXT:
                    frame_bytes(msg)  # size check only
                    await upstream.send_str(msg.data)
                else:
                    break
        except ProtocolError as exc:
            await close_ws(browser, exc.code, exc.reason)
        except ConnectionError:
            return  # the upstream is gone; the other direction reports it
        code = browser.close_code
        await close_ws(upstream, code if is_sendable_close_code(code) else Close.NORMAL, "")

    @staticmethod
    async def _upstream_to_browser(upstream: aiohttp.ClientWebSocketResponse, browser: web.WebSocketResponse) -> None:
        reason = ""
        try:
            while True:
                msg = await upstream.receive()
                if msg.type is WSMsgType.BINARY:
                    await browser.send_bytes(msg.data)
                elif msg.type is WSMsgType.TEXT:
                    await browser.send_str(msg.data)
                else:
                    if msg.type is WSMsgType.CLOSE:
                        reason = msg.extra or ""
                    break
        except ConnectionError:
            return  # the browser is gone; the other direction reports it
        code = upstream.close_code
        if is_sendable_close_code(code):
            await close_ws(browser, code, reason)
        else:
            await close_ws(browser, Close.BAD_GATEWAY, "bad gateway: upstream connection lost")


# ---------------------------------------------------------------------------------------------------------------------
# HTTP and WebSocket handlers
# ---------------------------------------------------------------------------------------------------------------------


def text_error(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason.rstrip("\n") + "\n", headers={"Cache-Control": CACHE_NEVER})


class LivepaneServer:
    """The aiohttp application: routes, auth, and the registry of open terminal sockets."""

    def __init__(
        self,
        config: Config,
        proxy_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ticket_journal: TicketJournal | None = None,
    ) -> None:
        self.config = config
        self.auth = Auth(config.token, journal=ticket_journal)
        self.assets = Assets(config.web_dir, config.pyclient_dir)
        self.tmux = Tmux(config.tmux_socket, config.shell)
        self.proxy = (
            UpstreamProxy(config.upstream, config.upstream_token, config.retry, proxy_sleep)
            if config.upstream
            else None
        )
        self.sockets: set[web.WebSocketResponse] = set()
        self.handlers: set[asyncio.Task[None]] = set()
        self.stopping = False

    def build_app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._security_headers)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{path:.+}", self.assets.static)
        app.router.add_get("/pyclient/{path:.+}", self.assets.pyclient)
        app.router.add_get("/vendor/{spec:.+}", self.assets.vendor)
        app.router.add_post("/api/ticket", self.ticket)
        app.router.add_get("/api/sessions", self.list_sessions)
        app.router.add_post("/api/sessions/{session}", self.create_session)
        app.router.add_get("/ws/{session}", self.terminal_socket)
        return app

    @staticmethod
    async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

    async def _on_startup(self, app: web.Application) -> None:
        if self.proxy is not None:
            await self.proxy.start()
            return
        if not await self.tmux.has_session(self.config.default_session):
            if await self.tmux.new_session(self.config.default_session):
                log.info("created tmux session %s", self.config.default_session)
            else:
                log.error("could not create tmux session %s", self.config.default_session)
        if self.config.tmux_socket:
            # Our own tmux server (tests, dedicated setups): the most recently active client's size wins everywhere.
            # Set after the default session is ensured: on a fresh socket there is no server to set it on before.
            await self.tmux.prefer_latest_size_globally()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close_all_sockets()

    async def _on_cleanup(self, app: web.Application) -> None:
        if self.proxy is not None:
            await self.proxy.stop()

    async def close_all_sockets(self) -> None:
        """Every socket gets 1012 and its bridge ends; returns within SHUTDOWN_BUDGET_S."""
        self.stopping = True
        closes = [close_ws(ws, Close.SERVICE_RESTART, "service restart") for ws in list(self.sockets)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), SHUTDOWN_BUDGET_S / 2)
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=SHUTDOWN_BUDGET_S / 2)

    # -- HTTP -----------------------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if token is not None:
            if not self.auth.token_ok(token):
                return text_error(401, "unauthorized: wrong token in the URL")
            query = request.rel_url.query.copy()
            del query["token"]
            clean_url = request.rel_url.with_query(query)
            if request.headers.get("Sec-Fetch-Site") == "cross-site":
                # A link on another site (a chat, a wiki): the browser would not send the SameSite=Strict cookie on
                # this navigation's redirect, so the 303 would land on 401. A refresh is a same-site navigation.
                response = web.Response(
                    text=SAME_SITE_REFRESH_HTML.format(url=html.escape(str(clean_url), quote=True)),
                    content_type="text/html",
                    headers={"Cache-Control": CACHE_NEVER},
                )
            else:
                response = web.HTTPSeeOther(clean_url, headers={"Cache-Control": CACHE_NEVER})
            response.set_cookie(COOKIE_NAME, self.auth.cookie_value, httponly=True, samesite="Strict", path="/")
            if isinstance(response, web.HTTPSeeOther):
                raise response
            return response
        if not self.auth.cookie_ok(request):
            return text_error(401, UNAUTHORIZED_TEXT)
        return await self.assets.index(request)

    def _check_api(self, request: web.Request, check_origin: bool) -> web.Response | None:
        if check_origin and not origin_ok(request):
            return text_error(403, "forbidden: origin not allowed")
        if not self.auth.cookie_ok(request):
            return text_error(401, UNAUTHORIZED_TEXT)
        return None

    async def ticket(self, request: web.Request) -> web.Response:
        refused = self._check_api(request, check_origin=True)
        if refused is not None:
            return refused
        try:
            body = await request.json()
            session_id = body["session"]
        except (ValueError, KeyError, TypeError):
            return text_error(400, 'bad request: body must be JSON {"session": "<id>"}')
        if not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
            return text_error(400, f"bad request: session id must match {SESSION_ID_RE.pattern}")
        ticket = self.auth.issue_ticket(session_id)
        return web.json_response(
            {"ticket": ticket, "expires_in_s": round(TICKET_TTL_S)}, headers={"Cache-Control": CACHE_NEVER}
        )

    async def list_sessions(self, request: web.Request) -> web.Response:
        refused = self._check_api(request, check_origin=False)
        if refused is not None:
            return refused
        if self.proxy is not None:
            return await self._forward(request, "GET", "api/sessions")
        sessions = await self.tmux.list_sessions()
        return web.json_response(
            {"default": self.config.default_session, "sessions": sessions}, headers={"Cache-Control": CACHE_NEVER}
        )

    async def create_session(self, request: web.Request) -> web.Response:
        refused = self._check_api(request, check_origin=True)
        if refused is not None:
            return refused
        session_id = request.match_info["session"]
        if not SESSION_ID_RE.match(session_id):
            return text_error(400, f"bad request: session id must match {SESSION_ID_RE.pattern}")
        if self.proxy is not None:
            return await self._forward(request, "POST", f"api/sessions/{session_id}")
        created = not await self.tmux.has_session(session_id) and await self.tmux.new_session(session_id)
        if not created and not await self.tmux.has_session(session_id):
            return text_error(500, "internal error: tmux could not create the session")
        status = 201 if created else 200
        body = {"id": session_id, "created": created}
        return web.json_response(body, status=status, headers={"Cache-Control": CACHE_NEVER})

    async def _forward(self, request: web.Request, method: str, path: str) -> web.Response:
        """Proxy mode: the session API is the upstream's (a serve.py with --upstream-token)."""
        assert self.proxy is not None and self.proxy.http is not None
        if not self.proxy.upstream_token:
            return text_error(501, "not implemented: the upstream has no session API (no --upstream-token)")
        try:
            async with asyncio.timeout(self.config.retry.open_timeout_s):
                async with self.proxy.http.request(
                    method, self.proxy.http_base() / path, headers=self.proxy.auth_headers()
                ) as upstream:
                    body = await upstream.read()
                    return web.Response(
                        status=upstream.status,
                        body=body,
                        content_type=upstream.content_type,
                        headers={"Cache-Control": CACHE_NEVER},
                    )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return text_error(502, f"bad gateway: {classify_upstream_error(exc).reason}")

    # -- WebSocket ------------------------------------------------------------------------------------------------

    async def terminal_socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            protocols=("tty",),
            heartbeat=WS_HEARTBEAT_S,
            max_msg_size=WS_PARSER_MAX_MSG_BYTES,
            compress=WS_COMPRESS,
            timeout=WS_CLOSE_TIMEOUT_S,
        )
        if not ws.can_prepare(request).ok:
            return text_error(400, "bad request: expected a WebSocket upgrade")
        await ws.prepare(request)
        # aiohttp cancels a handler whose connection drops; the socket's work (and its cleanup: ending the tmux
        # client) runs in its own task, which notices the closed socket by itself.
        work = asyncio.create_task(self._serve_socket(request, ws))
        self.sockets.add(ws)
        self.handlers.add(work)
        work.add_done_callback(lambda _: (self.sockets.discard(ws), self.handlers.discard(work)))
        await asyncio.shield(work)
        return ws

    async def _serve_socket(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        try:
            if self.stopping:
                await close_ws(ws, Close.SERVICE_RESTART, "service restart")
            else:
                await self._serve_checked_socket(request, ws)
        except Exception:
            log.exception("terminal socket failed")
            await close_ws(ws, Close.INTERNAL_ERROR, "internal error")

    async def _serve_checked_socket(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        session_id = request.match_info["session"]
        if not origin_ok(request):
            log.warning("refused socket from origin %s", request.headers.get("Origin"))
            await close_ws(ws, Close.FORBIDDEN, "origin not allowed")
            return
        if not SESSION_ID_RE.match(session_id):
            await close_ws(ws, Close.BAD_REQUEST, "bad request: bad session id")
            return
        try:
            self.auth.redeem_ticket(request.query.get("ticket"), session_id)
        except TicketError as exc:
            await close_ws(ws, Close.UNAUTHORIZED, str(exc))
            return
        if self.proxy is not None:
            await self.proxy.relay(ws, session_id)
            return
        if not await self.tmux.has_session(session_id):
            await close_ws(ws, Close.NOT_FOUND, "no such session")
            return
        try:
            size = await self._handshake(ws)
        except ProtocolError as exc:
            await close_ws(ws, exc.code, exc.reason)
            return
        if size is None:
            return  # closed before the handshake
        if not self.config.tmux_socket:
            await self.tmux.prefer_latest_size(session_id)
        await TerminalPane(ws, session_id, self.tmux, self.config.keepalive_s, size).run()

    @staticmethod
    async def _handshake(ws: web.WebSocketResponse) -> tuple[int, int] | None:
        try:
            msg = await ws.receive(timeout=HANDSHAKE_TIMEOUT_S)
        except TimeoutError:
            raise ProtocolError(Close.BAD_REQUEST, "bad request: no handshake") from None
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            return None
        return parse_size(frame_bytes(msg), "handshake", require_token=True)


# ---------------------------------------------------------------------------------------------------------------------
# Lifecycle: listening socket, signals, zero-downtime reload
# ---------------------------------------------------------------------------------------------------------------------


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
        site = web.SockSite(runner, self.sock, backlog=LISTEN_BACKLOG)
        await site.start()
        write_pid_file(self.config.pid_file)
        port = self.sock.getsockname()[1]
        if inherited is None:
            print(f"livepane: open http://{url_host(self.config.host)}:{port}/?token={self.config.token}", flush=True)
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
        # cleanup() runs the on_shutdown hook, which closes every socket (1012) once; then aiohttp ends connections.
        await runner.cleanup()
        if not self.handed_over:
            remove_pid_file(self.config.pid_file)
        log.info("stopped in %.0f ms", (time.monotonic() - started) * 1000)
        return 0

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
        argv = [sys.executable, str(Path(__file__).resolve()), *self.argv]
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


if __name__ == "__main__":
    sys.exit(main())
