"""Where a page load's time goes until the interpreter is up: ``python bench/trace_boot.py [--warm N] [--cold N]
[--script VARIANTS.py] [--quiet] [--save DIR | --load FILE ...]``.

Loads the page as bench/boot.py does (a fresh profile for cold, a primed one for warm) under a Chrome trace (V8's
CPU profiler included) and prints, per load: the boot files' fetches (Resource Timing), V8's wasm events (code cache,
streaming, instantiation, lazy and tier-up compiles, by name), and the renderer's main thread between
livepane:boot-start and livepane:pyodide-ready (web/pyodide-snap.mjs's marks): its wall and CPU time in tasks and the
other threads' CPU time, each long task with what ran in it, and that CPU time split by phase (table PHASES below:
JS lazy compiles, the snapshot's expand and restore, Pyodide's linking, GC, xterm.js, PyScript, Blink's own work).
On two shared cores a task's wall time is mostly waiting for a core: compare CPU times, and wall times only within
one run. With ``--script`` (a file defining variants(workdir, boot) -> [(name, root)], as /work/wt/tools/ab.py takes)
the variants' loads are interleaved with the tree's and a table of medians ends the output. ``--save DIR`` keeps each
trace as JSON (chrome://tracing, Perfetto, or ``--load``). A bench reports: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import runpy
import shutil
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boot
import harness as H

CATEGORIES = [
    "devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.wasm", "disabled-by-default-v8.compile",
    "blink.resource", "loading", "blink.user_timing", "disabled-by-default-v8.cpu_profiler", "toplevel",
    "v8.execute",
]
SAMPLING_INTERVAL_US = 100
TRACE_TIMEOUT_S = 120.0
FILES = ("pyodide.asm.wasm", "pyclient.bin", "python_stdlib.zip", "pyodide.asm.mjs", "pyodide.asm.classic.js",
         "pyodide.mjs", "pyodide-lock.json", "pyodide-snap.mjs", "core.js", "xterm.js", "boot-fetch.js")
CLASSIC_ASM = "pyodide.asm.classic.js"
WASM_EVENT_PREFIXES = ("v8.wasm.", "wasm.")
LONG_TASK_MS = 5
BOOT_MARKS = ("livepane:boot-start", "livepane:screen", "livepane:pyscript-adopts", "livepane:pyodide-ready")


async def traced_load(stack: H.Stack, profile: Path, session: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One load as bench/boot.py's load_once makes it, under a trace: (its breakdown, the trace events)."""
    ctx = await stack.browser(profile=profile)
    try:
        page = await H.page_for(ctx)
        cdp = await ctx.new_cdp_session(page)
        events: list[dict[str, Any]] = []
        done = asyncio.get_running_loop().create_future()
        cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
        cdp.on("Tracing.tracingComplete", lambda e: done.done() or done.set_result(True))
        await cdp.send("Tracing.start", {"traceConfig": {"includedCategories": CATEGORIES,
                                                         "excludedCategories": ["*"]},
                                         "transferMode": "ReportEvents"})
        await page.goto(f"{stack.base}/?session={session}", wait_until="commit")
        await boot.type_when_prompted(page, [session])
        data = await page.evaluate(boot.COLLECT_JS, session)
        await cdp.send("Tracing.end")
        await asyncio.wait_for(done, TRACE_TIMEOUT_S)
        out = boot.breakdown(data, session)
        out["res"] = data["res"]
        out["marks"] = data["marks"]
        out["boot"] = data["boot"]
        return out, events
    finally:
        await stack.close_browser(ctx)
        stack.send_keys(session, "C-u")


