"""A static server for boot-time experiments that do not need tmux or serve.py.

It mirrors serve.py's asset contract (``/vendor/PKG@VERSION/...`` from web/node_modules with immutable caching,
``/static/...`` from web/, ``/pyclient/...``, ``{{vendor:PKG}}`` templating of html/json) so a bench page behaves
the same under either server, and adds what only experiments need:

- ``--cache none`` serves everything with ``no-store``, to measure what the cache headers are worth;
- ``PUT``/``GET /lab/blob/NAME`` keeps a blob in memory (a Pyodide memory snapshot made by one page load and
  restored by the next), served with ``application/octet-stream`` and immutable caching under a versioned name.

Run: ``python bench/lab_server.py --port 8790`` (bench/run.py starts and stops it itself).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "web" / "node_modules"
IMMUTABLE = "public, max-age=31536000, immutable"  # versioned URLs never change
VENDOR_RE = re.compile(r"\{\{vendor:([@A-Za-z0-9_./-]+)\}\}")

mimetypes.add_type("application/wasm", ".wasm")  # Pyodide refuses to stream-compile anything else
mimetypes.add_type("text/javascript", ".mjs")


def inside(base: Path, relative: str) -> Path:
    """base/relative without leaving base by '..' (symlinks inside base are followed: variants link web/bench)."""
    parts = Path(relative).parts
    if ".." in parts or Path(relative).is_absolute():
        raise web.HTTPNotFound(text="outside the served tree")
    return base / relative


def package_version(pkg: str) -> str:
    return json.loads((NODE_MODULES / pkg / "package.json").read_text())["version"]


def render_vendor(text: str) -> str:
    return VENDOR_RE.sub(lambda m: f"/vendor/{m.group(1)}@{package_version(m.group(1))}", text)


def make_app(cache: str, root: Path = ROOT) -> web.Application:
    blobs: dict[str, bytes] = {}

    def cache_header(immutable: bool) -> str:
        if cache == "none":
            return "no-store"
        return IMMUTABLE if immutable else "no-cache"

    def file_response(path: Path, immutable: bool) -> web.StreamResponse:
        if not path.is_file():
            raise web.HTTPNotFound(text="not found")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in (".html", ".json") and not immutable:
            body = render_vendor(path.read_text()).encode()
            return web.Response(body=body, content_type=ctype, headers={"Cache-Control": cache_header(False)})
        resp = web.FileResponse(path, headers={"Cache-Control": cache_header(immutable), "Content-Type": ctype})
        return resp

    async def vendor(request: web.Request) -> web.StreamResponse:
        spec, rest = request.match_info["spec"], request.match_info["rest"]
        pkg, _, version = spec.rpartition("@")
        if not pkg or version != package_version(pkg):
            raise web.HTTPNotFound(text="unknown package or version")
        return file_response(inside(NODE_MODULES / pkg, rest), immutable=True)

    async def static(request: web.Request) -> web.StreamResponse:
        if request.match_info["rest"].startswith("node_modules"):
            raise web.HTTPNotFound(text="not served")
        return file_response(inside(root / "web", request.match_info["rest"]), immutable=False)

    async def pyclient(request: web.Request) -> web.StreamResponse:
        return file_response(inside(root / "pyclient", request.match_info["rest"]), immutable=False)

    async def blob_put(request: web.Request) -> web.Response:
        blobs[request.match_info["name"]] = await request.read()
        return web.Response(status=204)

    async def blob_get(request: web.Request) -> web.Response:
        data = blobs.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound(text="no such blob")
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={"Cache-Control": cache_header(True)})

    app = web.Application(client_max_size=512 * 1024 * 1024)
    app.router.add_get("/vendor/{spec:[^/]+(/[^/@]+)?@[^/]+}/{rest:.+}", vendor)
    app.router.add_get("/static/{rest:.+}", static)
    app.router.add_get("/pyclient/{rest:.+}", pyclient)
    app.router.add_put("/lab/blob/{name}", blob_put)
    app.router.add_get("/lab/blob/{name}", blob_get)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8790)
    ap.add_argument("--cache", choices=["immutable", "none"], default="immutable")
    ap.add_argument("--root", type=Path, default=ROOT, help="tree holding web/ and pyclient/ (a bench variant)")
    args = ap.parse_args()
    web.run_app(make_app(args.cache, args.root), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
