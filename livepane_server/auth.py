"""Access (docs/protocol.md §1): token URL -> HMAC cookie -> single-use tickets, and the Origin check.

Rules:
- Secrets are compared in constant time (hmac.compare_digest).
- A refused ticket raises TicketError whose message is the close reason the client reads.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections.abc import Callable

from aiohttp import web
from yarl import URL

from pyclient.protocol import Reason

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
        return hmac.compare_digest(secret_bytes(given), self._token)

    @property
    def cookie_value(self) -> str:
        return self._cookie.decode()

    def cookie_ok(self, request: web.BaseRequest) -> bool:
        given = request.cookies.get(COOKIE_NAME)
        return given is not None and hmac.compare_digest(secret_bytes(given), self._cookie)

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
