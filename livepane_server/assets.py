"""The page, the pinned web assets (`/vendor/PKG@VERSION/...`, immutable), the client package and web/'s files.

Rules:
- No path leaves its folder (safe_join), also through a symlink; types are explicit (MIME_TYPES).
- Only index.html and pyscript.json are templated (PLACEHOLDERS below; index.html's {{preview}} and {{preview-panes}}
  by app.py's page, in one pass after the others);
  everything else is served byte for byte, with FileResponse's ETag and ranges.
- A /static/ or /pyclient/ URL that carries `?v=` with the content hash of what it serves (`{{version:PATH}}`) is
  immutable: a warm page load then asks the server for nothing but the page. Without it, or with a stale hash, it
  revalidates (ETag) as before, so an old page still gets the current file.
- A page that carries a preview is `no-store`, without an ETag, never a 304: it holds one user's screens and tickets.
- index.html's {{inline:static/NAME.js}} is that file's text, byte for byte, and the page's policy allows exactly
  that text (its sha256 in script-src); a file that could end its <script> element, or that holds a placeholder,
  is not inlined (logged). No other inline script runs.
- A stale Pyodide snapshot is never offered nor served (snapshot_key).
- Every URL templated into a page is relative to the page (`./vendor/...`, `./static/...`), never from the root: the
  page then works under whatever path prefix a reverse proxy strips (docs/deploy.md), without being told it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import posixpath
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from aiohttp import web

from livepane_server import pyodide_classic

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
VERSION_PLACEHOLDER_RE = re.compile(r"\{\{version:([^}\s]+)\}\}")
INLINE_PLACEHOLDER_RE = re.compile(r"\{\{inline:(static/[^}\s]+\.js)\}\}")
# What an inlined script must not hold: the end of its element (or a comment start, after which a later `</script>`
# may not end it), or a placeholder (the page's preview fill runs after the inlining).
INLINE_UNSAFE_RE = re.compile(r"</script|<!--|\{\{", re.I)
# What the templated files may say (each URL relative to the page, or for pyscript.json's "files" to the config):
#   {{vendor:PKG}}       ./vendor/PKG@VERSION (immutable)
#   {{snapshot}}         the Pyodide snapshot's keyed URL, or "" when there is none for this pyclient
#   {{version:PATH}}     the content hash of static/... or pyclient/... as served: `?v=` with it makes the URL immutable
#   {{interpreter}}      (index.html) pyscript.json's "interpreter" as served: the page imports that module early
#   {{preload-files}}    (index.html) a <link rel="preload"> for each of pyscript.json's "files"
#   {{pyodide-classic}}  (index.html) the <script> of Pyodide's classic copy (livepane_server/pyodide_classic.py),
#                        or nothing when the pinned pyodide.asm.mjs no longer fits its rewrite (the page then
#                        imports the module)
#   {{inline:PATH}}      (index.html, inside a <script>) the text of static/... (a .js file), for the scripts that
#                        run before the first paint: inline, the parser does not wait for their reads from the cache,
#                        queued behind the boot's ~30 MB (warm first paint 244 vs 292 ms and 386 vs 560 in two A/Bs)
TEMPLATED_FILES = ("index.html", "pyscript.json")
# The configuration PyScript reads (index.html names it in its <script type="py">); {{interpreter}} and
# {{preload-files}} read it, templated.
PYSCRIPT_CONFIG = "pyscript.json"
# Hex digits of sha256 in a `?v=` version: 64 bits, ample against an accidental match between two edits of a file.
VERSION_DIGITS = 16
# Pyodide's memory snapshot with pyclient imported (`make snapshot`): it cuts the interpreter start from ~3 s to ~0.5 s
# (docs/benchmarks.md). pyclient.key holds the snapshot_key() it was made for; a stale one is never served.
SNAPSHOT_FILE = "snapshot/pyclient.bin"
# index.html's <script> of Pyodide's classic copy: the id web/boot-fetch.js and web/pyodide-snap.mjs look for.
CLASSIC_PLACEHOLDER = "{{pyodide-classic}}"
CLASSIC_SCRIPT_ID = "livepane-pyodide-asm"
# Where index.html carries the page's preview element (livepane_server/preview.py) and the previewed panes' HTML (in
# #panes, before the pane template); empty without them. Filled after the other placeholders and in one pass, so
# nothing on a screen is ever templated (a screen showing "{{preview}}" stays text).
PREVIEW_PLACEHOLDER = "{{preview}}"
PANES_PLACEHOLDER = "{{preview-panes}}"
PREVIEW_PLACEHOLDERS_RE = re.compile(r"\{\{preview(?:-panes)?\}\}")
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
SCRIPT_SRC = "script-src 'self'"


def policy_with_scripts(digests: tuple[str, ...]) -> str:
    """CONTENT_SECURITY_POLICY allowing also the inline scripts whose sha256 digests (base64) are given."""
    if not digests:
        return CONTENT_SECURITY_POLICY
    allowed = " ".join(f"'sha256-{digest}'" for digest in digests)
    return CONTENT_SECURITY_POLICY.replace(SCRIPT_SRC, f"{SCRIPT_SRC} {allowed}", 1)


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Versioned vendor URLs never change: the browser keeps the 9.6 MB pyodide.asm.wasm for a year.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
# The page, and a static or client file asked for without its current `?v=`: revalidate (ETag) on every load.
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


def preload_link(href: str) -> str:
    """A preload that a plain `fetch(href)` uses: `as="fetch"` with `crossorigin` (CORS mode, same-origin credentials,
    as fetch() asks by default); without crossorigin Chromium fetches the file twice."""
    return f'<link rel="preload" as="fetch" crossorigin href="{html.escape(href, quote=True)}">'


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
        self._file_versions: dict[Path, tuple[tuple[int, int, int], str]] = {}  # path -> (stat stamp, version)
        self._classic_asm: bytes | bool | None = False  # False: not derived yet; None: the rewrite does not apply
        self._page: tuple[object, tuple[str, tuple[str, ...]]] | None = None  # (sources, the page templated)

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

    def template(self, text: str, *, nested: bool = False) -> str:
        """The text with its placeholders filled in; an unknown one is left as is (and logged once).

        ``nested``: templating pyscript.json for a placeholder of index.html; its own {{interpreter}} and
        {{preload-files}} would be circular, so they are left as is.
        """

        def vendor(match: re.Match[str]) -> str:
            package = match.group(1)
            if package not in self.versions:
                self._warn_once(match.group(0))
                return match.group(0)
            return self.vendor_prefix(package)

        def version(match: re.Match[str]) -> str:
            value = self.version_of(match.group(1))
            if value is None:
                self._warn_once(match.group(0))
                return match.group(0)
            return value

        text = VENDOR_PLACEHOLDER_RE.sub(vendor, text)
        text = VERSION_PLACEHOLDER_RE.sub(version, text)
        if "{{snapshot}}" in text:  # hashing pyclient for the key only where the page asks for it
            text = text.replace("{{snapshot}}", self.snapshot_url())
        if not nested and CLASSIC_PLACEHOLDER in text:
            text = text.replace(CLASSIC_PLACEHOLDER, self.classic_script())
        if not nested and ("{{interpreter}}" in text or "{{preload-files}}" in text):
            config = self.pyscript_config()
            text = text.replace("{{interpreter}}", html.escape(str(config.get("interpreter", "")), quote=True))
            text = text.replace("{{preload-files}}", self.preload_files(config))
        return text

    def inline_scripts(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The text with each {{inline:static/NAME.js}} replaced by that file's text, and the sha256 (base64) of each
        text inlined; a missing or unsafe file (INLINE_UNSAFE_RE) leaves nothing in its place (logged once)."""
        digests: list[str] = []

        def inline(match: re.Match[str]) -> str:
            path = safe_join(self.web_dir, match.group(1).removeprefix("static/"))
            try:
                script = path.read_text(encoding="utf-8") if path is not None else None
            except OSError:
                script = None
            if script is None or INLINE_UNSAFE_RE.search(script):
                if match.group(0) not in self._warned:
                    self._warned.add(match.group(0))
                    log.warning("%s left out: no such file, or it could end its <script> element", match.group(0))
                return ""
            digests.append(base64.b64encode(hashlib.sha256(script.encode()).digest()).decode())
            return script

        return INLINE_PLACEHOLDER_RE.sub(inline, text), tuple(dict.fromkeys(digests))

    def _warn_once(self, placeholder: str) -> None:
        if placeholder not in self._warned:  # once, not on every page load
            self._warned.add(placeholder)
            log.warning("unknown placeholder %s left as is", placeholder)

    def render_static(self, relative: str, *, nested: bool = False) -> str:
        """A templated file of web/ as served: templated, and for pyscript.json each of its "files" under ./static/
        or ./pyclient/ given its `?v=` (so a client module added to the list is versioned without saying so)."""
        text = self.template((self.web_dir / relative).read_text(encoding="utf-8"), nested=nested)
        if relative != PYSCRIPT_CONFIG:
            return text
        try:
            config = json.loads(text)
        except ValueError:
            return text  # served as it is: PyScript will say what is wrong with it
        files = config.get("files") if isinstance(config, dict) else None
        if not isinstance(files, dict):
            return text
        config["files"] = {self._versioned_source(str(source)): target for source, target in files.items()}
        return json.dumps(config, indent=2) + "\n"

    def _versioned_source(self, source: str) -> str:
        """A "files" source (relative to ./static/pyscript.json) with `?v=` added, if it is ours and has no query."""
        if "?" in source or "#" in source or source.startswith("/") or "://" in source:
            return source
        relative = posixpath.normpath(posixpath.join("static", source))
        version = self.version_of(relative) if relative.split("/", 1)[0] in ("static", "pyclient") else None
        return source if version is None else f"{source}?v={version}"

    def pyscript_config(self) -> dict:
        """pyscript.json as served; {} when it is missing or not JSON."""
        try:
            config = json.loads(self.render_static(PYSCRIPT_CONFIG, nested=True))
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}

    @staticmethod
    def preload_files(config: dict) -> str:
        """A preload for each of the config's "files": PyScript fetches them (resolved against the config's URL,
        ./static/) right after Pyodide is up; preloaded, they are in memory by then. Relative to the page."""
        links = []
        for source in config.get("files") or {}:
            path, _, query = str(source).partition("?")
            if path.startswith("/") or "://" in path:
                continue  # not relative to the config: nothing a page under a path prefix could preload correctly
            relative = posixpath.normpath(posixpath.join("static", path))
            if relative.startswith("../"):
                continue
            links.append(preload_link("./" + relative + (f"?{query}" if query else "")))
        return "\n  ".join(links)

    def version_of(self, url_path: str) -> str | None:
        """The content hash for `?v=` of what `/static/...` or `/pyclient/...` serves; None if there is no such file.

        Templated files hash their templated text; other files are hashed once per (inode, size, mtime).
        """
        folder, _, relative = url_path.partition("/")
        if folder == "static" and relative in TEMPLATED_FILES:
            if relative == "index.html" or safe_join(self.web_dir, relative) is None:
                return None
            return self._digest(self.render_static(relative, nested=True).encode())
        if folder == "static":
            path = safe_join(self.web_dir, relative)
        elif folder == "pyclient":
            path = safe_join(self.pyclient_dir, relative)
        else:
            return None
        if path is None:
            return None
        stat = path.stat()
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._file_versions.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, self._digest(path.read_bytes()))
            self._file_versions[path] = cached
        return cached[1]

    @staticmethod
    def _digest(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()[:VERSION_DIGITS]

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

    def sources_stamp(self) -> tuple[tuple[str, tuple[int, ...] | None], ...]:
        """Every file a templated text can be made from, with its stat: web/'s own (not node_modules/: the pinned
        packages, read once, save Pyodide's package.json, part of the snapshot's key) and pyclient/'s. ~40 stats,
        where templating the page reads ~70 files and resolves ~110 paths (~13 ms of CPU on every page load)."""
        paths = [self.node_modules / "pyodide" / "package.json"]
        for root in (self.web_dir, self.pyclient_dir):
            for folder, folders, names in os.walk(root):
                folders[:] = sorted(f for f in folders if not (folder == str(self.web_dir) and f == "node_modules"))
                paths += [Path(folder, name) for name in sorted(names)]
        stamps = []
        for path in paths:
            try:
                stat = path.stat()
                stamps.append((str(path), (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)))
            except OSError:
                stamps.append((str(path), None))
        return tuple(stamps)

    def templated_page(self, text: str) -> tuple[str, tuple[str, ...]]:
        """``inline_scripts(template(text))``, made again only when the text or a file it may read changed."""
        sources = (text, self.sources_stamp())
        if self._page is None or self._page[0] != sources:
            self._page = (sources, self.inline_scripts(self.template(text)))
        return self._page[1]

    def templated_response(
        self, request: web.Request, text: str, content_type: str, preview: Mapping[str, str] | None = None
    ) -> web.Response:
        """The templated file; with a ``preview`` (livepane_server/preview.py: placeholder -> text) in its places, a
        page for this user and this moment: never stored, never answered with a 304 (nor an ETag another page could
        match)."""
        fills = preview or {}
        page, digests = self.templated_page(text)
        page = PREVIEW_PLACEHOLDERS_RE.sub(lambda match: fills.get(match.group(0), ""), page)
        response = self.text_response(request, page, content_type, personal=any(fills.values()))
        if digests:  # app.py's headers are defaults: this one stands
            response.headers["Content-Security-Policy"] = policy_with_scripts(digests)
        return response

    def text_response(self, request: web.Request, text: str, content_type: str,
                      *, versioned: bool = False, personal: bool = False) -> web.Response:
        """The text with its ETag; with ``versioned``, immutable when the request's `?v=` is the body's hash; a
        ``personal`` one (a page with a preview) is never stored and has no ETag."""
        body = text.encode()
        if personal:
            response = web.Response(body=body, headers={"Cache-Control": CACHE_NEVER})
        else:
            etag = hashlib.sha256(body).hexdigest()[:32]
            immutable = versioned and request.rel_url.query.get("v") == self._digest(body)
            headers = {"Cache-Control": CACHE_IMMUTABLE if immutable else CACHE_REVALIDATE}
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
        self, request: web.Request, preview: Callable[[str], Awaitable[Mapping[str, str]]] | None = None
    ) -> web.StreamResponse:
        """The page; ``preview`` makes this request's preview (app.py: given the page's text, its placeholders' fills;
        {} for none), asked only if the page has a place for it."""
        try:
            text = (self.web_dir / "index.html").read_text(encoding="utf-8")
        except FileNotFoundError:
            text = PLACEHOLDER_INDEX_HTML
        fills = await preview(text) if preview is not None and PREVIEW_PLACEHOLDER in text else {}
        return self.templated_response(request, text, MIME_TYPES[".html"], fills)

    async def static(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        if relative.split("/", 1)[0] == "node_modules" or relative == "index.html":
            # Vendor files only at versioned URLs; the page only at `/`, behind the token/cookie check.
            raise web.HTTPNotFound(text="not found\n")
        path = safe_join(self.web_dir, relative)
        if path is None:
            raise web.HTTPNotFound(text="not found\n")
        if relative in TEMPLATED_FILES:
            return self.text_response(request, self.render_static(relative), mime_type_for(path), versioned=True)
        if relative == SNAPSHOT_FILE:
            # Served only under the key snapshot_url() gives out, which changes with pyclient and Pyodide: a stale or
            # made-up key must not be cached for a year, and a stale snapshot must never be restored.
            if (key := self.snapshot_valid_key()) is None or request.rel_url.query.get("key") != key:
                raise web.HTTPNotFound(text="not found: no snapshot for this pyclient\n")
            return self.file_response(path, CACHE_IMMUTABLE)
        return self.file_response(path, self._cache_for(request, "static/" + relative))

    def _cache_for(self, request: web.Request, url_path: str) -> str:
        """Immutable when the request names the current content hash (`?v=`), else revalidate."""
        asked = request.rel_url.query.get("v")
        return CACHE_IMMUTABLE if asked is not None and asked == self.version_of(url_path) else CACHE_REVALIDATE

    async def pyclient(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        path = safe_join(self.pyclient_dir, relative)
        if path is None or path.suffix != ".py":
            raise web.HTTPNotFound(text="not found\n")
        return self.file_response(path, self._cache_for(request, "pyclient/" + relative))

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        spec = request.match_info["spec"]
        # Longest names first, so `@xterm/addon-fit` is never read as `@xterm/addon` + junk.
        for package in sorted(self.versions, key=len, reverse=True):
            if not spec.startswith(package + "@"):
                continue
            version, _, relative = spec[len(package) + 1 :].partition("/")
            if version != self.versions[package] or not relative:
                break
            if package == "pyodide" and relative == pyodide_classic.CLASSIC_NAME:
                return self.classic_pyodide_asm()
            path = safe_join(self.node_modules / package, relative)
            if path is None:
                break
            return self.file_response(path, CACHE_IMMUTABLE)
        raise web.HTTPNotFound(text="not found\n")

    def classic_asm(self) -> bytes | None:
        """pyodide.asm.mjs as a classic script (livepane_server/pyodide_classic.py), derived once from the pinned file;
        None (logged once) if the file is unreadable or the rewrite does not apply."""
        if self._classic_asm is False:
            try:
                module_text = (self.node_modules / "pyodide" / pyodide_classic.MODULE_NAME).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("pyodide.asm.mjs unreadable (%s): no classic copy, the page imports the module", exc)
                module_text = None
            classic = pyodide_classic.classic_asm(module_text) if module_text is not None else None
            self._classic_asm = classic.encode() if classic is not None else None  # encoded once, not per request
            if module_text is not None and self._classic_asm is None:
                log.warning("pyodide.asm.mjs no longer has the shape livepane_server/pyodide_classic.py rewrites: "
                            "the page imports it as a module (no code cache)")
        return self._classic_asm

    def classic_script(self) -> str:
        """index.html's {{pyodide-classic}}: the classic copy's async <script>, or nothing without a copy (so a page
        never asks for a 404; web/pyodide-snap.mjs imports the module when the element is absent)."""
        if "pyodide" not in self.versions or self.classic_asm() is None:
            return ""
        src = html.escape(f"{self.vendor_prefix('pyodide')}/{pyodide_classic.CLASSIC_NAME}", quote=True)
        return f'<script async id="{CLASSIC_SCRIPT_ID}" src="{src}"></script>'

    def classic_pyodide_asm(self) -> web.Response:
        """The classic copy's response (immutable: its URL is Pyodide's versioned folder), or a 404 without one."""
        if (body := self.classic_asm()) is None:
            raise web.HTTPNotFound(text="not found: no classic copy of pyodide.asm.mjs\n")
        return web.Response(body=body, content_type="text/javascript", charset="utf-8",
                            headers={"Cache-Control": CACHE_IMMUTABLE})

    @staticmethod
    def file_response(path: Path, cache_control: str) -> web.FileResponse:
        # FileResponse gives ETag, Last-Modified, conditional requests, ranges and sendfile.
        return web.FileResponse(path, headers={"Content-Type": mime_type_for(path), "Cache-Control": cache_control})
