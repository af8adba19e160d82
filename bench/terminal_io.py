"""Output throughput, keystroke echo and Ctrl-C under a flood, on the livepane page and on the pure-JS page.

Both pages talk to the same serve.py and tmux, and the pure-JS page (web/bench/purejs.html) is given the same
columns x rows as the livepane pane, so the bytes tmux sends are comparable; the Python path's cost is the ratio of
the two, measured in the same run with the runs interleaved.

- Throughput: ``cat`` of a 20 MB file, typed by tmux send-keys; wall time from the keys sent until the line the
  command prints after it (``DONE-<run>``) is parsed into xterm's buffer. tmux forwards screen changes, not every byte,
  so the report gives both the bytes that reached the page (the probe counts output frames) and the file's size.
  serve.py's CPU time (utime+stime from /proc) over the same window gives CPU seconds per MB delivered.
- Echo: a key pressed (Chromium input, the keydown's own timestamp) until the echoed text is in xterm's buffer
  (write parsed) and until the next animation frame (painted). Keys are typed at the prompt in batches of 20, the
  line cleared with Ctrl-U between batches.
- Flood: ``yes`` runs for a while; Ctrl-C until the prompt is back on the cursor line; the tab's JS heap (CDP
  Runtime.getHeapUsage) sampled before, during and after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import harness as H

FILE_MB = 20


def make_output_file(path: Path, megabytes: int) -> int:
    """Printable lines of varying length (like a log), so xterm does real wrapping and scrolling work."""
    line_parts = [f"{i:07d} the quick brown fox jumps over the lazy dog {'=' * (i % 50)}\n" for i in range(2000)]
    chunk = "".join(line_parts).encode()
    target = megabytes * 1_000_000
    with path.open("wb") as f:
        written = 0
        while written < target:
            part = chunk[: target - written]
            f.write(part)
            written += len(part)
        f.write(b"\n")  # the marker line that follows must start a line of its own
    return written + 1


def page_url(stack: H.Stack, kind: str, session: str, size: tuple[int, int] | None, renderer: str = "dom") -> str:
    if kind == "python":
        return f"{stack.base}/?session={session}" + ("&renderer=webgl" if renderer == "webgl" else "")
    q = (f"session={session}&xterm={H.vendor('@xterm/xterm')}&fit={H.vendor('@xterm/addon-fit')}"
         f"&webgl={H.vendor('@xterm/addon-webgl')}&renderer={renderer}")
    if size:
        q += f"&cols={size[0]}&rows={size[1]}"
    return f"{stack.base}/static/bench/purejs.html?{q}"


async def open_pane(stack: H.Stack, ctx: Any, kind: str, session: str, size: tuple[int, int] | None = None,
                    renderer: str = "dom") -> Any:
    page = await ctx.new_page()
    await page.goto(page_url(stack, kind, session, size, renderer), wait_until="commit")
    await H.wait_js(page, f"window.__bench && window.__bench.events['prompt-frame:{session}']", 90)
    return page


async def term_size(page: Any, session: str) -> tuple[int, int]:
    cols, rows = await page.evaluate("(s) => { const t = window.__bench.term(s); return [t.cols, t.rows]; }", session)
    return int(cols), int(rows)


async def open_pages(stack: H.Stack, ctx: Any, prefix: str, renderers: tuple[str, ...]
                     ) -> AsyncIterator[tuple[str, Any, str, tuple[int, int]]]:
    """A livepane page and a pure-JS page per renderer, one at a time, each on its own session
    ``<prefix>-<kind>-<renderer>`` given the first livepane pane's size; yields (name, page, session, that size)."""
    size = None
    for renderer in renderers:
        for kind in ("python", "purejs"):
            session = f"{prefix}-{kind}-{renderer}"
            stack.new_session(session, *(size or (120, 40)))
            page = await open_pane(stack, ctx, kind, session, size, renderer)
            if size is None:
                size = await term_size(page, session)
            yield f"{kind}-{renderer}", page, session, size


async def output_bytes(page: Any, session: str) -> int:
    return int(await page.evaluate(
        "(s) => window.__bench.sockets.filter((x) => x.session === s).reduce((a, x) => a + x.outputBytes, 0)", session))


async def frames(page: Any, session: str) -> int:
    return int(await page.evaluate(
        "(s) => window.__bench.sockets.filter((x) => x.session === s).reduce((a, x) => a + x.messages, 0)", session))


WATCH_LINE_JS = """([session, text, key]) => {
  const B = window.__bench;
  B.results = B.results || {};
  B.results[key] = null;
  B.watch((rec, t) => {
    if (rec.session !== session) return false;
    if (!B.lines(rec.term).some((l) => l.trim() === text)) return false;
    B.results[key] = { parsed: t, epoch: performance.timeOrigin + t };
    requestAnimationFrame(() => { B.results[key].frame = performance.now(); });
    return true;
  });
}"""


