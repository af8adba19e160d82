"""Issue 12's stories in the browser: the page under /term/ over https through a real nginx, and over TLS direct.

One nginx (TLS with a certificate this module makes) in front of two serve.py: /term/ proxies to one started with
``--public-url https://127.0.0.1:NGINX/term/``, /plain/ to one without it behind ``proxy_set_header Host $host``
(the common config that drops the port). A third serve.py speaks TLS itself with the same certificate. Chromium
trusts exactly this certificate's key (``--ignore-certificate-errors-spki-list``, which Chromium honours only with
a user-data dir): the certificate is checked, not ignored, so a wrong one still fails. It runs in its own persistent
context; the suite's shared one has no such flag.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from deploy_support import Nginx, SiteCertificate, have, make_certificate, nginx_location
from launch import ServeProcess, Tmux
from livepane_e2e import (
    BOOT_TIMEOUT_S,
    PROMPT_RE,
    VIEWPORT,
    PageRecord,
    pane_selector,
    stats,
    wait_for_screen,
    wait_for_state,
)
from support import CHROMIUM, CHROMIUM_ARGS, wait_until

from livepane_server.auth import COOKIE_NAME

ROOT = Path(__file__).resolve().parents[2]
# The client builds its api/ and ws/ URLs against document.baseURI (helper P's pyclient/page.py). Until that lands,
# the page boots under /term/ but asks /api/ticket at the root, and these stories cannot pass.
CLIENT_URLS_RELATIVE = (ROOT / "pyclient" / "page.py").exists()
needs_relative_client = pytest.mark.xfail(
    not CLIENT_URLS_RELATIVE, reason="needs the client's page-relative URLs (pyclient/page.py)", run=False
)
TOKEN = "deploy-e2e-token"
PREFIX = "/term/"
PLAIN_PREFIX = "/plain/"
REFUSAL_FIXES = ("--public-url", "Host $http_host")


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not all(have(b) for b in ("nginx", "openssl", "tmux")) or not Path(CHROMIUM).exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs nginx, openssl, tmux and chromium (make system)")
    root = tmp_path_factory.mktemp("deploy")
    cert = make_certificate(root / "cert")
    tmux = Tmux(f"livepane-deploy-e2e-{os.getpid()}").start("anchor")
    nginx = Nginx(root / "nginx", cert, "")
    public = ServeProcess(tmux, root / "public", "--public-url", f"{nginx.origin}{PREFIX}", token=TOKEN)
    plain = ServeProcess(tmux, root / "plain", token=TOKEN)
    direct = ServeProcess(tmux, root / "direct", "--certfile", str(cert.cert_file), "--keyfile", str(cert.key_file),
                          token=TOKEN)
    try:
        public.start()
        plain.start()
        direct.start()
        nginx.write_config(
            nginx_location(PREFIX, public.port) + nginx_location(PLAIN_PREFIX, plain.port, host="$host")
        )
        nginx.start()
        yield {"cert": cert, "tmux": tmux, "nginx": nginx, "public": public, "plain": plain, "direct": direct}
    finally:
        nginx.stop()
        public.close()
        plain.close()
        direct.close()
        tmux.kill_server()


@pytest.fixture(scope="module")
def trusting_browser(playwright: Any, deploy: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    cert: SiteCertificate = deploy["cert"]
    profile = tmp_path_factory.mktemp("chromium-deploy")
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={cert.spki_sha256_base64()}"],
        headless=True,
        viewport=VIEWPORT,
    )
    yield context
    context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def tab(trusting_browser: Any, deploy: dict[str, Any]) -> Iterator[Any]:
    """A fresh tab; every request it makes must stay under nginx's origin and one of the two prefixes, or on the
    direct TLS server's origin."""
    page = trusting_browser.new_page()
    record = PageRecord()
    page.on("request", lambda r: record.requests.append(r.url))
    page.on("websocket", lambda ws: record.websockets.append(ws.url))
    page.on("pageerror", lambda error: record.errors.append(str(error)))
    page.livepane_record = record
    try:
        yield page
    finally:
        page.close()
    allowed = {f"127.0.0.1:{deploy['nginx'].port}": (PREFIX, PLAIN_PREFIX), f"127.0.0.1:{deploy['direct'].port}": "/"}
    strays = [
        url for url in record.requests + record.websockets
        if urlsplit(url).scheme not in ("data", "blob")
        and not urlsplit(url).path.startswith(allowed.get(urlsplit(url).netloc, "\0"))
    ]
    assert not strays, f"requests outside the prefixes: {strays}"
    assert not record.errors, record.errors


