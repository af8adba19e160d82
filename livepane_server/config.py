"""The command line and the environment -> one frozen Config (and the proxy's RetryPolicy).

Rules:
- Every default is a named constant here with its reason; nothing else reads argv or os.environ for settings.
- Bad input exits 2 through argparse with a one-line reason, including a non-loopback bind without an explicit token,
  plain HTTP on a non-loopback address without --insecure, a malformed --public-url and unusable TLS files.
- ``token`` is the explicit one (``--token``, ``$LIVEPANE_TOKEN``) or empty: then lifecycle takes the stored token
  from ``state_dir`` (state.py) once it holds the port, so a start that fails changes nothing there.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import shlex
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from yarl import URL

from pyclient.protocol import SESSION_ID_RE

from . import state
from .auth import DEFAULT_PORTS, Origin, PublicAddress, parse_host
from .poll import POLL_INTERVAL_S
from .sessions import SessionWatchPolicy

# The repository: web/ and pyclient/ sit beside this package.
ROOT_DIR = Path(__file__).resolve().parents[1]
WEB_DIR = ROOT_DIR / "web"
PYCLIENT_DIR = ROOT_DIR / "pyclient"

# Loopback only by default: a terminal is a remote shell; exposing it is an explicit decision (with a chosen token).
DEFAULT_HOST = "127.0.0.1"
# ttyd's 7681 plus one thousand-odd: an unprivileged port unlikely to clash with common dev servers.
DEFAULT_PORT = 8765
DEFAULT_SESSION = "main"
# docs/protocol.md §2 advertises keepalive_ms = 10000; the client's watchdog fires after 2.5x that.
DEFAULT_KEEPALIVE_S = 10.0
# An HTTP connection that has not delivered a whole request head this long after it opened or after its last response
# is closed: aiohttp's keepalive_timeout, which is both the idle keep-alive timeout and the deadline for a request
# whose headers never finish. Longer than nginx's upstream keepalive_timeout (60 s), so a reverse proxy drops its
# idle connections before we do (aiohttp's own default, 3630 s, kept such connections open for an hour).
DEFAULT_HTTP_IDLE_TIMEOUT_S = 75.0
# A request body (the API's JSON, ~80 bytes, sent with its headers) must arrive whole within this long: 408 after.
DEFAULT_HTTP_BODY_TIMEOUT_S = 15.0
# The handshake is the client's first frame, sent on open; a socket that has not sent it this long after the upgrade
# is not a livepane client (its ticket is spent) and is closed 4400. Absolute: pings do not extend it.
DEFAULT_HANDSHAKE_TIMEOUT_S = 10.0

# Environment shared between a process and the successor it starts on SIGHUP.
ENV_TOKEN = "LIVEPANE_TOKEN"
ENV_UPSTREAM_TOKEN = "LIVEPANE_UPSTREAM_TOKEN"
ENV_LISTEN_FD = "LIVEPANE_LISTEN_FD"
ENV_TICKETS_FD = "LIVEPANE_TICKETS_FD"
ENV_READY_FD = "LIVEPANE_READY_FD"


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
class PublicURL:
    """--public-url: where users open the page (scheme, host, port, path prefix ending in /)."""

    origin: Origin
    path: str = "/"

    def __str__(self) -> str:
        return f"{self.origin}{self.path}"


def parse_public_url(text: str) -> PublicURL:
    """``https://example.org/term`` -> PublicURL(https://example.org, "/term/"); ValueError says what is wrong."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain user info (user@)")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not have a query or a fragment")
    host = parse_host(parts.netloc)
    if not parts.hostname or host is None:
        raise ValueError("must name a host")
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    if "//" in path or "/../" in path or "/./" in path:
        raise ValueError("must have a plain path prefix such as /term/")
    return PublicURL(Origin(scheme, host[0], port or DEFAULT_PORTS[scheme]), path)


