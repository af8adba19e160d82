"""Time to first prompt, cold and warm, with its breakdown; and the boot-time variants.

The baseline is the repository's tree as served: it boots from web/snapshot (Pyodide's memory snapshot with pyclient
imported, made by `make snapshot`), which every load checks (globalThis.livepaneBoot). Variants: "no snapshot" (the
snapshot's key made stale, so the page takes its plain-boot fallback) and "snapshot, no PyScript" (web/bench/loader.mjs
instead of PyScript). A variant is a copy of the served tree (serve.py, livepane_server/, web/, pyclient/ linked)
under the bench's work folder, run by its own serve.py: the repository's files are never edited. Every load is a
new Chromium on a profile: a fresh one (cold) or one that already loaded the page (warm: disk cache and V8's code
cache, as when a user comes back the next day).

Breakdown, all from navigation start (the page's clock), read from Resource Timing, performance marks, the probe
(bench/probe.js) and PyScript's events:
  placeholder  first contentful paint: the empty pane and its "Connecting…" caption, drawn before any script
  screen       performance.mark("livepane:screen"): every previewed pane's screen painted (web/preboot.js, before
               Python); n/a on a page without it. For a peer (ttyd, WeTTY): its first prompt painted
  assets       responseEnd of the last of pyodide.asm.wasm, python_stdlib.zip, pyodide.asm.mjs (or its classic copy),
               pyodide-lock.json
  interpreter  loadPyodide has resolved: performance.mark("livepane:pyodide-ready") (web/pyodide-snap.mjs); on a page
               without the mark, PyScript's first fetch of its "files" (which follows it)
  pyscript     py:ready (PyScript is about to run main.py)
  python       the first /api/ticket request (main.py imported pyclient and mounted the pane)
  socket       the socket is open;  output: its first output frame;  prompt: that output's prompt parsed into
               xterm's buffer (a preview's prompt, painted before any socket, is the screen, not the prompt);
  painted      the animation frame after that (what the user sees)
  live         a key typed as soon as the prompt was painted (focus, then a trusted key press: the harness's
               reaction time is part of it, ~10-30 ms, alike for livepane and the peers) is echoed and painted
"""

from __future__ import annotations

