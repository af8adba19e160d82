"""Time to first prompt, cold and warm, with its breakdown; and the boot-time variants (preload, memory snapshot).

A variant is a copy of the served tree (serve.py, web/ with an edited index.html / pyscript.json, pyclient/ linked)
under the bench's work folder, run by its own serve.py: the repository's files are never edited. Every load is a
new Chromium on a profile: a fresh one (cold) or one that already loaded the page (warm: disk cache and V8's code
cache, as when a user comes back the next day).

Breakdown, all from navigation start (the page's clock), read from Resource Timing, the probe (bench/probe.js) and
PyScript's events:
  placeholder  first contentful paint: the empty pane and its "Connecting…" caption, drawn before any script
  assets       responseEnd of the last of pyodide.asm.wasm, python_stdlib.zip, pyodide.asm.mjs, pyodide-lock.json
  interpreter  PyScript starts fetching its "files" (the pyclient modules): loadPyodide has resolved
  pyscript     py:ready (PyScript is about to run main.py)
  python       the first /api/ticket request (main.py imported pyclient and mounted the pane)
  socket       the socket is open;  output: its first output frame;  prompt: parsed into xterm's buffer;
  painted      the animation frame after that (what the user sees)
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import harness as H

COLLECT_JS = """(session) => {
  const B = window.__bench;
  const res = performance.getEntriesByType('resource').map((e) => ({
    name: e.name.replace(location.origin, ''), start: e.startTime, end: e.responseEnd, size: e.transferSize }));
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return { events: B.events, sockets: B.sockets.filter((s) => s.session === session),
           fetches: B.fetches, res, fcp: fcp ? fcp.startTime : null };
}"""

PHASES = ["placeholder", "assets", "interpreter", "pyscript", "python", "socket", "output", "prompt", "painted"]
ASSETS = ("pyodide.asm.wasm", "python_stdlib.zip", "pyodide.asm.mjs", "pyodide-lock.json")


def breakdown(data: dict[str, Any], session: str) -> dict[str, float | None]:
    res, ev = data["res"], data["events"]

    def first(pred: Any, key: str) -> float | None:
        values = [r[key] for r in res if pred(r["name"])]
        return min(values) if values else None

    assets = [r["end"] for r in res if r["name"].split("?")[0].rsplit("/", 1)[-1] in ASSETS]
    tickets = [f["start"] for f in data["fetches"] if "/api/ticket" in f["url"]]
    sockets = data["sockets"]
    return {
        "placeholder": data.get("fcp"),
        "assets": max(assets) if assets else None,
        "wasm_bytes_transferred": sum(r["size"] for r in res if r["name"].endswith("pyodide.asm.wasm")),
        "interpreter": first(lambda n: n.startswith("/pyclient/"), "start"),
        "pyscript": ev.get("py:ready"),
        "python": min(tickets) if tickets else None,
        "socket": sockets[0]["open"] if sockets else None,
        "output": sockets[0]["firstOutput"] if sockets else None,
        "prompt": ev.get(f"prompt:{session}"),
        "painted": ev.get(f"prompt-frame:{session}"),
    }


async def load_once(stack: H.Stack, profile: Path, session: str, query: str = "") -> dict[str, Any]:
    ctx = await stack.browser(profile=profile)
    try:
        page = await H.page_for(ctx)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)[:300]))
        await page.goto(f"{stack.base}/?session={session}{query}", wait_until="commit")
        await H.wait_js(page, f"window.__bench && window.__bench.events['prompt-frame:{session}']", 60)
        data = await page.evaluate(COLLECT_JS, session)
        out = breakdown(data, session)
        out["errors"] = errors
        return out
    finally:
        await stack.close_browser(ctx)


# ---------------------------------------------------------------------------------------------------------------------
# Variants of the served tree


def make_variant(workdir: Path, name: str, edit_index: Any = None, edit_config: Any = None,
                 extra: dict[str, bytes] | None = None, patch_pyclient: Any = None) -> Path:
    """A copy of serve.py + web/ (node_modules linked, pyclient linked) with index.html/pyscript.json
    edited by the given functions (text -> text) and extra files written under web/. With patch_pyclient
    ((filename, text) -> text), pyclient/ is a patched copy instead of a link."""
    root = workdir / f"variant-{name}"
    if root.exists():
        shutil.rmtree(root)
    (root / "web").mkdir(parents=True)
    shutil.copy2(H.ROOT / "serve.py", root / "serve.py")
    if patch_pyclient is None:
        (root / "pyclient").symlink_to(H.ROOT / "pyclient")
    else:
        (root / "pyclient").mkdir()
        for src in (H.ROOT / "pyclient").glob("*.py"):
            (root / "pyclient" / src.name).write_text(patch_pyclient(src.name, src.read_text()))
    for item in (H.ROOT / "web").iterdir():
        target = root / "web" / item.name
        if item.name == "node_modules":
            target.symlink_to(item)  # served by its own route, which follows the link
        elif item.is_dir():
            shutil.copytree(item, target)  # /static/ refuses files that resolve outside web/
        else:
            shutil.copy2(item, target)
    if edit_index:
        p = root / "web" / "index.html"
        p.write_text(edit_index(p.read_text()))
    if edit_config:
        p = root / "web" / "pyscript.json"
        p.write_text(edit_config(p.read_text()))
    for rel, data in (extra or {}).items():
        p = root / "web" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def pyscript_core_chunk() -> str:
    """The hashed chunk core.js imports (core-XXXX.js): preloading it saves a round trip after core.js."""
    core = (H.ROOT / "web/node_modules/@pyscript/core/dist/core.js").read_text()
    m = re.search(r"\./(core-[A-Za-z0-9_-]+\.js)", core)
    return m.group(1) if m else ""


def preload_links(wasm: bool = True) -> str:
    chunk = pyscript_core_chunk()
    links = [
        f'<link rel="modulepreload" href="{{{{vendor:@pyscript/core}}}}/dist/{chunk}">' if chunk else "",
        '<link rel="modulepreload" href="{{vendor:pyodide}}/pyodide.mjs">',
        '<link rel="modulepreload" href="{{vendor:pyodide}}/pyodide.asm.mjs">',
        '<link rel="preload" href="{{vendor:pyodide}}/pyodide.asm.wasm" as="fetch" crossorigin>' if wasm else "",
        '<link rel="preload" href="{{vendor:pyodide}}/python_stdlib.zip" as="fetch" crossorigin>',
        '<link rel="preload" href="{{vendor:pyodide}}/pyodide-lock.json" as="fetch" crossorigin>',
        '<link rel="preload" href="/static/pyscript.json" as="fetch" crossorigin>',
    ]
    return "\n  ".join(x for x in links if x)


def add_preloads(index_html: str, wasm: bool = True) -> str:
    anchor = '<link rel="icon" href="data:,">'
    if anchor not in index_html:
        raise RuntimeError("index.html changed: no favicon link to anchor the preloads after")
    return index_html.replace(anchor, anchor + "\n  " + preload_links(wasm), 1)


def add_preloads_but_wasm(index_html: str) -> str:
    return add_preloads(index_html, wasm=False)


SNAPSHOT_PATH = "snapshot/pyclient.bin"
WRAPPER_PATH = "snapshot/pyodide-snap.mjs"


def use_snapshot(config_json: str) -> str:
    config = json.loads(config_json)
    config["interpreter"] = (
        f"/static/{WRAPPER_PATH}?index={{{{vendor:pyodide}}}}/&snap=/static/{SNAPSHOT_PATH}"
    )
    return json.dumps(config, indent=2) + "\n"


SNAPSHOT_MODULES = "__init__,protocol,reconnect,pane"  # browser.py holds a JS object at import: not snapshottable


async def make_snapshot(workdir: Path, root: Path = H.ROOT, modules: str = SNAPSHOT_MODULES) -> bytes:
    """Pyodide's memory snapshot with the pyclient modules imported, made under Node (bench/make_snapshot.mjs)."""
    import subprocess

    out = workdir / f"snapshot-{secrets.token_hex(4)}.bin"
    proc = await asyncio.create_subprocess_exec(
        "node", str(H.ROOT / "bench" / "make_snapshot.mjs"), str(H.ROOT / "web" / "node_modules" / "pyodide"),
        str(root / "pyclient"), str(out), modules, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        text, _ = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("make_snapshot.mjs timed out") from None
    if proc.returncode != 0:
        raise RuntimeError(f"make_snapshot.mjs failed: {text.decode(errors='replace')[-500:]}")
    data = out.read_bytes()
    out.unlink()
    return data


def snapshot_variant(workdir: Path, snapshot: bytes, preload: bool, name: str = "",
                     patch_pyclient: Any = None) -> Path:
    wrapper = (H.ROOT / "web" / "bench" / "pyodide-snap.mjs").read_bytes()
    return make_variant(
        workdir, name or ("snapshot" + ("-preload" if preload else "")),
        edit_index=add_preloads if preload else None, edit_config=use_snapshot,
        extra={SNAPSHOT_PATH: snapshot, WRAPPER_PATH: wrapper}, patch_pyclient=patch_pyclient,
    )


def lazy_decoder(filename: str, text: str) -> str:
    """The change proposed for pyclient/browser.py: no JS object made at import, so it can be in the snapshot."""
    if filename != "browser.py":
        return text
    old_global = "_decoder = js.TextDecoder.new()\n"
    old_use = "    return kind, str(_decoder.decode(payload)), nbytes\n"
    if old_global not in text or old_use not in text:
        raise RuntimeError("pyclient/browser.py changed: the lazy-decoder patch no longer applies")
    text = text.replace(old_global, "_decoder: Any = None  # made on first use: a JS object held at import "
                        "cannot go into a memory snapshot\n")
    lazy = "    global _decoder\n    if _decoder is None:\n        _decoder = js.TextDecoder.new()\n"
    return text.replace(old_use, lazy + old_use)


async def run_variants(workdir: Path, variants: list[tuple[str, Path]], *, cold_runs: int, warm_runs: int,
                       log: Any) -> dict[str, dict[str, list[dict]]]:
    """Runs of each variant interleaved (round-robin), so load from other processes hits them alike."""
    stacks: dict[str, H.Stack] = {}
    results: dict[str, dict[str, list[dict]]] = {name: {"cold": [], "warm": []} for name, _ in variants}
    try:
        for name, root in variants:
            st = H.Stack(workdir / ("stack-" + re.sub(r"[^A-Za-z0-9]+", "-", name)), root=root)
            st.workdir.mkdir(parents=True, exist_ok=True)
            stacks[name] = st
            st.new_session("boot")
            await st.start_server()
        for name, _ in variants:  # prime each warm profile once
            await load_once(stacks[name], stacks[name].workdir / "warm", "boot")
        for i in range(max(cold_runs, warm_runs)):
            for name, _ in variants:
                st = stacks[name]
                if i < cold_runs:
                    profile = st.workdir / f"cold-{i}"
                    r = await load_once(st, profile, "boot")
                    shutil.rmtree(profile, ignore_errors=True)
                    results[name]["cold"].append(r)
                    log(f"  {name} cold #{i + 1}: prompt painted at {r['painted']:.0f} ms")
                if i < warm_runs:
                    r = await load_once(st, st.workdir / "warm", "boot")
                    results[name]["warm"].append(r)
                    log(f"  {name} warm #{i + 1}: prompt painted at {r['painted']:.0f} ms")
    finally:
        for st in stacks.values():
            await st.aclose()
    return results



def without_pyscript(snapshot: bool) -> Any:
    """index.html edit: PyScript's core.js and <script type="py"> replaced by web/bench/loader.mjs."""

    def edit(index_html: str) -> str:
        core = '<script type="module" src="{{vendor:@pyscript/core}}/dist/core.js"></script>'
        py = re.search(r'<script type="py"[^>]*></script>', index_html)
        if core not in index_html or not py:
            raise RuntimeError("index.html changed: cannot find PyScript's core.js and <script type=py>")
        metas = '<meta name="livepane-pyodide" content="{{vendor:pyodide}}">'
        if snapshot:
            metas += f'\n  <meta name="livepane-snapshot" content="/static/{SNAPSHOT_PATH}">'
        index_html = index_html.replace(core, metas + '\n  <script type="module" src="/static/bench/loader.mjs">'
                                        "</script>")
        return index_html.replace(py.group(0), "")

    return edit


PROPOSALS = H.ROOT / "bench" / "proposals"


async def proposal_variant(workdir: Path, name: str, diff: str, snapshot: bool = True) -> Path:
    """The committed tree (git archive HEAD) with bench/proposals/DIFF applied (then, for the snapshot proposal,
    `make snapshot`'s two steps): proves the exact change proposed for files this bench does not own."""
    import subprocess

    root = workdir / f"variant-{name}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(H.ROOT), "archive", "HEAD", "serve.py", "web", "pyclient", "Makefile",
                              ".gitignore"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    (root / "web" / "node_modules").symlink_to(H.ROOT / "web" / "node_modules")
    patch = subprocess.run(["patch", "-p1", "-s", "-i", str(PROPOSALS / diff)], cwd=root, capture_output=True,
                           text=True)
    if patch.returncode != 0:
        raise RuntimeError(f"{diff} no longer applies to HEAD: {patch.stdout[-300:]} {patch.stderr[-300:]}")
    if not snapshot:
        return root
    (root / "web" / "snapshot").mkdir(exist_ok=True)
    make_snapshot = ["node", "web/make_snapshot.mjs", "web/node_modules/pyodide", "pyclient",
                     "web/snapshot/pyclient.bin"]
    key = [H.sys_executable(), "-c", "import serve; print(serve.snapshot_key(serve.WEB_DIR, serve.PYCLIENT_DIR))"]
    for argv in (make_snapshot, key):
        proc = await asyncio.create_subprocess_exec(*argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {err.decode(errors='replace')[-300:]}")
    (root / "web" / "snapshot" / "pyclient.key").write_bytes(out)
    return root


def with_ws_gate(index_html: str) -> str:
    """index.html edit for the herd experiment: web/bench/ws-gate.js before any other script."""
    anchor = '<link rel="icon" href="data:,">'
    if anchor not in index_html:
        raise RuntimeError("index.html changed: no favicon link to anchor the gate script after")
    return index_html.replace(anchor, anchor + '\n  <script src="/static/bench/ws-gate.js"></script>', 1)
