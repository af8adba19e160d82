"""Deployed where users run it (issue 12): behind a real nginx or Caddy, under a path prefix, over TLS.

Real serve.py processes, a real Debian nginx/Caddy started by the test on free ports, a certificate the test makes
(tests/deploy_support.py); the client is aiohttp trusting only that certificate's CA. No browser: the e2e story
(tests/e2e/test_deploy.py) drives the page itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from deploy_support import (
    HOST_VARIANTS,
    WORKER_SHUTDOWN_TIMEOUT_S,
    Caddy,
    Nginx,
    SiteCertificate,
    caddy_site,
    have,
    make_certificate,
    nginx_location,
)
from launch import SERVE_PY, ServeProcess, Tmux
from support import free_port

from .conftest import TOKEN, Pane, cookie_header

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not (have("nginx") and have("openssl")), reason="needs nginx and openssl (make system)"
)

PREFIX = "/term/"
# The one-line refusal names both fixes (issue 12: "refusals that explain themselves").
REFUSAL_FIXES = ("--public-url", "proxy_set_header Host $http_host")


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures: one certificate, one nginx and two serve.py per module (without and with --public-url)


@pytest.fixture(scope="module")
def tmux() -> Iterator[Tmux]:
    """This module's own tmux server; its "anchor" session is each serve.py's default session."""
    server = Tmux(f"livepane-deploy-{os.getpid()}").start("anchor")
    yield server
    server.kill_server()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SiteCertificate:
    return make_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, cert: SiteCertificate) -> Iterator[Nginx]:
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), cert, "location / { return 404; }\n").start()
    yield proxy
    proxy.stop()


def start_serve(tmux: Tmux, folder: Path, *args: str) -> ServeProcess:
    return ServeProcess(tmux, folder, *args, token=TOKEN).start()


@pytest.fixture(scope="module")
def plain(tmux: Tmux, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """serve.py as it runs today behind a proxy: no --public-url."""
    process = start_serve(tmux, tmp_path_factory.mktemp("plain"))
    yield process
    process.close()


@pytest.fixture(scope="module")
def public(tmux: Tmux, tmp_path_factory: pytest.TempPathFactory, nginx: Nginx) -> Iterator[ServeProcess]:
    """serve.py told where users reach it: --public-url https://127.0.0.1:NGINX/term/."""
    process = start_serve(tmux, tmp_path_factory.mktemp("public"), "--public-url", nginx.origin + PREFIX)
    yield process
    process.close()


def http(cert: SiteCertificate) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=cert.client_context()), cookie_jar=aiohttp.DummyCookieJar()
    )


def set_cookie_attributes(header: str) -> dict[str, str]:
    """``name=value; Path=/x; Secure; HttpOnly`` -> {"path": "/x", "secure": "", ...} (names lower-cased)."""
    attributes = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value
    return attributes


async def open_terminal(session: aiohttp.ClientSession, ws_url: str, origin: str | None) -> Pane:
    headers = {"Origin": origin} if origin else {}
    ws = await session.ws_connect(ws_url, protocols=("tty",), headers=headers)
    return Pane(ws)


async def fetch_ticket(session: aiohttp.ClientSession, base: str, origin: str | None) -> tuple[int, str]:
    headers = {**cookie_header(), **({"Origin": origin} if origin else {})}
    async with session.post(base + "api/ticket", json={"session": "anchor"}, headers=headers) as response:
        return response.status, await response.text()


async def open_pane_through(session: aiohttp.ClientSession, base: str, origin: str) -> Pane:
    """Ticket with the browser's Origin, socket under ``base`` (wss for https), handshake, the first output."""
    status, body = await fetch_ticket(session, base, origin)
    assert status == 200, body
    ticket = json.loads(body)["ticket"]
    ws_base = "wss" + base.removeprefix("https") if base.startswith("https") else "ws" + base.removeprefix("http")
    pane = await open_terminal(session, f"{ws_base}ws/anchor?ticket={ticket}", origin)
    await pane.handshake()
    await pane.read_until(lambda got: bool(got.output))
    return pane