def open_under_prefix(page: Any, nginx: Nginx, session: str, prefix: str = PREFIX) -> None:
    """Open the token URL under the prefix, as a user pasting it would; wait for the page to be up."""
    page.goto(f"{nginx.origin}{prefix}?token={TOKEN}&session={session}")
    assert urlsplit(page.url).path == prefix, f"the token redirect left the prefix: {page.url}"
    assert "token=" not in page.url
    page.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )


def type_and_see(page: Any, session: str, word: str) -> None:
    page.keyboard.type(f"echo {word[:3]}''{word[3:]}\n")
    wait_for_screen(page, session, rf"(?m)^{word}$")


@needs_relative_client
def test_page_under_a_prefix_over_https_through_nginx(tab: Any, deploy: dict[str, Any]) -> None:
    """Story: https://host/term/?token=T opens the pane under /term/, typing works, the socket is wss under /term/."""
    nginx: Nginx = deploy["nginx"]
    deploy["tmux"].new_session("dp1")
    open_under_prefix(tab, nginx, "dp1")
    wait_for_state(tab, "dp1", "open")
    wait_for_screen(tab, "dp1", PROMPT_RE)
    type_and_see(tab, "dp1", "prefix-works")
    sockets = tab.livepane_record.websockets
    assert sockets and all(url.startswith(f"wss://127.0.0.1:{nginx.port}{PREFIX}ws/dp1?") for url in sockets), sockets


@needs_relative_client
def test_restart_behind_nginx_recovers(tab: Any, deploy: dict[str, Any]) -> None:
    """serve.py stops (nginx answers 502 meanwhile) and starts again: the pane reopens by itself."""
    nginx: Nginx = deploy["nginx"]
    public: ServeProcess = deploy["public"]
    deploy["tmux"].new_session("dp2")
    open_under_prefix(tab, nginx, "dp2")
    wait_for_state(tab, "dp2", "open")
    opens = stats(tab, "dp2")["opens"]
    public.stop()
    public.start()
    wait_until(lambda: stats(tab, "dp2")["opens"] > opens, 20, "the pane to reopen after the restart")
    wait_for_state(tab, "dp2", "open")
    type_and_see(tab, "dp2", "after-restart")


@needs_relative_client
def test_nginx_reload_recovers(tab: Any, deploy: dict[str, Any]) -> None:
    """``nginx -s reload`` with worker_shutdown_timeout 1s closes the old worker's sockets: the pane reopens."""
    nginx: Nginx = deploy["nginx"]
    deploy["tmux"].new_session("dp3")
    open_under_prefix(tab, nginx, "dp3")
    wait_for_state(tab, "dp3", "open")
    opens = stats(tab, "dp3")["opens"]
    nginx.reload()
    wait_until(lambda: stats(tab, "dp3")["opens"] > opens, 20, "the pane to reopen after nginx's reload")
    wait_for_state(tab, "dp3", "open")
    type_and_see(tab, "dp3", "after-reload")


def test_direct_tls_page_uses_wss_and_a_secure_cookie(tab: Any, trusting_browser: Any, deploy: dict[str, Any]) -> None:
    """serve.py --certfile/--keyfile, no proxy: the page over https, the socket over wss, the cookie Secure."""
    direct: ServeProcess = deploy["direct"]
    origin = f"https://127.0.0.1:{direct.port}"
    deploy["tmux"].new_session("dp5")
    tab.goto(f"{origin}/?token={TOKEN}&session=dp5")
    tab.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )
    wait_for_state(tab, "dp5", "open")
    wait_for_screen(tab, "dp5", PROMPT_RE)
    type_and_see(tab, "dp5", "over-tls")
    sockets = tab.livepane_record.websockets
    assert sockets and all(url.startswith(f"wss://127.0.0.1:{direct.port}/ws/dp5?") for url in sockets), sockets
    (cookie,) = [c for c in trusting_browser.cookies(origin) if c["name"] == COOKIE_NAME]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie


def test_a_refused_host_says_the_fix_in_the_caption(tab: Any, deploy: dict[str, Any]) -> None:
    """Behind ``proxy_set_header Host $host`` without --public-url the Origin check must refuse; the pane's caption
    says why and what to change in one line, never just "forbidden" or an endless "Connecting…"."""
    nginx: Nginx = deploy["nginx"]
    deploy["tmux"].new_session("dp4")
    open_under_prefix(tab, nginx, "dp4", PLAIN_PREFIX)
    caption = f"{pane_selector('dp4')} .caption-text"
    wait_until(
        lambda: all(fix in (tab.text_content(caption) or "") for fix in REFUSAL_FIXES),
        15,
        "the caption to name both fixes",
    )
    text = tab.text_content(caption)
    assert "\n" not in text.strip(), text