import asyncio
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
  const marks = {};
  for (const m of performance.getEntriesByType('mark')) if (!(m.name in marks)) marks[m.name] = m.startTime;
  return { boot: globalThis.livepaneBoot || null, events: B.events, marks,
           sockets: B.sockets.filter((s) => s.session === session), fetches: B.fetches, res,
           fcp: fcp ? fcp.startTime : null };
}"""

# "live": a key typed into the session's terminal is echoed at the prompt (parsed, then the next frame painted).
LIVE_KEY = "Q"
LIVE_WATCH_JS = """([session, expected]) => {
  const B = window.__bench;
  B.watch((rec, t) => {
    if (rec.session !== session || !B.cursorLine(rec.term).includes(expected)) return false;
    B.mark('live:' + session);
    requestAnimationFrame(() => B.mark('live-frame:' + session));
    return true;
  });
}"""
# A warm profile's priming load stays open this long once its pane is live. V8 goes on tiering Pyodide's wasm up on
# background threads for a second or two after that, writing its code cache again as it goes: a priming load closed at
# once left the cache written part-way, and the first warm loads after it were live 1.4-1.7 s later than after a held
# one (2026-12-02, docs/decisions.md). A returning user's last visit was open longer than this.
PRIME_HOLD_S = 10.0
SCREEN_MARK = "livepane:screen"  # web/preboot.js (helper i-preview): every previewed pane's screen painted
PYODIDE_MARK = "livepane:pyodide-ready"  # web/pyodide-snap.mjs: loadPyodide resolved

ASSETS = ("pyodide.asm.wasm", "python_stdlib.zip", "pyodide.asm.mjs", "pyodide.asm.classic.js", "pyodide-lock.json")


def breakdown(data: dict[str, Any], session: str) -> dict[str, float | None]:
    res, ev = data["res"], data["events"]

    def first(pred: Any, key: str) -> float | None:
        values = [r[key] for r in res if pred(r["name"])]
        return min(values) if values else None

    assets = [r["end"] for r in res if r["name"].split("?")[0].rsplit("/", 1)[-1] in ASSETS]
    sockets = data["sockets"]
    marks = data.get("marks") or {}
    return {
        "placeholder": data.get("fcp"),
        "screen": marks.get(SCREEN_MARK),
        "assets": max(assets) if assets else None,
        "wasm_bytes_transferred": sum(r["size"] for r in res if r["name"].endswith("pyodide.asm.wasm")),
        "interpreter": marks.get(PYODIDE_MARK, first(lambda n: n.startswith("/pyclient/"), "start")),
        "pyscript_adopts": marks.get("livepane:pyscript-adopts"),
        "pyscript": ev.get("py:ready"),
        "socket": sockets[0]["open"] if sockets else None,
        "output": sockets[0]["firstOutput"] if sockets else None,
        "prompt": ev.get(f"prompt:{session}"),
        "painted": ev.get(f"prompt-frame:{session}"),
        "live": ev.get(f"live-frame:{session}"),
    }


async def type_when_prompted(page: Any, sessions: list[str], timeout_s: float = 60) -> dict[str, float]:
    """For each session, as soon as its prompt is painted: focus its newest terminal and press LIVE_KEY; returns
    when every echo is painted, with each key press's time (the page clock). The focus happens inside the wait, so
    only one round trip (the key press) separates the painted prompt from the key."""
    for session in sessions:
        await page.evaluate(LIVE_WATCH_JS, [session, H.PROMPT + LIVE_KEY])
    pending = list(sessions)
    typed_order: list[str] = []
    while pending:
        session = await H.wait_js(page, """(ss) => {
          const B = window.__bench, e = B && B.events;
          const s = e && ss.find((x) => e['prompt-frame:' + x]);
          if (!s) return null;
          B.term(s).focus();
          return s;
        }""", timeout_s, arg=pending)
        await page.keyboard.press(LIVE_KEY)
        pending.remove(session)
        typed_order.append(session)
    await H.wait_js(page, "(ss) => ss.every((s) => window.__bench.events['live-frame:' + s])", timeout_s,
                    arg=list(sessions))
    keys = await page.evaluate("(key) => window.__bench.keys.filter((k) => k.key === key).map((k) => k.t)", LIVE_KEY)
    return dict(zip(typed_order, keys, strict=False))


async def load_once(stack: H.Stack, profile: Path, session: str, query: str = "",
                    hold_s: float = 0.0) -> dict[str, Any]:
    """One load, to the pane live; ``hold_s``: the page stays open that long after (a priming load: PRIME_HOLD_S)."""
    ctx = await stack.browser(profile=profile)
    try:
        page = await H.page_for(ctx)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)[:300]))
        await page.goto(f"{stack.base}/?session={session}{query}", wait_until="commit")
        typed = await type_when_prompted(page, [session])
        await asyncio.sleep(hold_s)
        data = await page.evaluate(COLLECT_JS, session)
        out = breakdown(data, session)
        out["typed"] = typed[session]
        out["errors"] = errors
        out["boot"] = data["boot"]  # {snapshot: true} or {snapshot: false, reason}
        return out
    finally:
        await stack.close_browser(ctx)
        stack.send_keys(session, "C-u")  # the next load's prompt must not show this load's key already


async def load_peer(stack: H.Stack, url: str, profile: Path) -> dict[str, Any]:
    """One load of a peer's page (ttyd, WeTTY): its first prompt painted is both its "screen" and its "painted"."""
    ctx = await stack.browser(profile=profile, authorize=False, init='window.__benchSession = "peer";',
                              bypass_csp=True)  # WeTTY's policy forbids the eval Playwright's waits need
    try:
        page = await H.page_for(ctx)
        await page.goto(url, wait_until="commit")
        typed = await type_when_prompted(page, ["peer"])
        data = await page.evaluate(COLLECT_JS, "peer")
        ev = data["events"]
        painted = ev.get("prompt-frame:peer")
        return {"placeholder": data.get("fcp"), "screen": painted, "prompt": ev.get("prompt:peer"),
                "painted": painted, "live": ev.get("live-frame:peer"), "typed": typed["peer"],
                "socket": data["sockets"][0]["open"] if data["sockets"] else None}
    finally:
        await stack.close_browser(ctx)
        stack.send_keys("peer", "C-u")


# ---------------------------------------------------------------------------------------------------------------------
# A dashboard: one page, DASHBOARD_PANES sessions

DASHBOARD_PANES = 12


