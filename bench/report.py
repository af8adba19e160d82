"""Renders bench/run.py's results (bench/out/results.json) as markdown tables: the table it prints, and the block it
writes into docs/benchmarks.md between the ``bench:results`` markers.

Rules: tables from the results only. Every figure is a median with its spread (min-max over runs, or IQR over many
samples); ratios are of figures measured in the same run. Targets are judged on the median and only reported. No
history here: what was tried, kept and dropped (with the figures of earlier runs) is docs/decisions.md, kept by
hand, and the rest of docs/benchmarks.md (how each figure is measured) is hand-kept too.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from harness import Figure, median, percentile

BOOT_PHASES = ["placeholder", "screen", "assets", "interpreter", "pyscript", "socket", "output", "prompt",
               "painted", "live"]
# Issue 14's goals, judged on medians of one run: the live prompt warm at most ttyd's first prompt warm (a ratio),
# cold within an absolute budget; the screen (before Python) within 0.4x of ttyd's first prompt warm.
LIVE_VS_TTYD_WARM = 1.0
LIVE_COLD_MS = 1200
SCREEN_VS_TTYD_WARM = 0.4


def boot_variants(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The boot section's livepane variants (not its peers, not its dashboard)."""
    return {name: runs for name, runs in (res.get("boot") or {}).items()
            if isinstance(runs, dict) and not runs.get("peer") and "cold" in runs}