async def throughput_once(stack: H.Stack, page: Any, session: str, path: Path, tag: str) -> dict[str, float]:
    await page.evaluate(WATCH_LINE_JS, [session, f"DONE-{tag}", tag])
    before = await output_bytes(page, session)
    frames_before = await frames(page, session)
    server_pid = stack.server_pid()
    cpu0 = H.proc_cpu_s(server_pid) if server_pid else 0.0
    t0 = time.time()
    # The quotes keep the typed command line from matching the marker line that echo prints.
    stack.send_keys(session, f"cat {path}; echo DONE-'{tag}'", "Enter")
    await H.wait_js(page, f"window.__bench.results['{tag}'] && window.__bench.results['{tag}'].frame", 300)
    epoch = await page.evaluate(f"window.__bench.results['{tag}'].epoch")
    cpu1 = H.proc_cpu_s(server_pid) if server_pid else 0.0
    after = await output_bytes(page, session)
    wall = epoch / 1000 - t0
    return {"wall_s": wall, "bytes": after - before, "frames": await frames(page, session) - frames_before,
            "server_cpu_s": cpu1 - cpu0}


CLEARED_JS = """(s) => {
  const lines = window.__bench.lines(window.__bench.term(s));  // the last one is tmux's status line
  return lines[0].startsWith(window.__benchPrompt) && lines.slice(1, -1).every((line) => line.trim() === "");
}"""


async def clear_screen(stack: H.Stack, page: Any, session: str) -> None:
    """``clear`` in the session, until the page shows just the prompt."""
    stack.send_keys(session, "clear", "Enter")
    await H.wait_js(page, CLEARED_JS, 30, arg=session)


async def open_all(stack: H.Stack, ctx: Any, prefix: str, renderers: tuple[str, ...]
                   ) -> tuple[dict[str, tuple[Any, str]], tuple[int, int] | None]:
    """Every page of open_pages: {name: (page, session)} and the pane size they share."""
    pages: dict[str, tuple[Any, str]] = {}
    size = None
    async for name, page, session, pane_size in open_pages(stack, ctx, prefix, renderers):
        pages[name], size = (page, session), pane_size
    return pages, size


async def throughput(stack: H.Stack, runs: int, log: Any, renderers: tuple[str, ...] = ("dom",)) -> dict[str, Any]:
    """Interleaved runs on the livepane page and the pure-JS page, each with its own session of the same size."""
    path = stack.workdir / "out.txt"
    file_bytes = make_output_file(path, FILE_MB)
    ctx = await stack.browser()
    try:
        pages, size = await open_all(stack, ctx, "tp", renderers)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
        for i in range(runs):
            for name, (page, session) in pages.items():
                await page.bring_to_front()
                await clear_screen(stack, page, session)
                r = await throughput_once(stack, page, session, path, f"{name}{i}")
                r["file_bytes"] = file_bytes
                results[name].append(r)
                log(f"  {name} #{i + 1}: {r['wall_s']:.2f} s, {r['bytes'] / 1e6:.2f} MB arrived, "
                    f"server CPU {r['server_cpu_s']:.2f} s")
        return {"size": size, "file_bytes": file_bytes, "runs": results}
    finally:
        await stack.close_browser(ctx)


async def replay(stack: H.Stack, runs: int, log: Any, renderers: tuple[str, ...] = ("dom",),
                 total_bytes: int = FILE_MB * 1_000_000, frame_bytes: int = 64 * 1024) -> dict[str, Any]:
    """The client path alone: 20 MB of output frames handed to each page's own message handler (bench/probe.js
    B.replay) until xterm has parsed them; no tmux, no network. Pages interleaved, same terminal size. Each page
    first gets one unmeasured replay: the first 20 MB on a fresh page run ~1.5x slower on both pages (JIT warm-up),
    which would otherwise add its noise to the ratio."""
    ctx = await stack.browser()
    try:
        pages, size = await open_all(stack, ctx, "rp", renderers)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
        replay_js = "([s, n, f]) => window.__bench.replay(s, n, f)"
        for page, session in pages.values():
            await page.bring_to_front()
            await page.evaluate(replay_js, [session, total_bytes, frame_bytes])  # warm-up, not measured
            await page.evaluate("(s) => window.__bench.term(s).clear()", session)
        for i in range(runs):
            for name, (page, session) in pages.items():
                await page.bring_to_front()
                r = await page.evaluate(replay_js, [session, total_bytes, frame_bytes])
                results[name].append(r)
                log(f"  {name} #{i + 1}: {r['bytes'] / 1e6 / (r['ms'] / 1000):.1f} MB/s, "
                    f"{r['handlerMs'] / r['frames'] * 1000:.0f} us per frame in the page's handler")
                await page.evaluate("(s) => window.__bench.term(s).clear()", session)
        return {"size": size, "frame_bytes": frame_bytes, "runs": results}
    finally:
        await stack.close_browser(ctx)


# ---------------------------------------------------------------------------------------------------------------------
# Echo