async def load_dashboard(stack: H.Stack, profile: Path, sessions: list[str], hold_s: float = 0.0) -> dict[str, Any]:
    """One load of the page with every session: until all screens are visible (livepane:screen; n/a without it),
    until all prompts are painted, and until a key typed into each pane as soon as its prompt was painted has been
    echoed in every one (the key presses go one pane after another: the last pane's wait includes the others').
    ``hold_s`` as for load_once."""
    ctx = await stack.browser(profile=profile)
    try:
        page = await H.page_for(ctx)
        query = "&".join(f"session={s}" for s in sessions)
        await page.goto(f"{stack.base}/?{query}", wait_until="commit")
        await type_when_prompted(page, sessions)
        await asyncio.sleep(hold_s)
        data = await page.evaluate(COLLECT_JS, sessions[0])
        ev = data["events"]
        return {"screen": (data.get("marks") or {}).get(SCREEN_MARK),
                "painted": max(ev[f"prompt-frame:{s}"] for s in sessions),
                "first_painted": min(ev[f"prompt-frame:{s}"] for s in sessions),
                "live": max(ev[f"live-frame:{s}"] for s in sessions),
                "boot": data["boot"]}
    finally:
        await stack.close_browser(ctx)
        for session in sessions:
            stack.send_keys(session, "C-u")


async def dashboard(workdir: Path, root: Path, runs: int, log: Any) -> dict[str, Any]:
    """Warm loads of a page with DASHBOARD_PANES panes (one priming load first)."""
    st = H.Stack(workdir / "dashboard", root=root)
    st.workdir.mkdir(parents=True, exist_ok=True)
    sessions = [f"d{i:02d}" for i in range(1, DASHBOARD_PANES + 1)]
    out: dict[str, Any] = {"panes": DASHBOARD_PANES, "warm": []}
    try:
        for session in sessions:
            st.new_session(session, columns=80, rows=24)
        await st.start_server()
        await load_dashboard(st, st.workdir / "warm", sessions, hold_s=PRIME_HOLD_S)
        for i in range(runs):
            r = await load_dashboard(st, st.workdir / "warm", sessions)
            out["warm"].append(r)
            log(f"  dashboard of {DASHBOARD_PANES} warm #{i + 1}: screens {r['screen'] or 'n/a'}, all prompts "
                f"painted {r['painted']:.0f} ms, all live {r['live']:.0f} ms")
    finally:
        await st.aclose()
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Variants of the served tree


def make_variant(workdir: Path, name: str, edit_index: Any = None, extra: dict[str, bytes] | None = None,
                 files: dict[str, bytes] | None = None) -> Path:
    """A copy of serve.py + livepane_server/ + web/ (node_modules linked, pyclient linked, web/snapshot copied) with
    index.html edited by edit_index (text -> text), extra files written under web/ and ``files`` (paths relative to
    the tree: livepane_server/..., web/...) written over the copy."""
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
    for rel, data in {**{f"web/{k}": v for k, v in (extra or {}).items()}, **(files or {})}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


# What index.html's <head> adds for the boot (tests/e2e/test_boot.py strips the same).
PRELOAD_RE = re.compile(r'<link rel="(?:module)?preload"[^>]*>\s*')
BOOT_FETCH_RE = re.compile(r'<script[^>]*>\{\{inline:static/boot-fetch\.js\}\}</script>\s*')  # inline: index.html
CLASSIC_ASM_RE = re.compile(r'\{\{pyodide-classic\}\}\s*')  # the classic copy's <script> (livepane_server/assets.py)
EARLY_MODULE_RE = re.compile(r'<script type="module" async src="[^"]*"></script>\s*')


def without_preloads(index_html: str) -> str:
    """index.html edit: the <head>'s preloads dropped; the early interpreter module (the early boot) kept."""
    stripped = PRELOAD_RE.sub("", index_html)
    if stripped == index_html:
        raise RuntimeError("index.html changed: no preloads to drop")
    return stripped


