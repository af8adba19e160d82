"""Access (docs/protocol.md §1): token URL -> HMAC cookie -> single-use tickets, and the Origin check.

Rules:
- Secrets are compared in constant time (hmac.compare_digest).
- A refused ticket raises TicketError whose message is the close reason the client reads.
- Origins are parsed strictly (ORIGIN_RE), never by a URL parser that would read userinfo or a path as harmless.
- Forwarding headers (X-Forwarded-Host/Proto) count only from a proxy the operator named (--trusted-proxy).
- A refused Origin says what was compared with what, and the two fixes (class Refusal).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from pyclient.protocol import MAX_CLOSE_REASON_BYTES, Reason

COOKIE_NAME = "livepane_auth"
# docs/protocol.md §1: a ticket covers one connect attempt; 30 s is ample for a fetch followed by an upgrade.
TICKET_TTL_S = 30.0
# 128 bits of randomness: unguessable, and short enough for a URL.
TICKET_NONCE_BYTES = 16


def cookie_value_for(token: str) -> str:
    """The auth cookie is an HMAC of the token: a reload successor with the same token accepts old cookies."""
    return hmac.new(token.encode(), b"livepane cookie v1", hashlib.sha256).hexdigest()


def secret_bytes(given: str) -> bytes:
    """What a client sent, as bytes to compare with a secret; never raises.

    aiohttp decodes headers as UTF-8 with surrogateescape, so a byte like 0xff in a cookie arrives as a lone
    surrogate, which a plain ``encode()`` refuses (that was a 500). Surrogates are encoded as they are: the result
    never equals an ASCII secret, and only the secret's own text encodes to the secret.
    """
    return given.encode("utf-8", "surrogatepass")


def cookie_fingerprint(cookie_value: str) -> str:
    """What the state folder keeps of a rotated token's cookie: enough to recognise it, useless as a cookie."""
    return hashlib.sha256(b"livepane retired cookie v1\n" + cookie_value.encode(errors="replace")).hexdigest()[:32]


class TicketError(Exception):
    """A ticket was refused; the message is the close reason."""


class TicketJournal:
    """The nonces of redeemed tickets, shared by every serve.py process with the same token.

    It is a file: serve.py opens the one in its state folder for its token (``TicketJournal.open``, state.py), so a
    used ticket stays used across any restart (SIGTERM or SIGKILL), and a SIGHUP successor inherits its fd
    (ENV_TICKETS_FD); without a path (in-process tests) it is an unlinked temporary file. So a ticket used on one
    process is refused by another, also during a reload while both accept. Each check-and-record holds an exclusive
    lock and first reads what the other process appended. The file starts with a generation line; past COMPACT_BYTES
    it is rewritten with the unexpired entries under the next generation, and a process that sees a new generation
    reads it all again.
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

    @classmethod
    def open(cls, path: Path) -> TicketJournal:
        """The journal kept in ``path`` (made 0600 if missing); its fd is inheritable by a SIGHUP successor."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return cls(fd)

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
        self,
        token: str,
        clock: Callable[[], float] = time.time,
        journal: TicketJournal | None = None,
        retired_cookies: Iterable[str] = (),
    ) -> None:
        self._token = token.encode()
        self._retired_cookies = frozenset(retired_cookies)
        self._cookie = cookie_value_for(token).encode()
        self._ticket_key = hmac.new(self._token, b"livepane ticket key v1", hashlib.sha256).digest()
        self._clock = clock
        self.journal = journal or TicketJournal()

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(secret_bytes(given), self._token)

    @property
    def cookie_value(self) -> str:
        return self._cookie.decode()

    def cookie_ok(self, request: web.BaseRequest) -> bool:
        given = request.cookies.get(COOKIE_NAME)
        return given is not None and hmac.compare_digest(secret_bytes(given), self._cookie)

    def cookie_rotated(self, request: web.BaseRequest) -> bool:
        """The request's cookie belongs to a token that was rotated away (state.py keeps their fingerprints)."""
        given = request.cookies.get(COOKIE_NAME)
        return given is not None and cookie_fingerprint(given) in self._retired_cookies

    def _mac(self, session_id: str, expiry: str, nonce: str) -> str:
        message = secret_bytes(f"{session_id}\n{expiry}\n{nonce}")  # the nonce is the client's text
        return hmac.new(self._ticket_key, message, hashlib.sha256).hexdigest()[:32]

    def issue_ticket(self, session_id: str) -> str:
        expiry = str(int((self._clock() + TICKET_TTL_S) * 1000))
        nonce = secrets.token_hex(TICKET_NONCE_BYTES)
        return f"{expiry}.{nonce}.{self._mac(session_id, expiry, nonce)}"

    def redeem_ticket(self, ticket: str | None, session_id: str) -> None:
        """Accept the ticket once for this session, or raise TicketError with the close reason."""
        if not ticket:
            raise TicketError(f"{Reason.UNAUTHORIZED}: no ticket")
        expiry, _, rest = ticket.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expiry.isascii() and expiry.isdigit() and nonce and mac):  # "²".isdigit(), but int("²") raises
            raise TicketError("ticket invalid")
        if not hmac.compare_digest(secret_bytes(mac), self._mac(session_id, expiry, nonce).encode()):
            raise TicketError("ticket invalid")
        expires_at = int(expiry) / 1000
        now = self._clock()
        if expires_at < now:
            raise TicketError("ticket invalid: expired")
        if not self.journal.use(nonce, expires_at, now):
            raise TicketError("ticket invalid: already used")