async def assert_terminal_works(session: aiohttp.ClientSession, base: str, origin: str) -> None:
    """A socket through the proxy runs a command and shows its output."""
    pane = await open_pane_through(session, base, origin)
    try:
        await pane.send_input("echo through-''proxy\r")
        await pane.wait_output("through-proxy")
    finally:
        await pane.close()


# ----------------------------------------------------------------------------------------------------------------------
# Under a prefix


@pytest.mark.parametrize("mode", ["plain", "public"])
async def test_token_url_under_a_prefix_redirects_into_the_prefix(mode, request, nginx: Nginx, cert) -> None:
    """/term/?token=T must land on /term/ (today it redirects to /, another app's page), with a cookie the browser
    sends back there; with --public-url https://... the cookie's Path is the prefix and it is Secure."""
    server: ServeProcess = request.getfixturevalue(mode)
    nginx.reload(nginx_location(PREFIX, server.port))
    page = f"{nginx.origin}{PREFIX}?token={TOKEN}&session=anchor"
    async with http(cert) as session, session.get(page, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert urljoin(page, response.headers["Location"]) == f"{nginx.origin}{PREFIX}?session=anchor"
        cookie = set_cookie_attributes(response.headers["Set-Cookie"])
    assert PREFIX.startswith(cookie["path"]), cookie
    assert "httponly" in cookie and cookie["samesite"] == "Strict"
    if mode == "public":
        assert cookie["path"] == PREFIX and "secure" in cookie, cookie
        assert f"livepane: open {nginx.origin}{PREFIX}?token=" in server.log(), "the printed URL is the public one"


ASSET_ATTRIBUTE_RE = re.compile(r'(?:src|href|config|content)="([^"]+)"')


@pytest.mark.parametrize("mode", ["plain", "public"])
async def test_every_url_the_page_loads_is_under_the_prefix(mode, request, nginx: Nginx, cert) -> None:
    """The page, its assets, PyScript's config, the interpreter, its index and snapshot, and the client files: each
    resolves (as the browser resolves it) under /term/ and answers 200 through the proxy."""
    server: ServeProcess = request.getfixturevalue(mode)
    nginx.reload(nginx_location(PREFIX, server.port))
    page = f"{nginx.origin}{PREFIX}"
    async with http(cert) as session:
        async with session.get(page, headers=cookie_header()) as response:
            assert response.status == 200, await response.text()
            html = await response.text()
        urls = [urljoin(page, u) for u in ASSET_ATTRIBUTE_RE.findall(html) if "/" in u and not u.startswith("data:")]
        config_url = urljoin(page, re.search(r'config="([^"]+)"', html).group(1))
        async with session.get(config_url) as response:
            config = await response.json(content_type=None)
        # PyScript resolves "interpreter" against the page and "files" against the config; pyodide-snap.mjs
        # resolves its index= and snap= against the page (web/pyodide-snap.mjs).
        interpreter = urljoin(page, config["interpreter"])
        query = dict(p.split("=", 1) for p in urlsplit(interpreter).query.split("&"))
        urls += [interpreter, urljoin(page, query["index"]) + "pyodide.mjs"]
        if query.get("snap"):
            urls.append(urljoin(page, query["snap"]))
        urls += [urljoin(config_url, source) for source in config["files"]]
        assert len(urls) > 10, urls
        for url in urls:
            assert urlsplit(url).path.startswith(PREFIX), f"{url} is outside {PREFIX}"
            async with session.get(url, headers=cookie_header()) as response:
                assert response.status == 200, f"{url}: {response.status}"


@pytest.mark.parametrize("mode", ["plain", "public-root"])
async def test_nginx_at_the_root(mode, plain: ServeProcess, nginx: Nginx, cert, tmux: Tmux, tmp_path: Path) -> None:
    """``location /``: the same config without a prefix, with and without ``--public-url https://HOST:PORT/``."""
    server = plain if mode == "plain" else start_serve(tmux, tmp_path, "--public-url", nginx.origin + "/")
    try:
        nginx.reload(nginx_location("/", server.port))
        page = f"{nginx.origin}/?token={TOKEN}"
        async with http(cert) as session:
            async with session.get(page, allow_redirects=False) as response:
                assert response.status == 303, await response.text()
                assert urljoin(page, response.headers["Location"]) == f"{nginx.origin}/"
                assert set_cookie_attributes(response.headers["Set-Cookie"])["path"] == "/"
            await assert_terminal_works(session, f"{nginx.origin}/", nginx.origin)
    finally:
        if server is not plain:
            server.close()


async def test_a_prefix_the_proxy_does_not_strip_gets_an_explained_404(
    public: ServeProcess, nginx: Nginx, cert
) -> None:
    """``proxy_pass http://127.0.0.1:PORT;`` (no slash) sends /term/ on unchanged: serve.py says what to fix rather
    than a bare 404 (the page would otherwise load nothing and sit at "Connecting…")."""
    nginx.reload(nginx_location(PREFIX, public.port, strip=False))
    async with http(cert) as session, session.get(f"{nginx.origin}{PREFIX}", headers=cookie_header()) as response:
        body = await response.text()
    assert response.status == 404
    assert PREFIX in body and "proxy_pass" in body and "/;" in body, body
    assert len(body.strip().splitlines()) <= 3, body


async def test_a_prefix_other_than_the_public_urls_gets_an_explained_401(
    public: ServeProcess, nginx: Nginx, cert
) -> None:
    """The proxy serves livepane under /other/ but --public-url says /term/: the cookie (Path=/term/) is not sent
    back, and the 401 says where the cookie belongs instead of only "unauthorized"."""
    nginx.reload(nginx_location("/other/", public.port))
    async with http(cert) as session:
        async with session.get(f"{nginx.origin}/other/?token={TOKEN}", allow_redirects=False) as response:
            assert set_cookie_attributes(response.headers["Set-Cookie"])["path"] == PREFIX
        async with session.get(f"{nginx.origin}/other/") as response:  # no cookie: the browser keeps it for /term/
            body = await response.text()
    assert response.status == 401
    assert f"{nginx.origin}{PREFIX}" in body and "cookie" in body, body


# ----------------------------------------------------------------------------------------------------------------------
# What must keep working behind nginx: restarts, reloads, idle panes


async def test_restart_and_nginx_reload_recover(public: ServeProcess, nginx: Nginx, cert) -> None:
    """serve.py's SIGTERM reaches the socket through nginx as 1012; while it is down the ticket fetch gets nginx's
    502 (transient for the pane); once it is back a new socket works. ``nginx -s reload`` ends the old worker's
    socket within worker_shutdown_timeout (1 s), and a new one works through the new workers."""
    nginx.reload(nginx_location(PREFIX, public.port))
    base = f"{nginx.origin}{PREFIX}"
    async with http(cert) as session:
        pane = await open_pane_through(session, base, nginx.origin)
        public.stop()
        code, _ = await pane.expect_close()
        assert code == 1012
        assert (await fetch_ticket(session, base, nginx.origin))[0] == 502
        public.start()
        await assert_terminal_works(session, base, nginx.origin)

        pane = await open_pane_through(session, base, nginx.origin)
        nginx.reload()
        await pane.expect_close(timeout=WORKER_SHUTDOWN_TIMEOUT_S + 4)
        await assert_terminal_works(session, base, nginx.origin)


async def test_an_idle_socket_outlives_the_proxy_read_timeout(tmux: Tmux, tmp_path: Path, nginx: Nginx, cert) -> None:
    """The keepalive frames keep nginx's proxy_read_timeout from cutting an idle pane (the 10 s keepalive against
    nginx's 60 s, here 0.5 s against 2 s); the same socket without keepalives is cut: the test can see the cut."""
    keeping = start_serve(tmux, tmp_path / "keeping", "--keepalive-s", "0.5")
    silent = start_serve(tmux, tmp_path / "silent", "--keepalive-s", "1000")
    read_timeout_s = 2
    try:
        nginx.reload(
            nginx_location("/keeping/", keeping.port, read_timeout_s=read_timeout_s)
            + nginx_location("/silent/", silent.port, read_timeout_s=read_timeout_s)
        )
        async with http(cert) as session:
            kept = await open_pane_through(session, f"{nginx.origin}/keeping/", nginx.origin)
            cut = await open_pane_through(session, f"{nginx.origin}/silent/", nginx.origin)
            idle_until = time.monotonic() + 2 * read_timeout_s
            while (left := idle_until - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    assert await kept.receive_one(timeout=left) is not None, f"closed {kept.close_code}"
            await cut.expect_close(timeout=1)
            await kept.send_input("echo still-''open\r")
            await kept.wait_output("still-open")
    finally:
        keeping.close()
        silent.close()


async def test_a_held_session_watch_answers_through_nginxs_default_buffering(
    plain: ServeProcess, nginx: Nginx, cert, tmux: Tmux
) -> None:
    """The session bar's long poll (GET api/sessions?since=) needs nothing of the proxy: nginx buffers the response
    (proxy_buffering on, its default) and passes it on when serve.py answers, as soon as tmux has a new session."""
    nginx.reload(nginx_location(PREFIX, plain.port))
    url = f"{nginx.origin}{PREFIX}api/sessions"
    async with http(cert) as session:
        async with session.get(url, headers=cookie_header()) as response:
            assert response.status == 200, await response.text()
            etag = (await response.json())["etag"]
        watch = asyncio.ensure_future(session.get(f"{url}?since={etag}", headers=cookie_header()))
        await asyncio.sleep(0.3)  # a look at the held request, not a wait for a condition: no answer yet
        assert not watch.done()
        made = tmux.new_session()
        try:
            started = time.monotonic()
            async with await asyncio.wait_for(watch, 10) as response:
                listing = await response.json()
            assert made in {s["id"] for s in listing["sessions"]}
            assert time.monotonic() - started < 5  # the change, not the 25 s deadline
        finally:
            tmux.kill_session(made)


# ----------------------------------------------------------------------------------------------------------------------
# The Host header nginx sends, with and without --public-url


@pytest.mark.parametrize("host", HOST_VARIANTS)
async def test_each_nginx_host_variant_works_with_public_url(host, public: ServeProcess, nginx: Nginx, cert) -> None:
    nginx.reload(nginx_location(PREFIX, public.port, host=host))
    async with http(cert) as session:
        await assert_terminal_works(session, f"{nginx.origin}{PREFIX}", nginx.origin)


@pytest.mark.parametrize("host", HOST_VARIANTS)
async def test_without_public_url_a_wrong_host_is_refused_with_the_fix(
    host, plain: ServeProcess, nginx: Nginx, cert
) -> None:
    """$http_host works as before; $proxy_host (nginx's default) and $host (drops the port) are refused, and the
    refusal says what was compared and how to fix it: in the 403 body (one line, for the pane's caption), in the
    4403 close reason, and in a warning in serve.py's log."""
    nginx.reload(nginx_location(PREFIX, plain.port, host=host))
    base = f"{nginx.origin}{PREFIX}"
    async with http(cert) as session:
        if host == "$http_host":
            await assert_terminal_works(session, base, nginx.origin)
            return
        status, body = await fetch_ticket(session, base, nginx.origin)
        assert status == 403, body
        assert len(body.strip().splitlines()) == 1, body
        assert all(fix in body for fix in REFUSAL_FIXES), body
        # A socket with a valid ticket (fetched without Origin, as a non-browser client may) is refused as well.
        status, body = await fetch_ticket(session, base, None)
        assert status == 200, body
        ticket = json.loads(body)["ticket"]
        pane = await open_terminal(session, f"wss://127.0.0.1:{nginx.port}{PREFIX}ws/anchor?ticket={ticket}",
                                   nginx.origin)
        code, reason = await pane.expect_close()
    assert code == 4403
    assert all(fix in reason for fix in REFUSAL_FIXES), reason
    assert len(reason.encode()) <= 123, "a close reason holds at most 123 bytes"
    sent_host = f"127.0.0.1:{plain.port}" if host == "$proxy_host" else "127.0.0.1"
    warnings = plain.log_lines(r"WARNING.*refused")
    assert any(nginx.origin in line and sent_host in line and "--public-url" in line for line in warnings), warnings


async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    tmux: Tmux, tmp_path: Path, nginx: Nginx, cert
) -> None:
    """nginx's default Host with X-Forwarded-Host/Proto: honoured with --trusted-proxy 127.0.0.1 (and the cookie is
    Secure, since the proxy says https); ignored without it."""
    trusting = start_serve(tmux, tmp_path / "trusting", "--trusted-proxy", "127.0.0.1")
    try:
        nginx.reload(nginx_location(PREFIX, trusting.port, host="$proxy_host"))
        async with http(cert) as session:
            await assert_terminal_works(session, f"{nginx.origin}{PREFIX}", nginx.origin)
            async with session.get(f"{nginx.origin}{PREFIX}?token={TOKEN}", allow_redirects=False) as response:
                assert "secure" in set_cookie_attributes(response.headers["Set-Cookie"])
    finally:
        trusting.close()
    async with aiohttp.ClientSession() as session:
        # Not a trusted proxy's request: a forged X-Forwarded-Host does not make a foreign Origin this server's.
        untrusting = start_serve(tmux, tmp_path / "untrusting")
        try:
            headers = {**cookie_header(), "Origin": "http://evil.example", "X-Forwarded-Host": "evil.example",
                       "X-Forwarded-Proto": "http"}
            async with session.post(f"{untrusting.origin}/api/ticket", json={"session": "anchor"},
                                    headers=headers) as response:
                assert response.status == 403
        finally:
            untrusting.close()


# ----------------------------------------------------------------------------------------------------------------------
# Caddy


@pytest.mark.skipif(not os.environ.get("CI") and not have("caddy"), reason="needs caddy (make system)")
@pytest.mark.parametrize("prefix", ["/", PREFIX])
async def test_caddy_at_the_root_and_under_a_prefix(prefix: str, tmux: Tmux, tmp_path: Path, cert) -> None:
    """docs/deploy.md's Caddyfiles: ``handle_path /term/*`` strips the prefix; Caddy keeps the browser's Host. The
    token URL lands in the prefix and the terminal works over wss, with no serve.py option at all."""
    server = start_serve(tmux, tmp_path / "serve")
    caddy = Caddy(tmp_path / "caddy", cert, caddy_site(prefix, server.port)).start()
    try:
        async with http(cert) as session:
            page = f"{caddy.origin}{prefix}?token={TOKEN}"
            async with session.get(page, allow_redirects=False) as response:
                assert response.status == 303, await response.text()
                assert urljoin(page, response.headers["Location"]) == f"{caddy.origin}{prefix}"
            await assert_terminal_works(session, f"{caddy.origin}{prefix}", caddy.origin)
    finally:
        caddy.stop()
        server.close()


# ----------------------------------------------------------------------------------------------------------------------
# TLS in serve.py itself


async def test_direct_tls_serves_https_and_wss_with_a_secure_cookie(tmux: Tmux, tmp_path: Path) -> None:
    """--certfile/--keyfile: https and wss straight from serve.py; the cookie is Secure; a SIGHUP successor (which
    inherits the listening socket) still speaks TLS, with the certificate files as they are now (a renewal)."""
    served = make_certificate(tmp_path / "served")  # its files get replaced below, as a renewal would
    server = start_serve(tmux, tmp_path, "--certfile", str(served.cert_file), "--keyfile", str(served.key_file))
    cert = served
    origin = f"https://127.0.0.1:{server.port}"
    try:
        async with http(cert) as session:
            async with session.get(f"{origin}/?token={TOKEN}", allow_redirects=False) as response:
                assert response.status == 303
                assert "secure" in set_cookie_attributes(response.headers["Set-Cookie"])
            await assert_terminal_works(session, f"{origin}/", origin)
        assert f"open {origin}/?token=" in server.log()
        async with aiohttp.ClientSession() as session:  # plain http is not spoken on the TLS port
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                    await response.read()
        renewed = make_certificate(tmp_path / "renewed")
        for source, target in ((renewed.cert_file, served.cert_file), (renewed.key_file, served.key_file)):
            target.write_bytes(source.read_bytes())
        server.reload()
        async with http(renewed) as session:
            await assert_terminal_works(session, f"{origin}/", origin)
        async with http(served) as session:  # the old CA's trust no longer fits: the new certificate is served
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await fetch_ticket(session, f"{origin}/", origin)
    finally:
        server.close()


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPANE_")}
    return subprocess.run([sys.executable, str(SERVE_PY), *args], capture_output=True, text=True, timeout=10, env=env)


def test_plain_http_on_a_non_loopback_address_needs_the_opt_in() -> None:
    """The token and every keystroke would cross the network in clear: exit 2 with a message naming both ways out."""
    result = run_serve("--host", "0.0.0.0", "--port", str(free_port()), "--token", "t" * 20)
    assert result.returncode == 2, result.stderr
    assert "0.0.0.0" in result.stderr and "--insecure" in result.stderr and "--certfile" in result.stderr


def test_tls_options_are_checked_at_start(cert: SiteCertificate) -> None:
    """One of --certfile/--keyfile without the other, a missing file, or a key that is not the certificate's: exit 2
    with the reason, before anything listens."""
    other = make_certificate(cert.cert_file.parent / "other")
    for args in (
        ("--certfile", str(cert.cert_file)),
        ("--keyfile", str(cert.key_file)),
        ("--certfile", "/nonexistent.pem", "--keyfile", str(cert.key_file)),
        ("--certfile", str(cert.cert_file), "--keyfile", str(other.key_file)),
    ):
        result = run_serve("--port", "0", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "unrecognized" not in result.stderr and "--certfile" in result.stderr, result.stderr


def test_bad_public_urls_exit_2() -> None:
    for url in ("example.org/term/", "ftp://example.org/", "https://user@example.org/", "https://example.org/?q=1",
                "https://example.org/#x", "https:///term/"):
        result = run_serve("--port", "0", "--public-url", url)
        assert result.returncode == 2, (url, result.stderr)
        assert "unrecognized" not in result.stderr and "--public-url" in result.stderr, result.stderr


# ----------------------------------------------------------------------------------------------------------------------
# Strict Origin parsing (issue 10, item 6)

# Each is refused, on POST /api/ticket (403) and on the socket (4403): userinfo in front of the real host, a path,
# an upper-case scheme (browsers serialize origins in lower case), a query, a fragment, "null", no host.
FOREIGN_ORIGINS = (
    "http://evil.example@127.0.0.1:{port}",
    "http://127.0.0.1:{port}/path",
    "http://127.0.0.1:{port}/",
    "HTTP://127.0.0.1:{port}",
    "Http://127.0.0.1:{port}",
    "http://127.0.0.1:{port}?q",
    "http://127.0.0.1:{port}#f",
    "http://127.0.0.1:0{port}",
    "http://127.0.0.1:{port}:{port}",
    "null",
    "http://",
    "file://127.0.0.1:{port}",
)


async def test_origins_are_parsed_strictly(tmux: Tmux, tmp_path: Path) -> None:
    server = start_serve(tmux, tmp_path)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            status, _ = await fetch_ticket(session, f"{server.origin}/", server.origin)
            assert status == 200, "the server's own origin must pass"
            for template in FOREIGN_ORIGINS:
                origin = template.format(port=server.port)
                status, body = await fetch_ticket(session, f"{server.origin}/", origin)
                assert status == 403, (origin, status, body)
                _, body = await fetch_ticket(session, f"{server.origin}/", None)
                ticket = json.loads(body)["ticket"]
                pane = await open_terminal(session, f"ws://127.0.0.1:{server.port}/ws/anchor?ticket={ticket}", origin)
                code, _ = await pane.expect_close()
                assert code == 4403, (origin, code)
    finally:
        server.close()