def renderer_main(events: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(pid, tid) of the page's renderer main thread: the one that ran the livepane:boot-start mark."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    for e in events:
        if e.get("name") == "livepane:boot-start":
            pid = e["pid"]
            for (p, t), name in names.items():
                if p == pid and name == "CrRendererMain":
                    return p, t
    return None


def nav_start_us(events: list[dict[str, Any]], marks: dict[str, float]) -> float | None:
    """The trace clock at navigation start, from a page mark seen both in the trace and by the page."""
    for name in BOOT_MARKS:
        for e in events:
            if e.get("name") == name and e.get("cat", "").startswith("blink.user_timing") and name in marks:
                return e["ts"] - marks[name] * 1000
    return None


def cpu_profile_samples(events: list[dict[str, Any]], pid: int, tid: int) -> list[tuple[float, list[str]]]:
    """The main thread's CPU samples: (trace ts in us, the JS stack top-down as 'function url:line')."""
    nodes: dict[int, dict[str, Any]] = {}
    samples: list[tuple[float, list[str]]] = []
    profiles = {e["id"]: e for e in events
                if e.get("name") == "Profile" and (e.get("pid"), e.get("tid")) == (pid, tid)}
    # Profile ids are per process (every renderer's first is 0x1): a chunk is the main thread's by its pid and id.
    chunks = [e for e in events if e.get("name") == "ProfileChunk" and e.get("pid") == pid and e.get("id") in profiles]
    clock = {pid_id: p["args"]["data"]["startTime"] for pid_id, p in profiles.items()}
    seq: list[tuple[float, int]] = []
    for c in chunks:
        data = c["args"]["data"]
        prof = data.get("cpuProfile", {})
        for n in prof.get("nodes", []):
            nodes[n["id"]] = n
        for sample, delta in zip(prof.get("samples", []), data.get("timeDeltas", []), strict=False):
            clock[c["id"]] += delta
            seq.append((clock[c["id"]], sample))
    cache: dict[int, list[str]] = {}

    def stack(node_id: int) -> list[str]:
        if node_id in cache:
            return cache[node_id]
        n = nodes.get(node_id)
        if n is None:
            return []
        frame = n["callFrame"]
        url = frame.get("url", "").split("?")[0].rsplit("/", 1)[-1]
        label = f"{frame.get('functionName') or '(anonymous)'} {url}:{frame.get('lineNumber', -1) + 1}".strip()
        cache[node_id] = [*stack(n["parent"]), label] if "parent" in n else [label]
        return cache[node_id]

    for n in list(nodes.values()):  # parent links come as ids on the children in trace chunks
        for child in n.get("children", []):
            nodes.get(child, {}).setdefault("parent", n["id"])
    for ts, sample in seq:
        samples.append((ts, stack(sample)))
    return samples


# PHASES. The main thread's time in the boot window, by phase: a trace event of these names (innermost first)
# decides; JS outside them goes by the CPU sample's stack (the innermost frame a rule names); a task with neither is
# "other native" (Blink's own work: parsing the HTML, style, mojo messages, ...); no task at all is idle.
EVENT_PHASES = (
    ("V8.ParseFunction", "JS lazy compile"), ("V8.CompileCode", "JS lazy compile"),
    ("V8.CompileIgnition", "JS lazy compile"), ("V8.CompileLazy", "JS lazy compile"),
    ("wasm.SyncCompile", "wasm: small modules (addFunction)"),
    ("wasm.SyncInstantiate", "wasm: small modules (addFunction)"),
    ("wasm.FinishStreaming", "wasm: code cache (digest, deserialize)"), ("wasm.OnBytesReceived", "wasm: bytes in"),
    ("wasm.AsyncInstantiate", "wasm: instantiate"),
    ("Layout", "layout, style, paint"), ("UpdateLayoutTree", "layout, style, paint"), ("Paint", "layout, style, paint"),
    ("PrePaint", "layout, style, paint"), ("Layerize", "layout, style, paint"), ("Commit", "layout, style, paint"),
    ("ParseHTML", "parse HTML"), ("V8.GC", "GC"), ("MinorGC", "GC"), ("MajorGC", "GC"),
)
# (file, function or "" for any): the innermost frame that matches names the phase.
SAMPLE_PHASES = (
    ("pyodide-snap.mjs", "expand", "snapshot: expand (sparse -> full)"),
    ("pyodide.asm.mjs", "API.restoreSnapshot", "snapshot: restore (copy into the heap)"),
    ("pyodide.asm.mjs", "API.finalizeBootstrap", "Pyodide: finalizeBootstrap (Python side)"),
    ("pyodide.asm.mjs", "receiveInstance", "Pyodide: dynamic linking (GOT, table)"),
    ("pyodide.asm.mjs", "", "Pyodide: other (preRun, FS, stdlib, API)"),
    ("pyodide.asm.wasm", "", "Pyodide: wasm running"),
    ("pyodide.mjs", "", "Pyodide: loadPyodide (pyodide.mjs)"),
    ("pyodide-snap.mjs", "", "livepane: pyodide-snap.mjs"),
    ("core-", "", "PyScript"), ("core.js", "", "PyScript"),
    ("xterm.js", "", "xterm.js, preboot"), ("addon-", "", "xterm.js, preboot"),
    ("terminal.js", "", "xterm.js, preboot"), ("preboot.js", "", "xterm.js, preboot"),
    ("early.js", "", "livepane: early.js"),
    ("", "(garbage collector)", "GC"),
)
BIN_US = 100
SAMPLE_SPAN_US = 5000  # a sample stands for the time until the next one, up to this (the profiler may pause)


def sample_phase(stack: list[str]) -> str | None:
    """The phase of the innermost frame a function rule names, else of the innermost frame a file rule names."""
    frames = [(f.rpartition(" ")[0], f.rpartition(" ")[2].rsplit(":", 1)[0]) for f in reversed(stack)]
    # pyodide.asm.mjs's classic copy (livepane_server/pyodide_classic.py) is the same code under another name.
    frames = [(function, file.replace(CLASSIC_ASM, "pyodide.asm.mjs")) for function, file in frames]
    for by_function in (True, False):
        for function, file in frames:
            for want_file, want_function, phase in SAMPLE_PHASES:
                if bool(want_function) is by_function and file.startswith(want_file) and \
                        (not want_function or function == want_function):
                    return phase
    return None


def phases(events: list[dict[str, Any]], main: tuple[int, int], start: float, end: float) -> Counter[str]:
    """CPU ms of the main thread in [start, end] (trace us) by phase, in BIN_US bins: each bin's wall time times its
    task's CPU share (on shared cores a task's wall time includes waiting for one); idle counts wall time."""
    bins = max(int((end - start) // BIN_US), 1)
    label: list[str | None] = [None] * bins
    depth = [-1] * bins
    cpu_share = [0.0] * bins  # the enclosing task's CPU time over its wall time (the thread may wait for a core)
    rank = {name: i for i, (name, _) in enumerate(EVENT_PHASES)}
    for e in top_level(events, main[0]):
        if e["tid"] != main[1]:
            continue
        lo, hi = max(int((e["ts"] - start) // BIN_US), 0), min(int((e["ts"] + e["dur"] - start) // BIN_US), bins - 1)
        for i in range(lo, hi + 1):
            cpu_share[i] = min(e.get("tdur", e["dur"]) / e["dur"], 1.0) if e["dur"] else 1.0
    for e in events:
        if (e.get("pid"), e.get("tid")) != main or e.get("ph") != "X" or "dur" not in e:
            continue
        name = e["name"]
        lo, hi = int((e["ts"] - start) // BIN_US), int((e["ts"] + e["dur"] - start) // BIN_US)
        lo, hi = max(lo, 0), min(hi, bins - 1)
        if lo > hi:
            continue
        key = next((k for k in rank if name == k or (k == "V8.GC" and name.startswith("V8.GC_"))), None)
        if key is None:
            continue
        for i in range(lo, hi + 1):  # the shortest (innermost) event wins: it starts later or ends sooner
            if depth[i] < 0 or e["dur"] < depth[i]:
                depth[i] = e["dur"]
                label[i] = dict(EVENT_PHASES)[key]
    samples = cpu_profile_samples(events, *main)
    j = 0
    out: Counter[str] = Counter()
    for i in range(bins):
        t = start + i * BIN_US
        while j + 1 < len(samples) and samples[j + 1][0] <= t:
            j += 1
        if label[i] is None and samples and 0 <= t - samples[j][0] < SAMPLE_SPAN_US:
            label[i] = sample_phase(samples[j][1])
        if label[i] is None:
            label[i] = "other native (Blink, V8 runtime)" if cpu_share[i] else "idle"
        out[label[i]] += BIN_US / 1000 * (cpu_share[i] or 1.0)
    return out


def top_level(events: list[dict[str, Any]], pid: int) -> list[dict[str, Any]]:
    """The process's complete events that no other event of their thread encloses: each thread's busy time is in
    them (tasks, and what runs outside one: microtask checkpoints, ...), their tdur its CPU time."""
    out: list[dict[str, Any]] = []
    ends: dict[int, float] = {}
    for e in sorted((e for e in events if e.get("ph") == "X" and e.get("pid") == pid and "dur" in e),
                    key=lambda e: (e["ts"], -e["dur"])):
        if e["ts"] >= ends.get(e["tid"], -1):
            out.append(e)
            ends[e["tid"]] = e["ts"] + e["dur"]
    return out


def cpu_summary(result: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, float] | None:
    """Between boot-start and pyodide-ready: the main thread's wall time in tasks and its CPU time (tdur), and the
    renderer's CPU time on every other thread (background compiles, loaders), in ms."""
    marks = result["marks"]
    nav = nav_start_us(events, marks)
    main = renderer_main(events)
    if nav is None or main is None or "livepane:pyodide-ready" not in marks:
        return None
    start = nav + marks.get("livepane:boot-start", 0) * 1000
    end = nav + marks["livepane:pyodide-ready"] * 1000
    busy = cpu = others = 0.0
    for e in top_level(events, main[0]):
        overlap = min(e["ts"] + e["dur"], end) - max(e["ts"], start)
        if overlap <= 0:
            continue
        share = overlap / e["dur"] if e["dur"] else 0
        if e["tid"] == main[1]:
            busy += overlap
            cpu += e.get("tdur", 0) * share
        else:
            others += e.get("tdur", 0) * share
    return {"interpreter": marks["livepane:pyodide-ready"], "boot_start": marks.get("livepane:boot-start", 0),
            "main_busy": busy / 1000, "main_cpu": cpu / 1000, "other_threads_cpu": others / 1000}


def split(result: dict[str, Any], events: list[dict[str, Any]], top: int) -> list[str]:
    lines: list[str] = []
    marks = result["marks"]
    nav = nav_start_us(events, marks)
    main = renderer_main(events)
    if nav is None or main is None:
        return ["  (no navigation start or main thread found in the trace)"]
    ms = lambda ts: (ts - nav) / 1000  # noqa: E731
    lines.append("  marks: " + ", ".join(f"{k.split(':', 1)[1]} {marks[k]:.0f}" for k in BOOT_MARKS if k in marks))
    lines.append(f"  bench: assets {result['assets'] or 0:.0f}, interpreter {result['interpreter'] or 0:.0f}, "
                 f"pyscript {result['pyscript'] or 0:.0f}, socket {result['socket'] or 0:.0f}, "
                 f"live {result['live'] or 0:.0f}; boot {result['boot']}")
    for r in sorted(result["res"], key=lambda r: r["start"]):
        name = r["name"].split("?")[0].rsplit("/", 1)[-1]
        if name in FILES:
            lines.append(f"  fetch {name:<20} {r['start']:6.0f} -> {r['end']:6.0f}  ({r['size']} bytes over the wire)")
    # V8's wasm events, by name: how many, their total duration, when the first began and the last ended, where.
    wasm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.get("name", "").startswith(WASM_EVENT_PREFIXES) and e.get("ph") in ("X", "B", "I", "i", "n", "b"):
            wasm[e["name"]].append(e)
    for name, es in sorted(wasm.items(), key=lambda kv: min(e["ts"] for e in kv[1])):
        total = sum(e.get("dur", 0) for e in es) / 1000
        first, last = min(e["ts"] for e in es), max(e["ts"] + e.get("dur", 0) for e in es)
        on_main = sum((e["pid"], e["tid"]) == main for e in es)
        lines.append(f"  {name:<38} x{len(es):<5} {ms(first):6.0f} -> {ms(last):6.0f}  {total:7.1f} ms in all, "
                     f"{on_main} on the main thread")
    start = marks.get("livepane:boot-start", 0) * 1000 + nav
    end = marks.get("livepane:pyodide-ready", 0) * 1000 + nav
    # The main thread's tasks in the window: its wall and CPU time in them, and each long one with what ran most in it
    # (by sample count: under load a sample stands for more than the profiler's interval).
    samples = [(ts, st) for ts, st in cpu_profile_samples(events, *main) if start <= ts <= end]
    tasks = [e for e in top_level(events, main[0]) if e["tid"] == main[1] and e["ts"] < end
             and e["ts"] + e["dur"] > start]
    summary = cpu_summary(result, events) or {}
    lines.append(f"  main thread from boot-start to pyodide-ready ({(end - start) / 1000:.0f} ms): in tasks "
                 f"{summary.get('main_busy', 0):.0f} ms, on a core {summary.get('main_cpu', 0):.0f} ms; other threads "
                 f"on a core {summary.get('other_threads_cpu', 0):.0f} ms. Tasks of {LONG_TASK_MS} ms or more "
                 "(wall, CPU, the functions most sampled in it):")
    for e in tasks:
        if e["dur"] < LONG_TASK_MS * 1000:
            continue
        inside: Counter[str] = Counter()
        for ts, st in samples:
            if e["ts"] <= ts <= e["ts"] + e["dur"]:
                inside[next((f for f in reversed(st) if not f.startswith("(")), st[-1] if st else "?")] += 1
        what = ", ".join(f"{label} x{n}" for label, n in inside.most_common(3))
        lines.append(f"    {ms(e['ts']):6.0f} +{e['dur'] / 1000:5.0f} ms, cpu {e.get('tdur', 0) / 1000:4.0f}  {what}")
    lines.append("  by phase (CPU ms of the main thread, same window; idle: wall ms):")
    for phase, t in phases(events, main, start, end).most_common():
        lines.append(f"    {t:7.1f} ms  {phase}")
    if samples and top:
        by_leaf: Counter[str] = Counter()
        by_fn: Counter[str] = Counter()
        for i, (ts, st) in enumerate(samples):
            dt = min(samples[i + 1][0] - ts, 10 * SAMPLING_INTERVAL_US) if i + 1 < len(samples) else 0
            by_leaf[st[-1] if st else "?"] += dt
            for label in set(st):
                by_fn[label] += dt
        lines.append("  self time (main thread, same window):")
        lines.extend(f"    {t / 1000:7.1f} ms  {label}" for label, t in by_leaf.most_common(top))
        lines.append("  total time (inclusive, same window):")
        lines.extend(f"    {t / 1000:7.1f} ms  {label}" for label, t in by_fn.most_common(top))
    return lines


def report(name: str, result: dict[str, Any], events: list[dict[str, Any]], top: int) -> None:
    print(f"{name}:")
    print("\n".join(split(result, events, top)), flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", type=int, default=2)
    ap.add_argument("--cold", type=int, default=1)
    ap.add_argument("--top", type=int, default=25, help="functions listed by self and total time (0: none)")
    ap.add_argument("--script", type=Path, help="also trace the variants its variants(workdir, boot) returns, "
                    "interleaved (as /work/wt/tools/ab.py takes them)")
    ap.add_argument("--quiet", action="store_true", help="only the summary table, not each load's split")
    ap.add_argument("--save", type=Path, help="keep each trace here as JSON")
    ap.add_argument("--load", type=Path, nargs="+", help="report on traces kept by --save instead of loading")
    args = ap.parse_args()
    if args.load:
        for path in args.load:
            kept = json.loads(path.read_text())
            report(path.stem, kept["result"], kept["traceEvents"], args.top)
        return
    workdir = Path(tempfile.mkdtemp(prefix="lptrace-"))
    variants = [("this", H.ROOT)]
    if args.script:
        variants += runpy.run_path(str(args.script))["variants"](workdir, boot)
    stacks: dict[str, H.Stack] = {}
    summaries: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    try:
        for name, root in variants:
            stack = stacks[name] = H.Stack(workdir / f"stack-{len(stacks)}", root=root)
            stack.workdir.mkdir(parents=True)
            stack.new_session("boot")
            await stack.start_server()
            await boot.load_once(stack, stack.workdir / "warm", "boot")  # primes the warm profile and the code cache
        plan = [("cold", i) for i in range(args.cold)] + [("warm", i) for i in range(args.warm)]
        for kind, i in plan:
            for name, stack in stacks.items():
                profile = stack.workdir / ("warm" if kind == "warm" else f"cold-{i}")
                result, events = await traced_load(stack, profile, "boot")
                if kind == "cold":
                    shutil.rmtree(profile, ignore_errors=True)
                if not args.quiet:
                    report(f"{name} {kind} #{i + 1}", result, events, args.top)
                summary = cpu_summary(result, events)
                if summary:
                    summaries[(name, kind)].append(summary)
                    print(f"{name} {kind} #{i + 1}: " + ", ".join(f"{k} {v:.0f}" for k, v in summary.items()),
                          flush=True)
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    (args.save / f"{name}-{kind}-{i + 1}.json").write_text(
                        json.dumps({"traceEvents": events, "result": result}))
    finally:
        for stack in stacks.values():
            await stack.aclose()
        shutil.rmtree(workdir, ignore_errors=True)
    keys = ["boot_start", "interpreter", "main_busy", "main_cpu", "other_threads_cpu"]
    print("| variant | load | n | " + " | ".join(keys) + " |")
    for (name, kind), rows in summaries.items():
        print(f"| {name} | {kind} | {len(rows)} | "
              + " | ".join(f"{statistics.median(r[k] for r in rows):.0f}" for k in keys) + " |")


if __name__ == "__main__":
    asyncio.run(main())