# ---------------------------------------------------------------------------------------------------------------------
# Origins and the public address


# An Origin header as browsers serialize it (RFC 6454 §6.2): a lower-case scheme, "://", a host, an optional port
# without leading zeros, nothing after. No userinfo (`http://evil.example@127.0.0.1` names 127.0.0.1 to a URL parser),
# no path, no query, no fragment: anything else is not from a browser's own page and is refused.
# A host is a bracketed IPv6 literal or letters, digits, dots and hyphens; a port has no leading zero.
HOST_AND_PORT = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[1-9][0-9]{0,4}))?"
ORIGIN_RE = re.compile(r"\A(?P<scheme>https?)://" + HOST_AND_PORT + r"\Z")
# A Host (or X-Forwarded-Host) header: the same host and port, no scheme.
HOST_RE = re.compile(r"\A" + HOST_AND_PORT + r"\Z")
DEFAULT_PORTS = {"http": 80, "https": 443}
# The two fixes a refused Origin names (docs/deploy.md).
ORIGIN_FIXES = "set --public-url, or proxy_set_header Host $http_host"


@dataclasses.dataclass(frozen=True)
class Origin:
    """scheme://host:port, normalized: lower-case host, the scheme's default port filled in."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


def _port(text: str | None, scheme: str) -> int | None:
    if text is None:
        return DEFAULT_PORTS[scheme]
    port = int(text)
    return port if port <= 65535 else None


def parse_origin(text: str) -> Origin | None:
    """The Origin header's value, or None unless it is exactly what a browser sends."""
    match = ORIGIN_RE.match(text)
    if match is None:
        return None
    scheme = match["scheme"]
    port = _port(match["port"], scheme)
    return None if port is None else Origin(scheme, match["host"].lower(), port)


def parse_host(text: str) -> tuple[str, int | None] | None:
    """A Host header's (host, port or None), or None if malformed."""
    match = HOST_RE.match(text.strip())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    return None if port is not None and port > 65535 else (match["host"].lower(), port)


