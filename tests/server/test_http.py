"""HTTP surface: access flow, the session API, assets (templating, MIME types, cache headers), path containment."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
from pathlib import Path

import pytest
from yarl import URL

from livepane_server.assets import CACHE_IMMUTABLE, CONTENT_SECURITY_POLICY, VENDOR_PACKAGES, safe_join, snapshot_key
from livepane_server.auth import COOKIE_NAME, cookie_value_for

from .conftest import ROOT_DIR, TOKEN, TmuxServer, cookie_header, running_app

VERSIONS = {
    name: json.loads((ROOT_DIR / "web" / "node_modules" / name / "package.json").read_text())["version"]
    for name in VENDOR_PACKAGES
}
PYODIDE = f"/vendor/pyodide@{VERSIONS['pyodide']}"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A web/ and pyclient/ of our own (the real ones belong to other engineers), with traps in them."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET")
    (outside / "secret.py").write_text("SECRET = 1\n")
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    (web_dir / "index.html").write_text(
        '<script src="{{vendor:@xterm/xterm}}/lib/xterm.js"></script>{{vendor:pyodide}}/pyodide.mjs {{vendor:nope}}'
    )
    (web_dir / "pyscript.json").write_text('{"interpreter": "{{vendor:pyodide}}/pyodide.mjs"}')
    (web_dir / "app.css").write_text("body {}")
    (web_dir / ".hidden").write_text("dotfile")
    (web_dir / "escape.txt").symlink_to(outside / "secret.txt")
    (web_dir / "node_modules").symlink_to(ROOT_DIR / "web" / "node_modules")
    pyclient_dir = tmp_path / "pyclient"
    (pyclient_dir / "sub").mkdir(parents=True)
    (pyclient_dir / "pane.py").write_text("PANE = 1\n")
    (pyclient_dir / "sub" / "deep.py").write_text("DEEP = 1\n")
    (pyclient_dir / "notes.txt").write_text("not python")
    (pyclient_dir / "escape.py").symlink_to(outside / "secret.py")
    return {"web_dir": web_dir, "pyclient_dir": pyclient_dir}


async def raw_get(base_url: URL, path: str) -> tuple[int, bytes]:
    """GET with the request target exactly as given (no client-side normalisation or quoting)."""
    reader, writer = await asyncio.open_connection(base_url.host, base_url.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {base_url.host}:{base_url.port}\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# -- access -------------------------------------------------------------------------------------------------------


async def test_token_url_sets_cookie_and_redirects_without_token(tmux_server: TmuxServer, site: dict) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        async with client.http.get(client.url("/").with_query(token=TOKEN, x="1"), allow_redirects=False) as r:
            assert r.status == 303
            assert URL(r.headers["Location"]).query == {"x": "1"}
            cookie = r.cookies[COOKIE_NAME]
            assert cookie.value == cookie_value_for(TOKEN)
            assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        async with client.http.get(client.url("/"), headers={"Cookie": f"{COOKIE_NAME}={cookie.value}"}) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-cache"


async def test_token_link_followed_from_another_site_still_sets_a_usable_cookie(
    tmux_server: TmuxServer, site: dict
) -> None:
    # A SameSite=Strict cookie set by a response to a cross-site navigation is not sent on that navigation's
    # redirect: a 303 would land on 401. The server answers with a same-site refresh instead.
    async with running_app(tmux_server, **site) as (client, _):
        url = client.url("/").with_query(token=TOKEN, x="1")
        async with client.http.get(url, headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-store"
            assert r.cookies[COOKIE_NAME].value == cookie_value_for(TOKEN)
            body = await r.text()
        # Relative, like the 303: it stays under a proxy's path prefix (docs/deploy.md).
        assert '<meta http-equiv="refresh" content="0; url=./?x=1">' in body
        assert TOKEN not in body


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        pytest.param({"token": "wrong"}, {}, id="wrong-token"),
        pytest.param({}, {}, id="no-cookie"),
        pytest.param({}, {"Cookie": f"{COOKIE_NAME}=forged"}, id="forged-cookie"),
    ],
)
async def test_page_refused_without_access(tmux_server: TmuxServer, query: dict, headers: dict) -> None:
    async with running_app(tmux_server) as (client, _):
        url = client.url("/").with_query(query)
        response = await client.http.get(url, headers=headers, allow_redirects=False)
        assert response.status == 401
        assert "unauthorized" in await response.text()
        assert COOKIE_NAME not in response.cookies


async def test_page_is_templated_with_versioned_vendor_urls(tmux_server: TmuxServer, site: dict) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        async with client.http.get(client.url("/"), headers=cookie_header()) as r:
            body = await r.text()
            assert r.content_type == "text/html"
        # Relative to the page (served at /), so a proxy's path prefix needs no option (docs/deploy.md).
        assert f'src="./vendor/@xterm/xterm@{VERSIONS["@xterm/xterm"]}/lib/xterm.js"' in body
        assert f".{PYODIDE}/pyodide.mjs" in body
        assert "{{vendor:nope}}" in body  # unknown packages are left visible, not guessed
        async with client.http.get(client.url("/static/pyscript.json")) as r:
            assert r.headers["Cache-Control"] == "no-cache"
            assert r.content_type == "application/json"
            assert await r.json() == {"interpreter": f".{PYODIDE}/pyodide.mjs"}
            etag = r.headers["ETag"]
        async with client.http.get(client.url("/static/pyscript.json"), headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        # A browser holding several versions sends a list (RFC 9110 §13.1.2); any match, or "*", is not modified.
        for tags in (f'"stale", {etag}', f"W/{etag}", "*"):
            async with client.http.get(client.url("/static/pyscript.json"), headers={"If-None-Match": tags}) as r:
                assert r.status == 304, tags
        async with client.http.get(client.url("/static/pyscript.json"), headers={"If-None-Match": '"stale"'}) as r:
            assert r.status == 200


async def test_security_headers_on_every_response(tmux_server: TmuxServer, site: dict, session: str) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        for path, status in [("/", 401), ("/static/app.css", 200), ("/nope", 404), (f"{PYODIDE}/pyodide.mjs", 200)]:
            async with client.http.get(client.url(path)) as r:
                assert r.status == status, path
                assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                assert "'wasm-unsafe-eval'" in r.headers["Content-Security-Policy"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"


# -- session API --------------------------------------------------------------------------------------------------


async def test_ticket_endpoint(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server) as (client, _):
        url = client.url("/api/ticket")
        async with client.http.post(url, json={"session": "main"}, headers=cookie_header()) as r:
            assert r.status == 200
            body = await r.json()
            assert body["expires_in_s"] == 30 and isinstance(body["ticket"], str)
            assert r.headers["Cache-Control"] == "no-store"
        cases = [
            ({"session": "main"}, {}, 401),
            ({"session": "main"}, {"Cookie": f"{COOKIE_NAME}=x"}, 401),
            ({"session": "a b"}, cookie_header(), 400),
            ({"session": "main\n"}, cookie_header(), 400),
            ({"session": 5}, cookie_header(), 400),
            ({"nope": "main"}, cookie_header(), 400),
            ({"session": "main"}, {**cookie_header(), "Origin": "http://evil.example"}, 403),
            ({"session": "main"}, {**cookie_header(), "Origin": str(client.base_url).rstrip("/")}, 200),
        ]
        for body, headers, status in cases:
            async with client.http.post(url, json=body, headers=headers) as r:
                assert r.status == status, (body, headers)
                if status != 200:
                    text = await r.text()
                    assert text.endswith("\n") and text.count("\n") == 1, text
        async with client.http.post(url, data=b"{not json", headers=cookie_header()) as r:
            assert r.status == 400


async def test_sessions_list_and_create(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        async with client.http.get(client.url("/api/sessions"), headers=cookie_header()) as r:
            assert r.status == 200
            listing = await r.json()
        assert listing["default"] == "anchor"
        mine = next(s for s in listing["sessions"] if s["id"] == session)
        assert mine == {"id": session, "attached": 0, "width": 80, "height": 24, "alive": True}
        new_id = session + "-new"
        try:
            async with client.http.post(client.url(f"/api/sessions/{new_id}"), headers=cookie_header()) as r:
                assert r.status == 201
                assert await r.json() == {"id": new_id, "created": True}
            assert tmux_server.has_session(new_id)
            async with client.http.post(client.url(f"/api/sessions/{new_id}"), headers=cookie_header()) as r:
                assert r.status == 200
                assert await r.json() == {"id": new_id, "created": False}
        finally:
            tmux_server.run("kill-session", "-t", f"={new_id}", check=False)
        refusals = [
            ("/api/sessions/bad.id", cookie_header(), 400),
            (f"/api/sessions/{new_id}", {}, 401),
            (f"/api/sessions/{new_id}", {**cookie_header(), "Origin": "http://evil.example"}, 403),
        ]
        for path, headers, status in refusals:
            async with client.http.post(client.url(path), headers=headers) as r:
                assert r.status == status, path
        assert not tmux_server.has_session(new_id)
        async with client.http.get(client.url("/api/sessions")) as r:
            assert r.status == 401


# -- assets -------------------------------------------------------------------------------------------------------

ASSETS = [
    (f"{PYODIDE}/pyodide.asm.wasm", "application/wasm"),
    (f"{PYODIDE}/pyodide.mjs", "text/javascript"),
    (f"{PYODIDE}/pyodide-lock.json", "application/json"),
    (f"{PYODIDE}/python_stdlib.zip", "application/zip"),
    (f"/vendor/@pyscript/core@{VERSIONS['@pyscript/core']}/dist/core.js", "text/javascript"),
    (f"/vendor/@pyscript/core@{VERSIONS['@pyscript/core']}/dist/core.css", "text/css"),
    (f"/vendor/@xterm/xterm@{VERSIONS['@xterm/xterm']}/css/xterm.css", "text/css"),
    (f"/vendor/@xterm/addon-fit@{VERSIONS['@xterm/addon-fit']}/lib/addon-fit.js", "text/javascript"),
    (f"/vendor/@xterm/addon-web-links@{VERSIONS['@xterm/addon-web-links']}/package.json", "application/json"),
    (f"/vendor/@xterm/addon-webgl@{VERSIONS['@xterm/addon-webgl']}/package.json", "application/json"),
]


async def test_vendor_assets_types_and_immutable_caching(tmux_server: TmuxServer, site: dict) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        for path, mime in ASSETS:
            async with client.http.get(client.url(path)) as r:
                assert r.status == 200, path
                assert r.content_type == mime, path
                assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", path
        async with client.http.get(client.url(f"{PYODIDE}/pyodide.asm.wasm")) as r:
            body = await r.read()
        assert body == (ROOT_DIR / "web/node_modules/pyodide/pyodide.asm.wasm").read_bytes()


async def test_pyclient_and_static_files_revalidate(tmux_server: TmuxServer, site: dict) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        for path, mime in [("/pyclient/pane.py", "text/plain"), ("/pyclient/sub/deep.py", "text/plain")]:
            async with client.http.get(client.url(path)) as r:
                assert r.status == 200 and r.content_type == mime
                assert r.headers["Cache-Control"] == "no-cache"
                assert "Last-Modified" in r.headers
                etag = r.headers["ETag"]
            async with client.http.get(client.url(path), headers={"If-None-Match": etag}) as r:
                assert r.status == 304
        async with client.http.get(client.url("/static/app.css")) as r:
            assert r.status == 200 and r.content_type == "text/css" and r.headers["Cache-Control"] == "no-cache"


NOT_FOUND = [
    "/vendor/pyodide@0.0.1/pyodide.mjs",  # wrong version
    "/vendor/pyodide/pyodide.mjs",  # no version
    f"/vendor/left-pad@{VERSIONS['pyodide']}/index.js",  # not allowlisted
    f"{PYODIDE}/",
    f"{PYODIDE}/../../../serve.py",
    f"{PYODIDE}/%2e%2e/%2e%2e/%2e%2e/serve.py",
    f"{PYODIDE}/..%2f..%2f..%2fserve.py",
    f"{PYODIDE}/%2E%2E%2F%2E%2E%2F%2E%2E%2Fserve.py",
    f"{PYODIDE}//etc/passwd",
    f"{PYODIDE}/%2fetc%2fpasswd",
    f"{PYODIDE}/..\\..\\..\\serve.py",
    "/static/../serve.py",
    "/static/%2e%2e/serve.py",
    "/static/..%2fserve.py",
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/escape.txt",  # symlink out of web/
    "/static/.hidden",
    "/static/node_modules/pyodide/package.json",  # vendor files only at versioned URLs
    "/static/index.html",  # the page only at `/`, where it needs the cookie
    "/static/%00",
    "/pyclient/escape.py",  # symlink out of pyclient/
    "/pyclient/notes.txt",  # only .py
    "/pyclient/../serve.py",
    "/pyclient/%2e%2e/serve.py",
    "/pyclient/..%2fserve.py",
    "/pyclient/%2Fetc%2Fpasswd",
    "/pyclient/sub/../../serve.py",
    "/nope",
]


async def test_no_path_escapes_its_folder(tmux_server: TmuxServer, site: dict) -> None:
    async with running_app(tmux_server, **site) as (client, _):
        for path in NOT_FOUND:
            status, body = await raw_get(client.base_url, path)
            assert status == 404, (path, status)
            assert b"SECRET" not in body and b"import" not in body, path
        # The checks above are not vacuous: the same files by legitimate paths are served.
        assert (await raw_get(client.base_url, f"{PYODIDE}/pyodide.mjs"))[0] == 200
        assert (await raw_get(client.base_url, "/pyclient/pane.py"))[0] == 200


def test_safe_join_refuses_everything_odd(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("ok")
    (tmp_path / "outside.txt").write_text("no")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "inner").symlink_to(root / "ok.txt")
    assert safe_join(root, "ok.txt") == (root / "ok.txt").resolve()
    assert safe_join(root, "inner") == (root / "ok.txt").resolve()  # a symlink inside is fine
    for bad in ["../outside.txt", "/etc/passwd", "link.txt", "", ".", "a//b", "ok.txt/", "..\\x", "x\x00", "missing"]:
        assert safe_join(root, bad) is None, bad


async def test_the_memory_snapshot_is_offered_only_while_it_matches_pyclient(
    tmux_server: TmuxServer, site: dict
) -> None:
    web_dir, pyclient_dir = site["web_dir"], site["pyclient_dir"]
    (web_dir / "pyscript.json").write_text('{"interpreter": "/static/pyodide-snap.mjs?snap={{snapshot}}"}')
    (web_dir / "snapshot").mkdir()
    (web_dir / "snapshot" / "pyclient.bin").write_bytes(b"SNAPSHOT")
    key = snapshot_key(web_dir, pyclient_dir)
    (web_dir / "snapshot" / "pyclient.key").write_text(key + "\n")

    async def offered() -> str:
        async with client.http.get(client.url("/static/pyscript.json")) as r:
            return json.loads(await r.text())["interpreter"].partition("snap=")[2]

    async with running_app(tmux_server, **site) as (client, _):
        url = await offered()
        assert url == f"./static/snapshot/pyclient.bin?key={key}"
        async with client.http.get(client.url("/").join(URL(url))) as r:
            assert r.status == 200 and await r.read() == b"SNAPSHOT"
            assert r.headers["Cache-Control"] == CACHE_IMMUTABLE
        for wrong in ("/static/snapshot/pyclient.bin", "/static/snapshot/pyclient.bin?key=0123456789abcdef"):
            async with client.http.get(client.base_url.join(URL(wrong))) as r:
                assert r.status == 404, wrong

        (pyclient_dir / "pane.py").write_text("PANE = 2\n")  # pyclient changed: the snapshot is stale
        assert await offered() == ""  # the page boots without it
        async with client.http.get(client.base_url.join(URL(url))) as r:
            assert r.status == 404


async def test_static_and_client_files_are_immutable_at_their_current_version_only(
    tmux_server: TmuxServer, site: dict
) -> None:
    """`{{version:PATH}}` is the content hash of what the URL serves: with it (`?v=`) the file is cached for good, and
    an edit changes the URL the page names; an old or made-up `?v=` still gets the current file, revalidated."""
    web_dir, pyclient_dir = site["web_dir"], site["pyclient_dir"]
    (web_dir / "index.html").write_text(
        '<link rel="stylesheet" href="./static/app.css?v={{version:static/app.css}}">'
        '<script type="py" config="./static/pyscript.json?v={{version:static/pyscript.json}}"></script>'
        "{{version:static/missing.css}} {{version:elsewhere/x}}"
    )

    async def page() -> str:
        async with client.http.get(client.url("/"), headers=cookie_header()) as r:
            assert r.status == 200
            return await r.text()

    async def cache_control(url: str) -> str:
        async with client.http.get(client.url("/").join(URL(url))) as r:
            assert r.status == 200, url
            return r.headers["Cache-Control"]

    async with running_app(tmux_server, **site) as (client, _):
        body = await page()
        css = re.search(r'href="([^"]+)"', body).group(1)
        config = re.search(r'config="([^"]+)"', body).group(1)
        assert re.fullmatch(r"\./static/app\.css\?v=[0-9a-f]{16}", css), css
        assert "{{version:static/missing.css}} {{version:elsewhere/x}}" in body  # left visible, not guessed
        for url in (css, config):
            assert await cache_control(url) == CACHE_IMMUTABLE, url
        for stale in ("./static/app.css", "./static/app.css?v=0123456789abcdef", "./static/pyscript.json?v=x"):
            assert await cache_control(stale) == "no-cache", stale

        (web_dir / "app.css").write_text("body { color: red }")  # an edit: a new URL, the old one revalidates
        new_css = re.search(r'href="([^"]+)"', await page()).group(1)
        assert new_css != css
        assert await cache_control(new_css) == CACHE_IMMUTABLE
        assert await cache_control(css) == "no-cache"

        # pyscript.json's "files" get their ?v= from the server; a client edit changes them, and the config's own.
        (web_dir / "pyscript.json").write_text('{"files": {"../pyclient/pane.py": "./pyclient/pane.py"}}')
        config = re.search(r'config="([^"]+)"', await page()).group(1)
        async with client.http.get(client.url("/").join(URL(config))) as r:
            [source] = (await r.json())["files"]
        assert re.fullmatch(r"\.\./pyclient/pane\.py\?v=[0-9a-f]{16}", source), source
        assert await cache_control("./pyclient/pane.py?" + source.partition("?")[2]) == CACHE_IMMUTABLE
        (pyclient_dir / "pane.py").write_text("PANE = 2\n")
        assert await cache_control("./pyclient/pane.py?" + source.partition("?")[2]) == "no-cache"
        new_config = re.search(r'config="([^"]+)"', await page()).group(1)
        assert new_config != config
        async with client.http.get(client.url("/").join(URL(new_config))) as r:
            assert (await r.json())["files"] != {source: "./pyclient/pane.py"}


async def test_the_page_preloads_the_configs_files_and_imports_its_interpreter(
    tmux_server: TmuxServer, site: dict
) -> None:
    """{{interpreter}} is pyscript.json's "interpreter" as served (one URL: one module, one boot);
    {{preload-files}} a preload per "files" entry, relative to the page; {{snapshot}} empty without one."""
    web_dir = site["web_dir"]
    (web_dir / "pyscript.json").write_text(
        '{"interpreter": "./static/boot.mjs?v={{version:static/app.css}}&snap={{snapshot}}",'
        ' "files": {"../pyclient/pane.py": "./pyclient/pane.py", "/elsewhere.py": "./x.py"}}'
    )
    (web_dir / "index.html").write_text('<script type="module" async src="{{interpreter}}"></script>\n'
                                        "{{preload-files}}\n[{{snapshot}}]")
    async with running_app(tmux_server, **site) as (client, _):
        async with client.http.get(client.url("/"), headers=cookie_header()) as r:
            body = await r.text()
        async with client.http.get(client.url("/static/pyscript.json")) as r:
            config = await r.json()
    assert f'src="{html.escape(config["interpreter"])}"' in body
    [source] = [s for s in config["files"] if s.startswith("../pyclient/")]
    assert f'<link rel="preload" as="fetch" crossorigin href="./pyclient/pane.py?{source.partition("?")[2]}">' in body
    assert "elsewhere" not in body  # not relative to the config: nothing to preload under a path prefix
    assert "[]" in body  # no snapshot here


async def test_the_page_inlines_its_first_scripts_and_its_policy_allows_exactly_their_text(
    tmux_server: TmuxServer, site: dict
) -> None:
    """{{inline:static/NAME.js}} is the file's text, byte for byte, and the page's policy names its sha256 in
    script-src (and nothing else is loosened); a file that could end its <script> element, holds a placeholder or is
    missing is left out. Other responses keep the plain policy."""
    web_dir = site["web_dir"]
    (web_dir / "first.js").write_text('"use strict";\nglobalThis.first = 1 < 2 && "é";\n')
    (web_dir / "ends.js").write_text('console.log("</SCRIPT><script>alert(1)");\n')
    (web_dir / "templated.js").write_text('const x = "{{preview}}";\n')
    (web_dir / "escape.js").symlink_to(web_dir.parent / "outside" / "secret.txt")
    (web_dir / "index.html").write_text(
        "<script>{{inline:static/first.js}}</script><script>{{inline:static/ends.js}}</script>"
        "<script>{{inline:static/templated.js}}</script><script>{{inline:static/missing.js}}</script>"
        "<script>{{inline:static/escape.js}}</script>"
    )
    async with running_app(tmux_server, **site) as (client, _):
        async with client.http.get(client.url("/"), headers=cookie_header()) as r:
            body, policy = await r.text(), r.headers["Content-Security-Policy"]
        async with client.http.get(client.url("/static/app.css")) as r:
            assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    first = (web_dir / "first.js").read_text()
    assert body == f"<script>{first}</script>" + "<script></script>" * 4, body
    digest = base64.b64encode(hashlib.sha256(first.encode()).digest()).decode()
    assert policy == CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' 'sha256-{digest}'")
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "SECRET" not in body and "alert" not in body


def pyodide_unlike_the_pinned(web_dir: Path) -> None:
    """web_dir's node_modules as the real one, but with a pyodide.asm.mjs the classic rewrite no longer fits (as a
    Pyodide update might ship); the other packages linked to the real ones."""
    real = ROOT_DIR / "web" / "node_modules"
    (web_dir / "node_modules").unlink()
    for package in real.iterdir():
        if package.name.startswith("@") or package.name == "pyodide":
            continue
        (web_dir / "node_modules" / package.name).parent.mkdir(exist_ok=True)
        (web_dir / "node_modules" / package.name).symlink_to(package)
    for scope in real.glob("@*"):
        (web_dir / "node_modules" / scope.name).symlink_to(scope)
    pyodide = web_dir / "node_modules" / "pyodide"
    pyodide.mkdir()
    (pyodide / "package.json").write_bytes((real / "pyodide" / "package.json").read_bytes())
    text = (real / "pyodide" / "pyodide.asm.mjs").read_text()
    (pyodide / "pyodide.asm.mjs").write_text(text.replace("export default _createPyodideModule;",
                                                          "export { _createPyodideModule as default };"))


CLASSIC_TAG = f'<script async id="livepane-pyodide-asm" src=".{PYODIDE}/pyodide.asm.classic.js"></script>'


@pytest.mark.parametrize("fits", [True, False], ids=["pinned", "unlike-the-pinned"])
async def test_the_page_names_pyodides_classic_copy_only_when_there_is_one(
        tmux_server: TmuxServer, site: dict, fits: bool) -> None:
    """{{pyodide-classic}} is the classic copy's <script> while the rewrite fits pyodide.asm.mjs; else nothing, so
    the page never asks for a 404 on every load (web/pyodide-snap.mjs then imports the module), and the copy's URL
    is a clear 404."""
    (site["web_dir"] / "index.html").write_text("<head>{{pyodide-classic}}</head>")
    if not fits:
        pyodide_unlike_the_pinned(site["web_dir"])
    async with running_app(tmux_server, **site) as (client, _):
        async with client.http.get(client.url("/"), headers=cookie_header()) as r:
            assert r.status == 200
            body = await r.text()
        async with client.http.get(client.url(f"{PYODIDE}/pyodide.asm.classic.js")) as r:
            status, text = r.status, await r.text()
            headers = r.headers
    if fits:
        assert body == f"<head>{CLASSIC_TAG}</head>"
        assert status == 200 and text.startswith("//# allFunctionsCalledOnLoad\n")
        assert headers["Cache-Control"] == CACHE_IMMUTABLE
    else:
        assert body == "<head></head>"
        assert status == 404 and "no classic copy" in text


async def test_the_page_is_templated_again_only_when_a_file_it_is_made_from_changed(
        tmux_server: TmuxServer, site: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Templating the page reads ~70 files (~13 ms of CPU on every load, on the first paint's path): it is kept while
    the stat of every file under web/ (not node_modules/) and pyclient/ stays the same, and made again at once when
    one changes, or appears."""
    web_dir, pyclient_dir = site["web_dir"], site["pyclient_dir"]
    (web_dir / "index.html").write_text("{{version:static/app.css}} {{version:pyclient/pane.py}} {{snapshot}}")
    async with running_app(tmux_server, **site) as (client, server):
        made: list[str] = []
        template = server.assets.template
        monkeypatch.setattr(server.assets, "template", lambda text, **kw: made.append(text) or template(text, **kw))

        async def page() -> str:
            async with client.http.get(client.url("/"), headers=cookie_header()) as r:
                assert r.status == 200
                return await r.text()

        first = await page()
        assert await page() == first and len([t for t in made if t.startswith("{{version")]) == 1
        (pyclient_dir / "pane.py").write_text("PANE = 2  # edited\n")
        second = await page()
        assert second.split()[0] == first.split()[0] and second.split()[1] != first.split()[1]
        (web_dir / "app.css").write_text("body { color: red }")
        third = await page()
        assert third.split()[0] != second.split()[0]
        (web_dir / "snapshot").mkdir()  # a file that was not there: a snapshot made meanwhile
        (web_dir / "snapshot" / "pyclient.key").write_text(snapshot_key(web_dir, pyclient_dir) + "\n")
        (web_dir / "snapshot" / "pyclient.bin").write_bytes(b"snapshot")
        fourth = await page()
        assert len(third.split()) == 2 and len(fourth.split()) == 3 and "pyclient.bin?key=" in fourth
        assert len([t for t in made if t.startswith("{{version")]) == 4
