"""livepane's benchmark suite: ``python bench/run.py [--quick] [--only NAME ...] [--ttyd PATH] [--wetty CMD]``.

Prints a table and (on a run of every section, or with --write-doc) rewrites the results block of docs/benchmarks.md
(between its ``bench:results`` markers: machine, versions, date, tables; bench/report.py renders it); the rest of
that file, and docs/decisions.md, are kept by hand. The raw samples go to bench/out/results.json.
Each figure is a median with its spread; comparisons are ratios measured in the
same run, their runs interleaved. Targets are goals, reported as met or not, never asserted: a bench reports.

Sections (``--only`` takes these names): boot, throughput, echo, flood, reconnect, outage, herd, peers, typing,
silent, offline.
Everything it starts (serve.py, tmux servers, Chromium) is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boot
import delivery
import harness as H
import live
import liveness
import peers
import report
import terminal_io

SECTIONS = ["boot", "throughput", "echo", "flood", "reconnect", "outage", "herd", "peers",
            "typing", "silent", "offline"]
OUT_DIR = H.ROOT / "bench" / "out"


def log(message: str) -> None:
    print(message, flush=True)


async def with_stack(workdir: Path, name: str, fn: Any, *, state: bool = False) -> Any:
    """fn(stack) against a fresh tmux and serve.py; with ``state``, serve.py keeps its state (XDG_STATE_HOME) in the
    stack's folder, so every start of it (as after a restart) finds the same state."""
    st = H.Stack(workdir / name)
    st.workdir.mkdir(parents=True, exist_ok=True)
    if state:
        st.serve.env["XDG_STATE_HOME"] = str(st.workdir / "state")
    try:
        st.new_session("main")
        await st.start_server()
        return await fn(st)
    finally:
        await st.aclose()


async def guarded(results: dict[str, Any], name: str, coro: Any) -> None:
    """One section's failure is reported in the results and the table; the other sections still run."""
    try:
        results[name] = await coro
    except Exception as exc:  # a bench reports; it does not stop at the first broken section
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        log(f"  {name} FAILED: {results['errors'][name]}")


