"""The page, the pinned web assets (`/vendor/PKG@VERSION/...`, immutable), the client package and web/'s files.

Rules:
- No path leaves its folder (safe_join), also through a symlink; types are explicit (MIME_TYPES).
- Only index.html and pyscript.json are templated ({{vendor:PKG}}, {{snapshot}}; index.html's {{preview}} by app.py's
  page); everything else is served byte for byte, with FileResponse's ETag and ranges.
- A page that carries a preview is `no-store`, without an ETag, never a 304: it holds one user's screens and tickets.
- A stale Pyodide snapshot is never offered nor served (snapshot_key).
- Every URL templated into a page is relative to the page (`./vendor/...`, `./static/...`), never from the root: the
  page then works under whatever path prefix a reverse proxy strips (docs/deploy.md), without being told it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

log = logging.getLogger("livepane")

# The web packages served from web/node_modules, and the folder of each that the browser may read.
# @pyscript/core keeps its files under dist/; the path stays as in the package (`.../dist/core.js`).
VENDOR_PACKAGES = (
    "pyodide",
    "@pyscript/core",
    "@xterm/xterm",
    "@xterm/addon-fit",
    "@xterm/addon-web-links",
    "@xterm/addon-webgl",
    "@xterm/addon-unicode11",
    "@xterm/addon-unicode-graphemes",
    "@xterm/addon-clipboard",
)
VENDOR_PLACEHOLDER_RE = re.compile(r"\{\{vendor:([^}\s]+)\}\}")
# Files templated with {{vendor:PKG}} and {{snapshot}} (everything else is served byte for byte).
TEMPLATED_FILES = ("index.html", "pyscript.json")
# Pyodide's memory snapshot with pyclient imported (`make snapshot`): it cuts the interpreter start from ~3 s to ~0.5 s
# (docs/benchmarks.md). pyclient.key holds the snapshot_key() it was made for; a stale one is never served.
SNAPSHOT_FILE = "snapshot/pyclient.bin"
# Where index.html carries the page's preview element (livepane_server/preview.py); empty without one. Filled after
# the other placeholders, so nothing on a screen is ever templated.
PREVIEW_PLACEHOLDER = "{{preview}}"
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
        """The package's versioned folder, relative to the page (which is always served at the root, `/`)."""
        return f"./vendor/{package}@{self.versions[package]}"

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
        return "" if key is None else f"./static/{SNAPSHOT_FILE}?key={key}"

    def templated_response(
        self, request: web.Request, text: str, content_type: str, preview: str = ""
    ) -> web.Response:
        """The templated file; with a ``preview`` (livepane_server/preview.py) in its {{preview}} place, a page for
        this user and this moment: never stored, never answered with a 304 (nor an ETag another page could match)."""
        body = self.template(text).replace(PREVIEW_PLACEHOLDER, preview).encode()
        if preview:
            response = web.Response(body=body, headers={"Cache-Control": CACHE_NEVER})
        else:
            etag = hashlib.sha256(body).hexdigest()[:32]
            headers = {"Cache-Control": CACHE_REVALIDATE}
            if any(tag.value in (etag, "*") for tag in request.if_none_match or ()):
                response = web.Response(status=304, headers=headers)
                response.etag = etag
                return response
            response = web.Response(body=body, headers=headers)
            response.etag = etag
        response.content_type, _, _ = content_type.partition(";")
        if "charset=" in content_type:
            response.charset = content_type.rpartition("charset=")[2]
        return response

    async def index(
        self, request: web.Request, preview: Callable[[], Awaitable[str]] | None = None
    ) -> web.StreamResponse:
        """The page; ``preview`` makes this request's preview element (app.py; "" for none), asked only if the page
        has a place for it."""
        try:
            text = (self.web_dir / "index.html").read_text(encoding="utf-8")
        except FileNotFoundError:
            text = PLACEHOLDER_INDEX_HTML
        element = await preview() if preview is not None and PREVIEW_PLACEHOLDER in text else ""
        return self.templated_response(request, text, MIME_TYPES[".html"], element)

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