def last_value(header: str | None) -> str | None:
    """The last element of a comma-separated forwarding header: the one the nearest (trusted) proxy wrote."""
    if not header:
        return None
    return header.rsplit(",", 1)[-1].strip() or None


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a request's Origin was refused, worded for the three readers: the log, the 403 body, the close reason."""

    origin: str
    expected: str
    source: str

    @property
    def log_line(self) -> str:
        return (
            f"origin {self.origin!r} is not this server's: expected {self.expected} ({self.source}); "
            f"if users reach livepane at {self.origin}, start serve.py with --public-url <the URL they open>, "
            "or make the proxy pass the browser's Host (nginx: proxy_set_header Host $http_host)"
        )

    @property
    def body(self) -> str:
        """One line: the pane's caption can show it whole."""
        return f"forbidden: origin {self.origin} is not this server's ({self.expected}): {ORIGIN_FIXES}"

    @property
    def close_reason(self) -> str:
        """At most 123 bytes; the compared values go first to go if it would not fit."""
        full = f"{Reason.ORIGIN_NOT_ALLOWED}: {self.origin} is not {self.expected}: {ORIGIN_FIXES}"
        if len(full.encode()) <= MAX_CLOSE_REASON_BYTES:
            return full
        return f"{Reason.ORIGIN_NOT_ALLOWED}: {ORIGIN_FIXES}"


class PublicAddress:
    """Where users reach this server, as the Origin check, the cookie and the printed URL need it (docs/deploy.md).

    | --public-url | request from a --trusted-proxy | expected Origin                                       |
    | set          | either                         | the public URL's scheme, host and port                |
    | unset        | yes, with X-Forwarded-Host     | that host and port (and X-Forwarded-Proto's scheme)   |
    | unset        | otherwise                      | the Host header's host and port, any scheme           |

    A missing Origin passes: browsers always send one on WebSocket upgrades and POSTs, and cross-site attacks
    cannot remove it. The scheme is not compared in the last row, since TLS may end at a proxy in front of us.
    """

    def __init__(
        self,
        public: Origin | None = None,
        path: str = "/",
        trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
        tls: bool = False,
    ) -> None:
        self.public = public  # --public-url's origin
        self.path = path  # --public-url's path: the cookie's Path
        self.trusted_proxies = trusted_proxies  # --trusted-proxy
        self.tls = tls  # serve.py speaks TLS itself (--certfile)

    def trusted(self, request: web.BaseRequest) -> bool:
        if not self.trusted_proxies or not request.remote:
            return False
        try:
            peer = ipaddress.ip_address(request.remote)
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)

    def _forwarded(self, request: web.BaseRequest) -> tuple[str | None, str | None]:
        """(X-Forwarded-Proto, X-Forwarded-Host) from a trusted proxy; (None, None) from anyone else."""
        if not self.trusted(request):
            return None, None
        proto = last_value(request.headers.get("X-Forwarded-Proto"))
        return (proto.lower() if proto else None), last_value(request.headers.get("X-Forwarded-Host"))

    def refusal(self, request: web.BaseRequest) -> Refusal | None:
        """None if the request may act (no Origin, or this server's); else why not."""
        header = request.headers.get("Origin")
        if header is None:
            return None
        origin = parse_origin(header)
        if self.public is not None:
            if origin == self.public:
                return None
            return Refusal(header, str(self.public), "from --public-url")
        proto, forwarded_host = self._forwarded(request)
        host_header = forwarded_host or request.headers.get("Host", "")
        source = f"X-Forwarded-Host {forwarded_host!r}" if forwarded_host else f"Host header {host_header!r}"
        host = parse_host(host_header)
        if origin is not None and host is not None:
            name, port = host
            scheme = proto if proto in DEFAULT_PORTS else origin.scheme
            if (origin.scheme, origin.host, origin.port) == (scheme, name, port or DEFAULT_PORTS[scheme]):
                return None
        expected = f"{proto}://{host_header}" if proto else host_header or "no Host header"
        return Refusal(header, expected, source)

    def secure(self, request: web.BaseRequest) -> bool:
        """Users speak https: the cookie gets the Secure flag."""
        if self.public is not None:
            return self.public.scheme == "https"
        return self.tls or self._forwarded(request)[0] == "https"