def load_tls_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """The server's TLS context from PEM files (stdlib defaults: TLS 1.2+). A SIGHUP successor loads them again, so
    a renewed certificate takes effect with a reload. Raises OSError or ssl.SSLError."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


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
    state_dir: Path | None = None  # None: keep nothing (in-process tests); serve.py: state.state_dir(environ)
    rotate_token: bool = False
    keepalive_s: float = DEFAULT_KEEPALIVE_S
    log_level: str = "info"
    web_dir: Path = WEB_DIR
    pyclient_dir: Path = PYCLIENT_DIR
    retry: RetryPolicy = RetryPolicy()
    # docs/deploy.md: where users reach us, whose forwarding headers count, and our own TLS.
    public_url: PublicURL | None = None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False
    # Deadlines not on the command line (tests shorten them): the DEFAULT_* constants above say why each is what it is.
    http_idle_timeout_s: float = DEFAULT_HTTP_IDLE_TIMEOUT_S
    http_body_timeout_s: float = DEFAULT_HTTP_BODY_TIMEOUT_S
    handshake_timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S
    # GET /api/sessions?since=: how long a watch is held, how many watch at once.
    session_watch: SessionWatchPolicy = dataclasses.field(default_factory=SessionWatchPolicy)
    # How often tmux's session list is asked while the bar or a pane's title watches it (livepane_server/poll.py).
    session_poll_interval_s: float = POLL_INTERVAL_S

    @property
    def tls(self) -> bool:
        return self.certfile is not None

    def public_address(self) -> PublicAddress:
        public = self.public_url
        return PublicAddress(
            public.origin if public else None, public.path if public else "/", self.trusted_proxies, self.tls
        )


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve.py",
        description="livepane: serve tmux sessions to the browser pane (docs/protocol.md).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default %(default)s)")
    parser.add_argument(
        "--token",
        help=f"access token (default: ${ENV_TOKEN}, else the one stored in the state folder, made at the first "
        "start); never stored; required to bind a non-loopback address",
    )
    parser.add_argument(
        "--rotate-token",
        action="store_true",
        help="replace the stored token with a new one before serving: panes holding the old one stop and say so",
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
    parser.add_argument(
        "--pid-file",
        type=Path,
        help="also write the serving process's pid here (a reload rewrites it); the state folder always gets "
        "serve-PORT.pid",
    )
    parser.add_argument(
        "--keepalive-s",
        type=float,
        default=DEFAULT_KEEPALIVE_S,
        help="send an empty output frame after this much idle time (default %(default)s)",
    )
    deploy = parser.add_argument_group("deploying behind a proxy or over TLS (docs/deploy.md)")
    deploy.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL users open, e.g. https://example.org/term/: the printed URL, the Origin check and the cookie's "
        "Path and Secure flag follow it, whatever Host the proxy sends",
    )
    deploy.add_argument(
        "--trusted-proxy",
        metavar="ADDR",
        action="append",
        default=[],
        help="honour X-Forwarded-Host/Proto from this address or network (repeatable), e.g. 127.0.0.1",
    )
    deploy.add_argument("--certfile", type=Path, metavar="PEM", help="serve https/wss with this certificate chain")
    deploy.add_argument("--keyfile", type=Path, metavar="PEM", help="the private key of --certfile (unencrypted)")
    deploy.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain HTTP on a non-loopback address (the token and keystrokes cross the network in clear)",
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
            f"refusing to bind non-loopback address {args.host!r} with the stored token: "
            f"pass --token or set ${ENV_TOKEN} (anyone who can reach the port gets a shell)"
        )
    if not is_loopback(args.host) and not args.certfile and not args.insecure:
        parser.error(
            f"refusing plain HTTP on non-loopback address {args.host!r}: the token and every keystroke would cross "
            "the network in clear; serve TLS with --certfile/--keyfile, bind 127.0.0.1 behind a TLS proxy, "
            "or pass --insecure if the network to this port is trusted"
        )
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together: give both (PEM files) or neither")
    if args.certfile is not None:
        try:
            load_tls_context(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            parser.error(f"--certfile {args.certfile} / --keyfile {args.keyfile}: cannot load: {exc}")
    public_url = None
    if args.public_url is not None:
        try:
            public_url = parse_public_url(args.public_url)
        except ValueError as exc:
            parser.error(f"--public-url {args.public_url!r} {exc}")
    trusted_proxies = []
    for address in args.trusted_proxy:
        try:
            trusted_proxies.append(ipaddress.ip_network(address, strict=False))
        except ValueError:
            parser.error(f"--trusted-proxy {address!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)")
    if args.rotate_token and token:
        parser.error(f"--rotate-token replaces the stored token; it cannot be combined with --token or ${ENV_TOKEN}")
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
        token=token,
        tmux_socket=args.tmux_socket,
        upstream=args.upstream,
        upstream_token=args.upstream_token or environ.get(ENV_UPSTREAM_TOKEN),
        default_session=args.default_session,
        shell=shell,
        pid_file=args.pid_file,
        state_dir=state.state_dir(environ),
        rotate_token=args.rotate_token,
        keepalive_s=args.keepalive_s,
        log_level=args.log_level,
        public_url=public_url,
        trusted_proxies=tuple(trusted_proxies),
        certfile=args.certfile,
        keyfile=args.keyfile,
        insecure=args.insecure,
    )
