"""Time to first prompt, cold and warm, with its breakdown; and the boot-time variants.

The baseline is the repository's tree as served: it boots from web/snapshot (Pyodide's memory snapshot with pyclient
imported, made by `make snapshot`), which every load checks (globalThis.livepaneBoot). Variants: "no snapshot" (the
snapshot's key made stale, so the page takes its plain-boot fallback) and "snapshot, no PyScript" (web/bench/loader.mjs
instead of PyScript). A variant is a copy of the served tree (serve.py, livepane_server/, web/, pyclient/ linked)
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

import re
import shutil
from pathlib import Path
from typing import Any

import harness as H

COLLECT_JS = """(session) => {
  const B = window.__bench;
  const res = performance.getEntriesByType('resource').map((e) => ({
    name: e.name.replace(location.origin, ''), start: e.startTime, end: e.responseEnd, size: e.transferSize }));
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return { boot: globalThis.livepaneBoot || null, events: B.events,
           sockets: B.sockets.filter((s) => s.session === session), fetches: B.fetches, res,
           fcp: fcp ? fcp.startTime : null };
}"""

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
        out["boot"] = data["boot"]  # {snapshot: true} or {snapshot: false, reason}
        return out
    finally:
        await stack.close_browser(ctx)


# ---------------------------------------------------------------------------------------------------------------------
# Variants of the served tree


def make_variant(workdir: Path, name: str, edit_index: Any = None, extra: dict[str, bytes] | None = None) -> Path:
    """A copy of serve.py + livepane_server/ + web/ (node_modules linked, pyclient linked, web/snapshot copied) with
    index.html edited by edit_index (text -> text) and extra files written under web/."""
    root = workdir / f"variant-{name}"
    if root.exists():
        shutil.rmtree(root)
    (root / "web").mkdir(parents=True)
    shutil.copy2(H.ROOT / "serve.py", root / "serve.py")
    # Copied, not linked: the package finds web/ beside itself (a link would resolve to the repository's web/).
    shutil.copytree(H.ROOT / "livepane_server", root / "livepane_server", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyclient").symlink_to(H.ROOT / "pyclient")
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
    for rel, data in (extra or {}).items():
        p = root / "web" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


SNAPSHOT_FILE = H.ROOT / "web" / "snapshot" / "pyclient.bin"
SNAPSHOT_KEY_FILE = H.ROOT / "web" / "snapshot" / "pyclient.key"


def check_snapshot() -> None:
    """The baseline boots from web/snapshot only if `make snapshot` made it for this pyclient and Pyodide."""
    import subprocess

    if not SNAPSHOT_FILE.is_file() or not SNAPSHOT_KEY_FILE.is_file():
        raise RuntimeError("no web/snapshot/pyclient.bin: run `make snapshot` first")
    code = "from livepane_server import assets, config; print(assets.snapshot_key(config.WEB_DIR, config.PYCLIENT_DIR))"
    done = subprocess.run([H.sys_executable(), "-c", code], cwd=H.ROOT, capture_output=True, text=True, check=True)
    if SNAPSHOT_KEY_FILE.read_text().strip() != done.stdout.strip():
        raise RuntimeError("web/snapshot is stale (its key does not match pyclient): run `make snapshot` first")


def stale_snapshot(workdir: Path) -> Path:
    """The same tree with the snapshot's key made stale: serve.py offers no snapshot, the page boots plainly."""
    return make_variant(workdir, "no-snapshot", extra={"snapshot/pyclient.key": b"stale-on-purpose\n"})


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
                    log(f"  {name} cold #{i + 1}: prompt painted at {r['painted']:.0f} ms, boot {r['boot']}")
                if i < warm_runs:
                    r = await load_once(st, st.workdir / "warm", "boot")
                    results[name]["warm"].append(r)
                    log(f"  {name} warm #{i + 1}: prompt painted at {r['painted']:.0f} ms, boot {r['boot']}")
    finally:
        for st in stacks.values():
            await st.aclose()
    return results


def without_pyscript(index_html: str) -> str:
    """index.html edit: PyScript's core.js and <script type="py"> replaced by web/bench/loader.mjs, which restores the
    same snapshot (serve.py fills in {{snapshot}}, its keyed URL)."""
    core = '<script type="module" src="{{vendor:@pyscript/core}}/dist/core.js"></script>'
    py = re.search(r'<script type="py"[^>]*></script>', index_html)
    if core not in index_html or not py:
        raise RuntimeError("index.html changed: cannot find PyScript's core.js and <script type=py>")
    metas = ('<meta name="livepane-pyodide" content="{{vendor:pyodide}}">\n'
             '  <meta name="livepane-snapshot" content="{{snapshot}}">')
    index_html = index_html.replace(core, metas + '\n  <script type="module" src="/static/bench/loader.mjs"></script>')
    return index_html.replace(py.group(0), "")