def without_early_boot(index_html: str) -> str:
    """index.html edit: preloads and the early interpreter module dropped: PyScript finds each link of the chain in
    turn, but the URLs stay versioned (no revalidations)."""
    stripped = EARLY_MODULE_RE.sub("", without_preloads(index_html))
    if "{{interpreter}}" in stripped:
        raise RuntimeError("index.html changed: the early module is still there")
    return stripped


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
                       log: Any, peers: list[Any] | None = None) -> dict[str, dict[str, list[dict]]]:
    """Runs of each variant, and of each peer (bench/peers.py's PeerSpec), interleaved (round-robin), so load from
    other processes hits them alike. Peers' results are under their names, with ``"peer": True``."""
    stacks: dict[str, H.Stack] = {}
    loads: dict[str, Any] = {}
    primes: dict[str, Any] = {}  # each warm profile's priming load (livepane's held open: PRIME_HOLD_S)
    started: list[Any] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, root in variants:
            st = H.Stack(workdir / ("stack-" + re.sub(r"[^A-Za-z0-9]+", "-", name)), root=root)
            st.workdir.mkdir(parents=True, exist_ok=True)
            stacks[name] = st
            st.new_session("boot")
            await st.start_server()
            loads[name] = lambda profile, st=st: load_once(st, profile, "boot")
            primes[name] = lambda profile, st=st: load_once(st, profile, "boot", hold_s=PRIME_HOLD_S)
            results[name] = {"cold": [], "warm": []}
        for spec in peers or []:
            try:
                st, peer = await spec.start(workdir)
            except Exception as exc:  # a peer that does not start is reported, the rest still run
                results[spec.name] = {"peer": True, "skipped": f"failed: {str(exc).splitlines()[0][:200]}"}
                continue
            started.append(peer)
            stacks[spec.name] = st
            loads[spec.name] = lambda profile, st=st, url=peer.url: load_peer(st, url, profile)
            results[spec.name] = {"peer": True, "cold": [], "warm": []}
        async def measured(name: str, kind: str, i: int, profile: Path) -> None:
            try:
                r = await loads[name](profile)
            except Exception as exc:  # one load past its deadline (a saturated machine) is counted, not fatal
                results[name].setdefault("failed", []).append(f"{kind} #{i + 1}: {str(exc).splitlines()[0][:120]}")
                log(f"  {name} {kind} #{i + 1}: FAILED {str(exc).splitlines()[0][:120]}")
                return
            results[name][kind].append(r)
            log(f"  {name} {kind} #{i + 1}: prompt painted at {r['painted']:.0f} ms, live {r['live']:.0f} ms"
                + (f", boot {r['boot']}" if "boot" in r else ""))

        for name in list(loads):  # prime each warm profile once; a variant that cannot load is reported, not fatal
            try:
                await primes.get(name, loads[name])(stacks[name].workdir / "warm")
            except Exception as exc:
                results[name]["skipped"] = f"failed to load: {str(exc).splitlines()[0][:200]}"
                log(f"  {name}: FAILED to load, left out: {results[name]['skipped']}")
                del loads[name]

        for i in range(max(cold_runs, warm_runs)):
            for name in loads:
                st = stacks[name]
                if i < cold_runs:
                    profile = st.workdir / f"cold-{i}"
                    await measured(name, "cold", i, profile)
                    shutil.rmtree(profile, ignore_errors=True)
                if i < warm_runs:
                    await measured(name, "warm", i, st.workdir / "warm")
    finally:
        for peer in started:
            await peer.stop()
            peer.kill_all()
        for st in stacks.values():
            await st.aclose()
    return results


def without_pyscript(index_html: str) -> str:
    """index.html edit: PyScript's core.js and <script type="py"> replaced by web/bench/loader.mjs, which restores the
    same snapshot (serve.py fills in {{snapshot}}, its keyed URL). The early boot and the preloads go too (the loader
    boots Pyodide itself)."""
    index_html, found = BOOT_FETCH_RE.subn("", without_early_boot(index_html))  # the loader fetches the wasm itself
    if not found:
        raise RuntimeError("index.html changed: no inline boot-fetch.js to drop")
    # Pyodide's classic copy too: without boot-fetch.js's record of its load, whether pyodide-snap.mjs used it would
    # depend on which came first; the loader's boot imports the module, as before the copy.
    index_html, found = CLASSIC_ASM_RE.subn("", index_html)
    if not found:
        raise RuntimeError("index.html changed: no classic pyodide.asm script to drop")
    core = '<script type="module" src="{{vendor:@pyscript/core}}/dist/core.js"></script>'
    py = re.search(r'<script type="py"[^>]*></script>', index_html)
    if core not in index_html or not py:
        raise RuntimeError("index.html changed: cannot find PyScript's core.js and <script type=py>")
    metas = ('<meta name="livepane-pyodide" content="{{vendor:pyodide}}">\n'
             '  <meta name="livepane-snapshot" content="{{snapshot}}">')
    index_html = index_html.replace(core, metas + '\n  <script type="module" src="/static/bench/loader.mjs"></script>')
    return index_html.replace(py.group(0), "")