async def boot_section(workdir: Path, quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    """The page as committed (booting from web/snapshot) against each variant and each peer given (ttyd, WeTTY),
    runs interleaved; then the dashboard (12 panes on one page)."""
    boot.check_snapshot()
    variants = [("baseline", H.ROOT),
                ("no early boot", boot.make_variant(workdir, "no-early-boot", edit_index=boot.without_early_boot)),
                ("no snapshot", boot.stale_snapshot(workdir))]
    if not quick:
        variants += [
            ("no preloads", boot.make_variant(workdir, "no-preloads", edit_index=boot.without_preloads)),
            ("snapshot, no PyScript",
             boot.make_variant(workdir, "snapshot-no-pyscript", edit_index=boot.without_pyscript)),
        ]
    found, skipped = peers.specs(args.ttyd, args.wetty)
    out: dict[str, Any] = await boot.run_variants(workdir, variants, cold_runs=1 if quick else 4,
                                                  warm_runs=2 if quick else 8, log=log, peers=found)
    for name, note in skipped.items():
        out[name] = {"peer": True, **note}
    log(f"== dashboard: {boot.DASHBOARD_PANES} panes on one page, warm")
    out["dashboard"] = await boot.dashboard(workdir, H.ROOT, 1 if quick else 4, log)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    only = set(args.only or SECTIONS)
    results: dict[str, Any] = {"quick": quick, "started": time.time()}
    workdir = Path(tempfile.mkdtemp(prefix="lpbench-"))
    try:
        if "boot" in only:
            log("== boot: time to first prompt, and the boot-time variants")
            await guarded(results, "boot", boot_section(workdir, quick, args))
        if "throughput" in only:
            log("== throughput: 20 MB cat through tmux, livepane vs pure JS" + ("" if quick else ", DOM and WebGL"))
            renderers = ("dom",) if quick else ("dom", "webgl")
            await guarded(results, "throughput", with_stack(
                workdir, "throughput", lambda st: terminal_io.throughput(st, 1 if quick else 5, log, renderers)))
            log("== client path alone: 20 MB of 64 KiB frames replayed into each page's handler")
            await guarded(results, "replay", with_stack(
                workdir, "replay", lambda st: terminal_io.replay(st, 2 if quick else 9, log, renderers)))
        if "echo" in only:
            log("== echo: key press to echoed character")
            renderers = ("dom",) if quick else ("dom", "webgl")
            await guarded(results, "echo", with_stack(
                workdir, "echo", lambda st: terminal_io.echo_bench(st, 30 if quick else 100, log, renderers)))
        if "flood" in only:
            log("== flood: Ctrl-C under `yes`, JS heap")
            await guarded(results, "flood", with_stack(
                workdir, "flood", lambda st: terminal_io.flood(st, 1 if quick else 3, 2.0 if quick else 4.0, log)))
        if "reconnect" in only:
            log("== reconnect: SIGTERM, SIGKILL (back after 1 s), SIGHUP")
            await guarded(results, "reconnect", with_stack(
                workdir, "reconnect", lambda st: live.reconnect(st, 1 if quick else 3, log)))
        if "outage" in only:
            log("== outage: SIGKILL and stay down (attempt schedule, retry now), then SIGTERM to exit")
            await guarded(results, "outage", with_stack(workdir, "outage", lambda st: live.outage(st, log)))
        if "herd" in only:
            panes = 10 if quick else 50
            log(f"== herd: {panes} panes on one page, server restarted")
            await guarded(results, "herd", with_stack(
                workdir, "herd", lambda st: live.herd(st, panes, 1 if quick else 2, log)))
        if "typing" in only:
            per_kind = 2 if quick else 10
            log(f"== typing: lines typed through the page across {per_kind} SIGTERM, {per_kind} SIGHUP and "
                f"{per_kind} SIGKILL restarts")
            await guarded(results, "typing", with_stack(
                workdir, "typing", lambda st: delivery.typing(st, per_kind, log), state=True))
        if "silent" in only:
            log("== silent: serve.py SIGSTOPped, a key pressed: until the pane is not open; SIGCONT: until open")
            await guarded(results, "silent", with_stack(
                workdir, "silent", lambda st: liveness.silent(st, 1 if quick else 4, log), state=True))
        if "offline" in only:
            log("== offline: the browser goes offline: until the pane says so; back online: until open")
            await guarded(results, "offline", with_stack(
                workdir, "offline", lambda st: liveness.offline(st, 1 if quick else 4, log), state=True))
        if "peers" in only:
            log("== peers: ttyd and WeTTY, same tmux, same measurements where they apply")
            await guarded(results, "peers", peers.run(workdir, args.ttyd, args.wetty, quick, log))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = time.time()
    return results


def machine() -> dict[str, str]:
    def cmd(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "chromium": cmd(H.CHROMIUM, "--version").splitlines()[-1] if cmd(H.CHROMIUM, "--version") else "?",
        "tmux": cmd("tmux", "-V"),
        "pyodide": H.package_version("pyodide"),
        "pyscript": H.package_version("@pyscript/core"),
        "xterm": H.package_version("@xterm/xterm"),
        "commit": cmd("git", "-C", str(H.ROOT), "rev-parse", "--short", "HEAD"),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


# A bench finishes in bounded time, whatever hangs. The typing, silent and offline sections add up to ~2.5 min
# quick and ~15 min full (each full one under 5 min) to the rest's ~3 and ~18.
RUN_DEADLINE_S = {"quick": 600, "full": 2400}


async def run_bounded(args: argparse.Namespace) -> dict[str, Any]:
    """run() with a deadline, and SIGTERM/SIGHUP turned into cancellation, so every finally block stops what it
    started (serve.py, tmux, Chromium) instead of the process dying around them."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)
    return await asyncio.wait_for(run(args), RUN_DEADLINE_S["quick" if args.quick else "full"])


def main() -> int:
    ap = argparse.ArgumentParser(description="livepane benchmarks (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="fewer runs and smaller herds: about 6 minutes")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    ap.add_argument("--ttyd", help="path to a ttyd binary (peer); skipped when absent")
    ap.add_argument("--wetty", help="command that starts WeTTY, e.g. 'node /x/node_modules/wetty/build/main.js'")
    ap.add_argument("--from-json", type=Path, help="render the table (and doc) from a saved results.json; run nothing")
    ap.add_argument("--write-doc", action="store_true",
                    help="rewrite docs/benchmarks.md's results block even with --only/--quick (default: full runs)")
    args = ap.parse_args()
    started = time.time()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        load_before = Path("/proc/loadavg").read_text().split()[0]
        try:
            results = asyncio.run(run_bounded(args))
        except (asyncio.CancelledError, KeyboardInterrupt, TimeoutError) as exc:
            log(f"stopped ({type(exc).__name__}); everything the bench started has been stopped")
            return 130
        results["machine"] = machine()
        results["machine"]["load_before"] = load_before
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "results.json").write_text(json.dumps(results, indent=1, default=str))
    text = report.render(results)
    print(text)
    if args.write_doc or (not args.only and not args.quick and not args.from_json):
        doc = H.ROOT / "docs" / "benchmarks.md"
        doc.write_text(report.update_doc(doc.read_text(), report.results_block(results)))
        log("wrote the results block of docs/benchmarks.md")
    log(f"done in {time.time() - started:.0f} s; raw samples in {OUT_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