def boot_peers(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The peers measured in the boot section's round-robin (skipped ones included, with their reason)."""
    return {name: runs for name, runs in (res.get("boot") or {}).items() if isinstance(runs, dict) and runs.get("peer")}


def phase_median(runs: list[dict[str, Any]], phase: str) -> float | None:
    return median([r[phase] for r in runs if r.get(phase) is not None])


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def row(fig: Figure, digits: int = 0, ratio: str = "") -> str:
    f = "{:,.%sf}".replace("%s", str(digits))
    spread = fig.spread_text(f)
    met = fig.met()
    target = f"{fig.target} ({met})" if fig.target else ""
    n = len(fig.samples)
    return (f"| {fig.name} | {fmt(fig.value, digits)} {fig.unit} | {spread} | {n} | {ratio} | {target} | "
            f"{fig.note} |")


HEADER = ("| figure | median | spread | n | ratio | target | note |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")


def boot_rows(res: dict[str, Any]) -> list[str]:
    rows = []
    boot = boot_variants(res)
    if not boot:
        return rows
    base = {k: median([r["painted"] for r in boot["baseline"][k] if r.get("painted")]) for k in ("cold", "warm")}
    for name, runs in boot.items():
        for kind, target in (("cold", "<= 2500"), ("warm", "<= 1500")):
            fig = Figure(f"first prompt, {kind}: {name}", "ms", [r["painted"] for r in runs[kind] if r.get("painted")],
                         target=target)
            ratio = ""
            if name != "baseline" and fig.value and base[kind]:
                ratio = f"{fig.value / base[kind]:.2f}x baseline"
            fig.note = snapshot_note(runs[kind])
            rows.append(row(fig, 0, ratio))
    return rows


def snapshot_note(runs: list[dict[str, Any]]) -> str:
    """How the loads booted, from the page's globalThis.livepaneBoot."""
    restored = sum(1 for r in runs if (r.get("boot") or {}).get("snapshot") is True)
    reasons = sorted({str((r.get("boot") or {}).get("reason", "no livepaneBoot")) for r in runs
                      if (r.get("boot") or {}).get("snapshot") is not True})
    return f"snapshot restored in {restored}/{len(runs)} loads" + (f" (else: {'; '.join(reasons)})" if reasons else "")


def boot_breakdown(res: dict[str, Any]) -> str:
    boot = {**boot_variants(res), **{n: r for n, r in boot_peers(res).items() if not r.get("skipped")}}
    if not boot:
        return ""
    lines = ["| variant | load | " + " | ".join(BOOT_PHASES) + " |",
             "| --- | --- | " + " | ".join("---" for _ in BOOT_PHASES) + " |"]
    for name, runs in boot.items():
        for kind in ("cold", "warm"):
            if not runs[kind]:
                continue
            cells = [fmt(phase_median(runs[kind], p)) for p in BOOT_PHASES]
            lines.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def live_table(res: dict[str, Any]) -> str:
    """Screen visible and live, livepane beside the peers of the same run, with the ratios issue 14 sets."""
    base = boot_variants(res).get("baseline")
    if not base:
        return ""
    peers = boot_peers(res)
    ttyd_warm = phase_median(peers.get("ttyd", {}).get("warm") or [], "painted")
    lines = ["| who | load | screen visible | live | screen / ttyd's first prompt (warm) | "
             "live / ttyd's first prompt (warm) |", "| --- | --- | --- | --- | --- | --- |"]

    def ratio(value: float | None) -> str:
        return f"{value / ttyd_warm:.2f}x" if value is not None and ttyd_warm else "n/a"

    for name, runs in {"livepane": base, **peers}.items():
        if runs.get("skipped"):
            lines.append(f"| {name} | | skipped: {runs['skipped']} | | | |")
            continue
        for kind in ("cold", "warm"):
            screen, live = phase_median(runs[kind], "screen"), phase_median(runs[kind], "live")
            lines.append(f"| {name} | {kind} | {fmt(screen)} | {fmt(live)} | {ratio(screen)} | {ratio(live)} |")
    return "\n".join(lines)


def dashboard_table(res: dict[str, Any]) -> str:
    dash = (res.get("boot") or {}).get("dashboard")
    if not dash or not dash.get("warm"):
        return ""
    runs = dash["warm"]
    lines = ["| figure (warm, ms from navigation start) | median | spread | n |", "| --- | --- | --- | --- |"]
    for key, label in (("screen", f"all {dash['panes']} screens visible (livepane:screen)"),
                       ("first_painted", "first prompt painted"),
                       ("painted", f"all {dash['panes']} prompts painted"),
                       ("live", f"all {dash['panes']} live (a key typed into each is echoed)")):
        fig = Figure(label, "ms", [r[key] for r in runs if r.get(key) is not None])
        lines.append(f"| {label} | {fmt(fig.value)} | {fig.spread_text('{:,.0f}')} | {len(fig.samples)} |")
    return "\n".join(lines)


def throughput_rows(res: dict[str, Any]) -> list[str]:
    tp = res.get("throughput")
    if not tp:
        return []
    file_mb = tp["file_bytes"] / 1e6
    figs = {name: Figure(f"20 MB cat, {name}: file MB/s", "MB/s", [file_mb / r["wall_s"] for r in runs])
            for name, runs in tp["runs"].items()}
    out = []
    for name, fig in figs.items():
        kind, renderer = name.split("-")
        ratio = ""
        other = figs.get(f"purejs-{renderer}")
        if kind == "python" and other is not None and other.value:
            ratio = f"{throughput_ratio(res, renderer):.2f}x pure JS (paired)"
            if renderer == "dom":
                fig.note = "through tmux: see the replay row for the client path alone; "
        runs = tp["runs"][name]
        arrived = median([r["bytes"] / 1e6 / r["wall_s"] for r in runs])
        fig.note += (f"arrived at the page {fmt(arrived, 2)} MB/s "
                     f"({fmt(median([r['bytes'] / 1e6 for r in runs]), 2)} MB of {file_mb:.0f})")
        out.append(row(fig, 2, ratio))
    for name, runs in tp["runs"].items():
        if name.startswith("python"):
            cpu = Figure(f"serve.py CPU per MB delivered ({name})", "s/MB",
                         [r["server_cpu_s"] / (r["bytes"] / 1e6) for r in runs if r["bytes"]])
            cpu.note = "utime+stime from /proc over the cat; per MB of the file: " + fmt(
                median([r["server_cpu_s"] / file_mb for r in runs]), 4) + " s"
            out.append(row(cpu, 3))
    return out


def replay_rows(res: dict[str, Any]) -> list[str]:
    rp = res.get("replay")
    if not rp:
        return []
    figs = {name: Figure(f"client path, {name}: 20 MB replayed in 64 KiB frames", "MB/s",
                         [r["bytes"] / 1e6 / (r["ms"] / 1000) for r in runs]) for name, runs in rp["runs"].items()}
    out = []
    for name, fig in figs.items():
        kind, renderer = name.split("-")
        other = figs.get(f"purejs-{renderer}")
        ratio = ""
        if kind == "python" and other is not None and other.value:
            ratio = f"{replay_ratio(res, renderer):.2f}x pure JS (paired)"
            paired = [a / b for a, b in zip(fig.samples, other.samples, strict=False)]
            fig.note = f"paired ratios {min(paired):.2f}-{max(paired):.2f}"
            if renderer == "dom":
                fig.note += "; target: 0.95x pure JS (see Targets)"
        handler = [r["handlerMs"] / r["frames"] * 1000 for r in rp["runs"][name] if "handlerMs" in r]
        if handler:
            fig.note = (fig.note + "; " if fig.note else "") + f"{median(handler):.0f} us a frame in the page's handler"
        out.append(row(fig, 1, ratio))
    return out


def paired_ratio(a: list[float], b: list[float]) -> float | None:
    """Median of a[i] / b[i]: run i of each page ran back to back, so a pair shares the machine's load of the moment
    (the load drifts over a section; a ratio of the two medians would mix moments)."""
    pairs = [x / y for x, y in zip(a, b, strict=False) if y]
    return median(pairs) if pairs else None


def replay_ratio(res: dict[str, Any], renderer: str = "dom") -> float | None:
    rp = res.get("replay")
    if not rp or f"python-{renderer}" not in rp["runs"]:
        return None
    speed = {k: [r["bytes"] / r["ms"] for r in rp["runs"][f"{k}-{renderer}"]] for k in ("python", "purejs")}
    return paired_ratio(speed["python"], speed["purejs"])


def throughput_ratio(res: dict[str, Any], renderer: str = "dom") -> float | None:
    tp = res.get("throughput")
    if not tp or f"python-{renderer}" not in tp["runs"]:
        return None
    speed = {k: [1 / r["wall_s"] for r in tp["runs"][f"{k}-{renderer}"]] for k in ("python", "purejs")}
    return paired_ratio(speed["python"], speed["purejs"])


def echo_rows(res: dict[str, Any]) -> list[str]:
    echo = res.get("echo")
    if not echo:
        return []
    out = []
    for name, data in echo.items():
        fig = Figure(f"keystroke echo, {name} (in buffer)", "ms", data["parsed"], spread="iqr",
                     target="<= 5" if name == "python-dom" else "")
        fig.note = f"p95 {fmt(percentile(data['parsed'], 0.95), 1)} ms; painted (next frame) median " \
                   f"{fmt(median(data['painted']), 1)}, p95 {fmt(percentile(data['painted'], 0.95), 1)} ms"
        out.append(row(fig, 1))
    return out


def flood_rows(res: dict[str, Any]) -> list[str]:
    fl = res.get("flood")
    if not fl:
        return []
    fig = Figure("Ctrl-C under `yes` until the prompt is painted", "ms", fl["ctrl_c_painted_ms"], target="<= 1000")
    heap = fl["heap"]
    fig.note = (f"JS heap before {fmt(median([h['before_mb'] for h in heap]), 1)} MB, max during "
                f"{fmt(max(h['max_during_mb'] for h in heap), 1)} MB, after GC "
                f"{fmt(median([h['after_gc_mb'] for h in heap]), 1)} MB (wasm memory not included)")
    return [row(fig, 0)]


def reconnect_rows(res: dict[str, Any]) -> list[str]:
    rc = res.get("reconnect")
    if not rc:
        return []
    out = []
    for name, runs in rc.items():
        samples = [r["ms"][0] for r in runs]
        failed = [r["failedTickets"] + r["failedSockets"] for r in runs]
        if name == "SIGHUP":
            fig = Figure("SIGHUP reload: signal to repainted", "ms", samples)
            fail = Figure("SIGHUP reload: failed attempts", "", [float(f) for f in failed], target="<= 0")
            fail.note = "failed ticket fetches + sockets closed before opening, per reload"
            out += [row(fig, 0), row(fail, 0)]
        else:
            fig = Figure(f"{name} (back after 1 s): accepting to repainted", "ms", samples,
                         target="<= 250" if name == "SIGTERM" else "")
            fig.note = (f"close code {','.join(str(c) for r in runs for c in r.get('codes', []))}; failed attempts "
                        f"while down: median {fmt(median([float(f) for f in failed]))}")
            out.append(row(fig, 0))
    return out


def outage_rows(res: dict[str, Any]) -> list[str]:
    ot = res.get("outage")
    if not ot:
        return []
    first = Figure("outage (SIGKILL): drop to first attempt at the port", "ms", [ot["first_ms"]],
                   target=f"<= {ot['first_envelope_ms'][1] + OUTAGE_LATE_SLACK_MS:g}")
    first.note = f"policy: {ot['first_envelope_ms'][1]:g} ms; target allows {OUTAGE_LATE_SLACK_MS} ms for a busy page"
    outside = [g for g in ot["gaps"] if not g[2] - OUTAGE_EARLY_SLACK_MS <= g[1] <= g[3] + OUTAGE_LATE_SLACK_MS]
    gaps = Figure("outage: gaps between attempts outside the policy's envelope", "", [float(len(outside))],
                  target="<= 0")
    gaps.note = "gaps ms (envelope): " + ", ".join(f"{g[1]:.0f} ({g[2]:.0f}-{g[3]:.0f})" for g in ot["gaps"])
    retry = Figure("outage: retry now clicked to attempt at the port", "ms", [ot["retry_now_ms"]], target="<= 500")
    term = Figure("SIGTERM: signal to serve.py exited", "ms", [ot["sigterm_exit_ms"]], target="<= 1000")
    term.note = "every socket closed 1012 and every tmux client ended first"
    return [row(first, 0), row(gaps, 0), row(retry, 0), row(term, 0)]


# Slack on an observed gap: the delay starts when the page sees the failure (after the port's accept), and a busy
# main thread (Pyodide, xterm) may fire a timer late. Timers never fire early.
OUTAGE_EARLY_SLACK_MS = 20
OUTAGE_LATE_SLACK_MS = 300


def herd_rows(res: dict[str, Any]) -> list[str]:
    out: list[str] = []
    hd = res.get("herd")
    if not hd:
        return out
    n = hd["panes"]
    fig = Figure(f"herd of {n}: accepting to all repainted", "ms", [r["ms"][-1] for r in hd["runs"]],
                 target="<= 2000")
    fig.note = (f"median pane {fmt(median([median(r['ms']) for r in hd['runs']]))} ms; first load of the page "
                f"with {n} panes: {fmt(hd.get('first_open_s'), 1)} s; failed attempts while down: "
                f"{fmt(median([float(r['failedTickets'] + r['failedSockets']) for r in hd['runs']]))}")
    out.append(row(fig, 0))
    n = hd["panes"]
    idle, open_ = hd.get("mem_idle", {}), hd.get("mem_open", {})
    if idle and open_:
        per = Figure("serve.py RSS per open pane", "MB",
                     [(open_["serve_rss_mb"] - idle["serve_rss_mb"]) / n])
        per.note = (f"serve.py {fmt(idle['serve_rss_mb'], 1)} MB idle, {fmt(open_['serve_rss_mb'], 1)} MB with {n}; "
                    f"plus {open_.get('children', 0)} tmux clients, {fmt(open_.get('children_rss_mb'), 1)} MB "
                    f"together ({fmt(open_.get('children_rss_mb', 0) / max(1, n), 2)} MB each)")
        out.append(row(per, 2))
    return out


def herd_histogram(res: dict[str, Any], bin_ms: int = 100) -> str:
    hd = res.get("herd")
    if not hd or not hd["runs"]:
        return ""
    arrivals = hd["runs"][0]["arrivals"]
    if not arrivals:
        return ""
    lo = int(min(a[0] for a in arrivals) * 1000 // bin_ms)
    hi = int(max(a[0] for a in arrivals) * 1000 // bin_ms)
    lines = ["| ms from accepting | refused (server down) | tickets | upgrades |", "| --- | --- | --- | --- |"]
    for b in range(lo, hi + 1):
        in_bin = [a for a in arrivals if int(a[0] * 1000 // bin_ms) == b]
        if not in_bin:
            continue
        refused = sum(1 for a in in_bin if not a[2])
        tickets = sum(1 for a in in_bin if a[2] and a[1] == "ticket")
        ups = sum(1 for a in in_bin if a[2] and a[1] == "ws")
        lines.append(f"| {b * bin_ms} to {(b + 1) * bin_ms} | {refused} | {tickets} | {ups} |")
    return "\n".join(lines)


def peers_rows(res: dict[str, Any]) -> list[str]:
    pr = res.get("peers")
    if not pr:
        return []
    out = []
    for name, data in pr.items():
        if data.get("skipped"):
            out.append(f"| {name} | skipped | | | | | {data['skipped']} |")
            continue
        for key, label, unit, digits in (("first_prompt_ms", "first prompt, warm", "ms", 0),
                                         ("echo_ms", "keystroke echo (in buffer)", "ms", 1),
                                         ("restart_ms", "SIGTERM, back after 1 s: accepting to repainted", "ms", 0)):
            if key in data:
                fig = Figure(f"{name}: {label}", unit, data[key])
                fig.note = data.get(f"{key}_note", "")
                out.append(row(fig, digits))
    return out


def typing_rows(res: dict[str, Any]) -> list[str]:
    """One row per figure, each a count over the whole section (one sample: the total), judged against 0."""
    ty = res.get("typing")
    if not ty:
        return []
    out = []
    for kind, k in ty["kinds"].items():
        n = f"{kind} x{k['restarts']}"
        said = (f"page: dropped {k['dropped_bytes']:g} B, may-not-have-arrived {k['uncertain_bytes']:g} B and "
                f"{k['notices']} notices")
        detail = (f"{k['lines']} lines typed near these restarts; lost {k['lost']}, damaged {k['damaged']}, "
                  f"reordered {k['reordered']}; {said}; open again median {fmt(median(k['open_ms']))} ms after the "
                  f"signal")
        if kind == "SIGKILL":
            bad = Figure(f"typing across {n}: lines lost or damaged", "", [float(k["lost"] + k["damaged"])])
            bad.note = detail
            doubled = Figure(f"typing across {n}: lines doubled", "", [float(k["doubled"])], target="<= 0")
            unreported = Figure(f"typing across {n}: losses the page did not report", "", [float(k["unreported"])],
                                target="<= 0")
            unreported.note = "lost or damaged lines after a restart for which the page reported nothing"
            out += [row(bad, 0), row(doubled, 0), row(unreported, 0)]
        else:
            bad = Figure(f"typing across {n}: lines lost or damaged", "", [float(k["lost"] + k["damaged"])],
                         target="<= 0")
            bad.note = detail
            doubled = Figure(f"typing across {n}: lines doubled", "", [float(k["doubled"])], target="<= 0")
            out += [row(bad, 0), row(doubled, 0)]
    reordered = Figure("typing: lines reordered, all restarts", "",
                       [float(sum(k["reordered"] for k in ty["kinds"].values()))], target="<= 0")
    quiet = Figure("typing: lines lost, damaged or doubled away from any restart", "", [float(len(ty["quiet"]))],
                   target="<= 0")
    keys = Figure("typing: keys lost / extra, whole stream", "", [float(ty["keys_lost"])])
    keys.note = (f"{ty['keys_lost']} lost, {ty['keys_extra']} extra of {ty['keys_typed']} typed "
                 f"({ty['typed_lines']} lines typed, {ty['received_lines']} received)"
                 + (f"; e.g. {', '.join(repr(x) for x in ty['examples'][:4])}" if ty["examples"] else ""))
    return [*out, row(reordered, 0), row(quiet, 0), row(keys, 0)]


def capped(runs: list[dict[str, Any]], key: str, cap_ms: float) -> Figure:
    """A time per run, where a run that never got there counts as the cap (so the median is a lower bound)."""
    return Figure("", "ms", [r[key] if r[key] is not None else cap_ms for r in runs])


def capped_note(runs: list[dict[str, Any]], key: str, cap_ms: float) -> str:
    missed = sum(1 for r in runs if r[key] is None)
    return f"{missed} of {len(runs)} not within the {cap_ms / 1000:g} s cap (counted as the cap)" if missed else ""


def silent_rows(res: dict[str, Any]) -> list[str]:
    si = res.get("silent")
    if not si or not si["runs"]:
        return []
    runs, cap = si["runs"], si["cap_ms"]
    left = capped(runs, "left_ms", cap)
    left.name, left.target = "silent server (SIGSTOP): keypress to pane not open", "<= 5000"
    left.note = capped_note(runs, "left_ms", cap)
    back = Figure("silent server: SIGCONT to open again", "ms",
                  [r["back_ms"] for r in runs if r["back_ms"] is not None])
    return [row(left, 0), row(back, 0)]


def offline_rows(res: dict[str, Any]) -> list[str]:
    of = res.get("offline")
    if not of or not of["runs"]:
        return []
    runs, cap = of["runs"], of["cap_ms"]
    said = capped(runs, "caption_ms", cap)
    said.name, said.target = "browser offline: set_offline(True) to the pane saying offline", "<= 1000"
    event = [r["event_ms"] for r in runs if r.get("event_ms") is not None]
    said.note = "; ".join(x for x in (capped_note(runs, "caption_ms", cap),
                                      f"the page's offline event came {fmt(median(event))} ms after the call"
                                      if event else "") if x)
    left = capped(runs, "left_ms", cap)
    left.name = "browser offline: set_offline(True) to pane not open"
    left.note = capped_note(runs, "left_ms", cap)
    back = Figure("browser back online: set_offline(False) to open", "ms",
                  [r["back_ms"] for r in runs if r["back_ms"] is not None])
    return [row(said, 0), row(left, 0), row(back, 0)]


def error_rows(res: dict[str, Any]) -> list[str]:
    return [f"| {name}: FAILED | | | | | | {msg} |" for name, msg in (res.get("errors") or {}).items()]


def render(res: dict[str, Any]) -> str:
    rows = (error_rows(res) + boot_rows(res) + throughput_rows(res) + replay_rows(res) + echo_rows(res)
            + flood_rows(res) + reconnect_rows(res) + outage_rows(res) + herd_rows(res) + typing_rows(res)
            + silent_rows(res) + offline_rows(res) + peers_rows(res))
    parts = [HEADER, *rows]
    bd = boot_breakdown(res)
    if bd:
        parts += ["", "Boot breakdown (median ms from navigation start; peers interleaved with livepane's loads):", "",
                  bd]
    if lt := live_table(res):
        parts += ["", "Screen visible and live (medians of this run, ms from navigation start):", "", lt]
    if dt := dashboard_table(res):
        parts += ["", "Dashboard (one page, every pane its own session):", "", dt]
    hist = herd_histogram(res)
    if hist:
        parts += ["", "Herd: when attempts reached the server (first restart, 100 ms bins):", "", hist]
    return "\n".join(parts)


def targets(res: dict[str, Any]) -> list[str]:
    out = []

    def add(name: str, value: float | None, op: str, limit: float, unit: str) -> None:
        if value is None:
            out.append(f"- {name}: not measured")
            return
        ok = value <= limit if op == "<=" else value >= limit
        out.append(f"- {name}: {value:,.2f} {unit} (target {op} {limit:g}): {'met' if ok else 'NOT met'}")

    rc = res.get("reconnect") or {}
    add("reconnect after SIGTERM, median", median([r["ms"][0] for r in rc.get("SIGTERM", [])]), "<=", 250, "ms")
    hup = rc.get("SIGHUP", [])
    add("SIGHUP failed attempts, total", float(sum(r["failedTickets"] + r["failedSockets"] for r in hup))
        if hup else None, "<=", 0, "")
    hd = res.get("herd") or {}
    add(f"herd of {hd.get('panes', 50)} all open, median", median([r["ms"][-1] for r in hd.get("runs", [])]), "<=",
        2000, "ms")
    add("Python path throughput vs pure JS (DOM), client path alone (replay)", replay_ratio(res), ">=", 0.95, "x")
    add("Python path throughput vs pure JS (DOM), 20 MB cat through tmux", throughput_ratio(res), ">=", 0.95, "x")
    echo = res.get("echo") or {}
    add("echo median (livepane, DOM)", median(echo.get("python-dom", {}).get("parsed", [])), "<=", 5, "ms")
    fl = res.get("flood") or {}
    add("Ctrl-C under flood, median", median(fl.get("ctrl_c_painted_ms", [])), "<=", 1000, "ms")
    ot = res.get("outage") or {}
    add("SIGTERM to serve.py exited", ot.get("sigterm_exit_ms"), "<=", 1000, "ms")
    add("retry now to an attempt at the port", ot.get("retry_now_ms"), "<=", 500, "ms")
    ty = (res.get("typing") or {}).get("kinds") or {}
    for kind in ("SIGTERM", "SIGHUP"):
        k = ty.get(kind)
        add(f"typing across {kind}: lines lost or damaged", float(k["lost"] + k["damaged"]) if k else None, "<=", 0,
            "")
        add(f"typing across {kind}: lines doubled", float(k["doubled"]) if k else None, "<=", 0, "")
    k = ty.get("SIGKILL")
    add("typing across SIGKILL: lines doubled", float(k["doubled"]) if k else None, "<=", 0, "")
    add("typing across SIGKILL: losses the page did not report", float(k["unreported"]) if k else None, "<=", 0, "")
    for name, section, key, limit in (("silent server: keypress to pane not open, median", "silent", "left_ms", 5000),
                                      ("browser offline: to the pane saying offline, median", "offline",
                                       "caption_ms", 1000)):
        sec = res.get(section) or {}
        runs = sec.get("runs") or []
        add(name, median([r[key] if r[key] is not None else sec["cap_ms"] for r in runs]) if runs else None, "<=",
            limit, "ms")
    boot = boot_variants(res).get("baseline")
    if boot:
        for kind, limit in (("warm", 1500), ("cold", 2500)):
            add(f"{kind} first prompt (as committed: from the snapshot)", median([r["painted"] for r in boot[kind]]),
                "<=", limit, "ms")
        ttyd = boot_peers(res).get("ttyd", {})
        ttyd_warm = phase_median(ttyd.get("warm") or [], "painted")
        live_warm, screen_warm = phase_median(boot["warm"], "live"), phase_median(boot["warm"], "screen")
        add("live, warm, vs ttyd's first prompt warm (same run)",
            live_warm / ttyd_warm if live_warm and ttyd_warm else None, "<=", LIVE_VS_TTYD_WARM, "x")
        add("live, cold", phase_median(boot["cold"], "live"), "<=", LIVE_COLD_MS, "ms")
        add("screen visible, warm, vs ttyd's first prompt warm (same run)",
            screen_warm / ttyd_warm if screen_warm and ttyd_warm else None, "<=", SCREEN_VS_TTYD_WARM, "x")
    return out


VARIANTS = {
    "baseline": ("the page as committed: PyScript 0.7.31 boots Pyodide 314.0.7 from web/snapshot (memory snapshot "
                 "with pyclient imported, `make snapshot`) through web/pyodide-snap.mjs, which the <head> imports "
                 "early beside preloads of the whole chain; /vendor/ and ?v= URLs are immutable-cached", "shipped"),
    "no preloads": ("the baseline without the <head>'s preloads (the early interpreter module kept)",
                    "what the preloads add"),
    "no early boot": ("the baseline without the preloads and without the early interpreter module: PyScript imports "
                      "it when it gets there; URLs still versioned (no revalidations)",
                      "what the early boot adds"),
    "no snapshot": ("the same tree with web/snapshot/pyclient.key made stale: serve.py offers no snapshot and the page "
                    "takes its plain-boot fallback", "the snapshot's effect"),
    "snapshot, no PyScript": ("the same snapshot, with PyScript replaced by a 20-line loader (web/bench/loader.mjs) "
                              "that calls loadPyodide and runs main.py",
                              "reported, not shipped: PyScript's own Python start-up runs on every boot"),
}


def boot_medians(res: dict[str, Any], name: str) -> dict[str, float | None]:
    runs = boot_variants(res).get(name)
    if not runs:
        return {"cold": None, "warm": None}
    return {k: median([r["painted"] for r in runs[k] if r.get("painted")]) for k in ("cold", "warm")}


def boot_cuts(res: dict[str, Any]) -> str:
    boot = boot_variants(res)
    if not boot:
        return ""
    base = boot_medians(res, "baseline")
    lines = ["| variant | what changes | cold | warm | vs baseline (cold, warm) | live (cold, warm) | role |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, runs in boot.items():
        what, outcome = VARIANTS.get(name, ("", ""))
        med = boot_medians(res, name)
        ratio = ", ".join(f"{med[k] / base[k]:.2f}x" if med[k] and base[k] else "n/a" for k in ("cold", "warm"))
        live = ", ".join(fmt(phase_median(runs[k], "live")) for k in ("cold", "warm"))
        lines.append(f"| {name} | {what} | {fmt(med['cold'])} ms | {fmt(med['warm'])} ms | {ratio} | {live} ms | "
                     f"{outcome} |")
    return "\n".join(lines)


def peers_table(res: dict[str, Any]) -> str:
    """livepane beside each peer measured in this run (medians in ms); empty when no peer ran."""
    pr = {n: d for n, d in (res.get("peers") or {}).items() if not d.get("skipped")}
    if not pr:
        return ""
    ours = {
        "first_prompt_ms": boot_medians(res, "baseline")["warm"],
        "echo_ms": median(((res.get("echo") or {}).get("python-dom") or {}).get("parsed", [])),
        "restart_ms": median([r["ms"][0] for r in (res.get("reconnect") or {}).get("SIGTERM", [])]),
    }
    labels = {"first_prompt_ms": "first prompt, warm", "echo_ms": "keystroke echo (in buffer)",
              "restart_ms": "SIGTERM, back after 1 s: accepting to repainted"}
    lines = ["| figure | livepane | " + " | ".join(pr) + " |", "| --- | --- | " + " | ".join("---" for _ in pr) + " |"]
    for key, label in labels.items():
        digits = 1 if key == "echo_ms" else 0
        cells = [fmt(value, digits) if (value := median(d.get(key) or [])) is not None else d.get(f"{key}_note", "n/a")
                 for d in pr.values()]
        lines.append(f"| {label} | {fmt(ours[key], digits)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(res: dict[str, Any]) -> str:
    m = res.get("machine") or {}
    date = datetime.datetime.fromtimestamp(res["started"], datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Written by `python bench/run.py` ({'quick' if res.get('quick') else 'full'} run, {date}, commit "
            f"{m.get('commit', '?')}).\n\n"
            f"Machine: {m.get('cpu', '?')}, {m.get('memory', '?')}; {m.get('os', '?')}; Python {m.get('python', '?')}; "
            f"{m.get('chromium', '?')}; {m.get('tmux', '?')}; Pyodide {m.get('pyodide', '?')}, PyScript "
            f"{m.get('pyscript', '?')}, xterm.js {m.get('xterm', '?')}. Load average at the start "
            f"{m.get('load_before', '?')}, at the end {m.get('load', '?')}.")


def results_block(res: dict[str, Any]) -> str:
    """Everything docs/benchmarks.md shows of one run: header, figures, targets, boot variants, peers."""
    parts = [header(res), "", "### Figures", "", render(res), "", "### Targets", "", "\n".join(targets(res))]
    if cuts := boot_cuts(res):
        parts += ["", "### Boot variants (medians of this run, ms to the prompt painted)", "", cuts]
    if peers := peers_table(res):
        parts += ["", "### Peers (medians of this run, ms)", "", peers]
    return "\n".join(parts)


BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def update_doc(doc: str, block: str) -> str:
    """docs/benchmarks.md with the text between its markers replaced by ``block``; the hand-kept rest unchanged."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(doc):
        raise ValueError(f"docs/benchmarks.md has no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", doc, count=1)