ECHO_WATCH_JS = """([session, expected, key, keyName, exact]) => {
  // After the key named keyName is pressed (its trusted keydown), the first parse that puts `expected` on the
  // cursor line (at its end, or the whole trimmed line when exact) records the delay.
  const B = window.__bench;
  B.results = B.results || {};
  B.results[key] = null;
  const keysBefore = B.keys.length;
  B.watch((rec, t) => {
    if (rec.session !== session) return false;
    const k = B.keys.slice(keysBefore).find((x) => x.key === keyName);
    if (!k) return false;
    const line = B.cursorLine(rec.term);
    if (exact ? line.trim() !== expected : !line.endsWith(expected)) return false;
    B.results[key] = { parsed: t, key: k.t };
    requestAnimationFrame(() => { B.results[key].frame = performance.now(); });
    return true;
  });
}"""


async def echo(page: Any, session: str, keys: int, label: str, *, click: bool = True) -> dict[str, list[float]]:
    parsed, painted = [], []
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    if click:
        await page.locator(f'[data-session="{session}"]').first.click()
    typed = ""
    for i in range(keys):
        if i % 20 == 0 and typed:
            await page.keyboard.press("Control+u")
            await H.wait_js(page, "([s, p]) => window.__bench.cursorLine(window.__bench.term(s)).trim() === p", 10,
                            arg=[session, H.PROMPT.strip()])
            typed = ""
        ch = alphabet[i % 26]
        typed += ch
        key = f"echo-{label}-{i}"
        await page.evaluate(ECHO_WATCH_JS, [session, H.PROMPT + typed, key, ch, False])
        await page.keyboard.press(ch)
        r = await H.wait_js(page, f"window.__bench.results['{key}'] && window.__bench.results['{key}'].frame && "
                                  f"window.__bench.results['{key}']", 10)
        parsed.append(r["parsed"] - r["key"])
        painted.append(r["frame"] - r["key"])
    await page.keyboard.press("Control+u")
    return {"parsed": parsed, "painted": painted}


async def echo_bench(stack: H.Stack, keys: int, log: Any, renderers: tuple[str, ...] = ("dom",)) -> dict[str, Any]:
    ctx = await stack.browser()
    out: dict[str, Any] = {}
    try:
        async for name, page, session, _ in open_pages(stack, ctx, "echo", renderers):
            await page.bring_to_front()
            out[name] = await echo(page, session, keys, name)
            p = out[name]["parsed"]
            log(f"  {name}: echo median {H.median(p):.1f} ms, p95 {H.percentile(p, 0.95):.1f} ms")
            await page.close()
        return out
    finally:
        await stack.close_browser(ctx)


# ---------------------------------------------------------------------------------------------------------------------
# Flood


async def heap_mb(cdp: Any) -> float:
    usage = await cdp.send("Runtime.getHeapUsage")
    return usage["usedSize"] / 1e6


async def flood(stack: H.Stack, runs: int, flood_s: float, log: Any) -> dict[str, Any]:
    ctx = await stack.browser()
    out: dict[str, Any] = {"ctrl_c_parsed_ms": [], "ctrl_c_painted_ms": [], "heap": []}
    try:
        session = "flood"
        stack.new_session(session)
        page = await open_pane(stack, ctx, "python", session)
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Runtime.enable")
        await page.locator(f'[data-session="{session}"]').first.click()
        for i in range(runs):
            await cdp.send("HeapProfiler.collectGarbage")
            heap0 = await heap_mb(cdp)
            before = await output_bytes(page, session)
            await page.keyboard.type("yes\n")
            samples = []
            t_end = time.monotonic() + flood_s
            while time.monotonic() < t_end:
                await asyncio.sleep(0.25)
                samples.append(await heap_mb(cdp))
            key = f"flood{i}"
            await page.evaluate(ECHO_WATCH_JS, [session, H.PROMPT.strip(), key, "c", True])
            await page.keyboard.press("Control+c")
            r = await H.wait_js(page, f"window.__bench.results['{key}'] && window.__bench.results['{key}'].frame && "
                                      f"window.__bench.results['{key}']", 30)
            flooded = await output_bytes(page, session) - before
            await asyncio.sleep(0.5)
            await cdp.send("HeapProfiler.collectGarbage")
            heap1 = await heap_mb(cdp)
            out["ctrl_c_parsed_ms"].append(r["parsed"] - r["key"])
            out["ctrl_c_painted_ms"].append(r["frame"] - r["key"])
            out["heap"].append({"before_mb": heap0, "max_during_mb": max(samples), "after_gc_mb": heap1,
                                "flood_mb": flooded / 1e6})
            log(f"  flood #{i + 1}: Ctrl-C -> prompt {r['frame'] - r['key']:.0f} ms; heap {heap0:.1f} -> max "
                f"{max(samples):.1f} -> {heap1:.1f} MB; {flooded / 1e6:.1f} MB of output")
            await page.keyboard.press("Control+l")
        return out
    finally:
        await stack.close_browser(ctx)
