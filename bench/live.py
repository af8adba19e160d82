"""Recovery after server restarts, a herd of panes, and the server's memory per pane.

- Restart: the pane shows a marker line (``MARK-<n>``); the server is stopped (SIGTERM: sockets closed 1012;
  SIGKILL: the browser sees 1006) and started again 1 s after the stop. The figure is the time from the port
  accepting again (polled every 2 ms) until the pane is ``data-state=open`` with the marker back in xterm's buffer
  (after the client's reset and tmux's repaint). SIGHUP (zero-downtime reload): the time from the signal until
  repainted, and the failed attempts (failed ticket fetches plus sockets that closed without opening; must be 0).
- Herd: N panes on one page (one Pyodide), N sessions; the server is stopped with SIGTERM and started again. Time
  from the port accepting until every pane is open and repainted; the page talks to serve.py through a counting
  TCP proxy (harness.CountingProxy) that records when each ticket request and socket upgrade reaches the server.
- Memory: serve.py's RSS (and its tmux client children's) with 0 panes and with the herd open.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import harness as H

STABLE_WAIT_S = 5.5  # > ReconnectPolicy.stable_after_ms

REPAINTED_JS = """([sessions, marker, sinceEpoch, key]) => {
  // Record, per session, when its pane is open and its buffer holds the marker again, for a socket created after
  // sinceEpoch (so a stale screen from before the restart does not count).
  const B = window.__bench;
  B.results = B.results || {};
  const since = sinceEpoch - performance.timeOrigin;
  const done = (B.results[key] = {});
  const check = (rec, t) => {
    if (!sessions.includes(rec.session) || done[rec.session]) return;
    const socks = B.sockets.filter((s) => s.session === rec.session && s.created >= since && s.open !== null);
    if (!socks.length) return;
    const root = document.querySelector(`[data-session="${rec.session}"]`);
    if (root && root.dataset.state !== undefined && root.dataset.state !== 'open') return;
    if (!B.lines(rec.term).some((l) => l.includes(marker))) return;
    done[rec.session] = performance.timeOrigin + t;
  };
  B.watch((rec, t) => { check(rec, t); return sessions.every((s) => done[s]); });
}"""


def failed_attempts_js() -> str:
    return """([sessions, sinceEpoch]) => {
      const B = window.__bench, since = sinceEpoch - performance.timeOrigin;
      const tickets = B.fetches.filter((f) => f.url.includes('/api/ticket') && f.start >= since);
      const failedTickets = tickets.filter((f) => f.error !== null || (f.status !== null && f.status !== 200)).length;
      const socks = B.sockets.filter((s) => sessions.includes(s.session) && s.created >= since);
      const failedSockets = socks.filter((s) => s.open === null && s.closed !== null).length;
      // When the sockets open at the signal saw their close, relative to the signal (ms), and with which code.
      const old = B.sockets.filter((s) => sessions.includes(s.session) && s.created < since && s.closed !== null
                                          && s.closed >= since);
      const dropMs = old.map((s) => s.closed - since), codes = [...new Set(old.map((s) => s.code))];
      // The sockets that opened: when the page created each and when it opened (epoch ms), to tell a page that
      // creates its sockets late from a browser that holds their handshakes back.
      const opened = socks.filter((s) => s.open !== null).map((s) => [performance.timeOrigin + s.created,
                                                                     performance.timeOrigin + s.open]);
      return { failedTickets, failedSockets, tickets: tickets.length, sockets: socks.length, dropMs, codes, opened };
    }"""


async def show_marker(stack: H.Stack, page: Any, sessions: list[str], marker: str) -> None:
    for s in sessions:
        stack.send_keys(s, "clear; echo " + marker.replace("-", "-''"), "Enter")
    await H.wait_js(
        page, "([ss, m]) => ss.every((s) => window.__bench.screen(s).split('\\n').some((l) => l.trim() === m))", 30,
        arg=[sessions, marker])


async def watch_repaint(page: Any, sessions: list[str], marker: str) -> tuple[str, float]:
    """Arms REPAINTED_JS for a restart signalled now; returns its results key and the signal's time.time()."""
    key = f"restart-{marker}"
    t_signal = time.time()
    await page.evaluate(REPAINTED_JS, [sessions, marker, t_signal * 1000, key])
    return key, t_signal


async def down_and_up(stop: Callable[[], Awaitable[Any]], start: Callable[[], Awaitable[Any]], port: int,
                      t_signal: float, down_s: float = 1.0) -> float | None:
    """stop(), stay down until down_s after t_signal, start(); when the port accepts again (None: not within 20 s)."""
    await stop()
    await asyncio.sleep(max(0.0, t_signal + down_s - time.time()))
    await start()
    return await H.wait_port(port, 20)


async def restart(stack: H.Stack, page: Any, sessions: list[str], sig: int, marker: str,
                  down_s: float = 1.0, timeout_s: float = 30) -> dict[str, Any]:
    key, t_signal = await watch_repaint(page, sessions, marker)
    stack.signal_server(sig)
    if sig == signal.SIGHUP:
        t_accept = t_signal  # the listening socket never closes: measured from the signal
    else:
        t_accept = await down_and_up(stack.wait_server_gone, lambda: stack.start_server(wait=False), stack.port,
                                     t_signal, down_s)
        if t_accept is None:
            raise RuntimeError("serve.py did not come back")
    await H.wait_js(page, "([ss, k]) => { const d = window.__bench.results[k]; return ss.every((s) => d[s]); }",
                    timeout_s, arg=[sessions, key], polling=50)
    done = await page.evaluate(f"window.__bench.results['{key}']")
    failed = await page.evaluate(failed_attempts_js(), [sessions, t_signal * 1000])
    times_ms = sorted((done[s] / 1000 - t_accept) * 1000 for s in sessions)
    failed["opened"] = [[(c / 1000 - t_accept) * 1000, (o / 1000 - t_accept) * 1000] for c, o in failed["opened"]]
    return {"t_signal": t_signal, "t_accept": t_accept, "ms": times_ms, **failed}


async def reconnect(stack: H.Stack, runs: int, log: Any) -> dict[str, list[dict[str, Any]]]:
    session = "rc"
    stack.new_session(session)
    ctx = await stack.browser()
    out: dict[str, list[dict[str, Any]]] = {"SIGTERM": [], "SIGKILL": [], "SIGHUP": []}
    try:
        page = await H.page_for(ctx)
        await page.goto(f"{stack.base}/?session={session}", wait_until="commit")
        await H.wait_js(page, f"window.__bench && window.__bench.events['prompt-frame:{session}']", 90)
        n = 0
        for i in range(runs):
            for name, sig in (("SIGTERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL), ("SIGHUP", signal.SIGHUP)):
                n += 1
                marker = f"MARK-{n}"
                await show_marker(stack, page, [session], marker)
                r = await restart(stack, page, [session], sig, marker)
                out[name].append(r)
                log(f"  {name} #{i + 1}: repainted {r['ms'][0]:.0f} ms after "
                    f"{'the signal' if sig == signal.SIGHUP else 'the port accepted'}; failed attempts "
                    f"{r['failedTickets'] + r['failedSockets']}")
                # Let the new connection become stable (pyclient's stable_after_ms is 5 s): a drop sooner counts as
                # flapping and escalates the next delay, which would measure the previous restart, not this one.
                await asyncio.sleep(STABLE_WAIT_S)
        return out
    finally:
        await stack.close_browser(ctx)


def server_memory(stack: H.Stack) -> dict[str, float]:
    pid = stack.server_pid()
    if pid is None:
        return {}
    tree = H.proc_tree(pid)
    children = [p for p in tree if p != pid]
    return {
        "serve_rss_mb": H.proc_rss_bytes(pid) / 1e6,
        "children": len(children),
        "children_rss_mb": sum(H.proc_rss_bytes(p) for p in children if _alive(p)) / 1e6,
    }


def _alive(pid: int) -> bool:
    try:
        H.proc_rss_bytes(pid)
    except OSError:
        return False
    return True


async def herd(stack: H.Stack, panes: int, runs: int, log: Any) -> dict[str, Any]:
    sessions = [f"h{i:02d}" for i in range(panes)]
    for s in sessions:
        stack.new_session(s, 80, 24)
    mem0 = server_memory(stack)
    proxy = H.CountingProxy(stack.port)
    await proxy.start()
    # A tall window, so 50 panes get a usable size each (the page stacks them).
    ctx = await stack.browser(viewport={"width": 1600, "height": 1200})
    out: dict[str, Any] = {"panes": panes, "mem_idle": mem0, "runs": []}
    try:
        page = await H.page_for(ctx)
        query = "&".join(f"session={s}" for s in sessions)
        t0 = time.monotonic()
        await page.goto(f"http://127.0.0.1:{proxy.port}/?{query}", wait_until="commit")
        await H.wait_js(page, "(ss) => ss.every((s) => window.__bench.events['prompt:' + s])", 180, arg=sessions,
                        polling=100)
        out["first_open_s"] = time.monotonic() - t0
        await asyncio.sleep(1.0)
        out["mem_open"] = server_memory(stack)
        log(f"  {panes} panes open after {out['first_open_s']:.1f} s; serve.py RSS "
            f"{mem0.get('serve_rss_mb', 0):.1f} -> {out['mem_open'].get('serve_rss_mb', 0):.1f} MB")
        for i in range(runs):
            marker = f"HERD-{i}"
            await show_marker(stack, page, sessions, marker)
            proxy.arrivals.clear()
            proxy.answers.clear()
            r = await restart(stack, page, sessions, signal.SIGTERM, marker, down_s=1.0, timeout_s=60)
            arrivals = [(t - r["t_accept"], kind, ok) for t, kind, ok in proxy.arrivals if t >= r["t_signal"]]
            r["arrivals"] = arrivals
            # How long serve.py took to answer each upgrade (request in -> 101 out), as seen on the proxy.
            r["upgrade_ms"] = sorted((a - q) * 1000 for q, a in proxy.answers if q >= r["t_accept"])
            out["runs"].append(r)
            log(f"  herd #{i + 1}: all {panes} repainted {r['ms'][-1]:.0f} ms after the port accepted "
                f"(median pane {H.median(r['ms']):.0f} ms); {sum(1 for a in arrivals if a[1] == 'ws')} upgrades, "
                f"{sum(1 for a in arrivals if not a[2])} refused")
            await asyncio.sleep(1.0)
        return out
    finally:
        await stack.close_browser(ctx)
        await proxy.aclose()


async def outage(stack: H.Stack, log: Any) -> dict[str, Any]:
    """SIGKILL and stay down: when each attempt reaches the port, against the policy's envelope; how soon a click on
    "retry now" reaches it; and the time from SIGTERM until serve.py has exited. (The e2e story test_outage.py checks
    the behaviour; these are its speeds.)"""
    from pyclient.reconnect import ReconnectPolicy, delay_envelope_ms

    policy = ReconnectPolicy()
    session = "out"
    stack.new_session(session)
    proxy = H.CountingProxy(stack.port)
    await proxy.start()
    ctx = await stack.browser()
    out: dict[str, Any] = {}
    try:
        page = await H.page_for(ctx)
        await page.goto(f"http://127.0.0.1:{proxy.port}/?session={session}", wait_until="commit")
        await H.wait_js(page, f"window.__bench && window.__bench.events['prompt-frame:{session}']", 90)
        await asyncio.sleep(STABLE_WAIT_S)  # a stable connection first: the drop is then failure 1

        def refused() -> list[float]:
            return [t for t, kind, ok in proxy.arrivals if kind == "ticket" and not ok]

        async def until(condition: Callable[[], bool], timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError("outage: timed out")
                await asyncio.sleep(0.005)

        proxy.arrivals.clear()
        t_kill = time.time()
        stack.signal_server(signal.SIGKILL)
        await stack.wait_server_gone()
        await until(lambda: len(refused()) >= 5, 15)
        times = refused()
        out["first_ms"] = (times[0] - t_kill) * 1000
        out["first_envelope_ms"] = [policy.first_retry_ms, policy.first_retry_ms]
        # The gap after attempt k is the delay after failure k + 1 (the drop was failure 1).
        out["gaps"] = [[k + 2, (b - a) * 1000, *delay_envelope_ms(policy, k + 2)]
                       for k, (a, b) in enumerate(itertools.pairwise(times))]
        # "retry now" while the pane waits: click to the attempt at the port.
        selector = f'section.pane[data-session="{session}"]'
        await H.wait_js(page, "s => window.livepane.stats(s).phase === 'waiting'", 10, arg=session, polling=10)
        before = len(refused())
        t_click = time.time()
        await page.click(f"{selector} .retry-now")
        await until(lambda: len(refused()) > before, 5)
        out["retry_now_ms"] = (refused()[before] - t_click) * 1000
        log(f"  first attempt {out['first_ms']:.0f} ms after SIGKILL; gaps "
            + ", ".join(f"{g:.0f} ({lo:.0f}-{hi:.0f})" for _, g, lo, hi in out["gaps"])
            + f" ms; retry now -> attempt {out['retry_now_ms']:.0f} ms")
        await stack.start_server()
        await H.wait_js(page, f"document.querySelector('{selector}').dataset.state === 'open'", 30, polling=50)
        # SIGTERM: signal until serve.py has exited (every socket closed 1012, every bridge ended).
        t_term = time.monotonic()
        stack.signal_server(signal.SIGTERM)
        await stack.wait_server_gone(10)
        out["sigterm_exit_ms"] = (time.monotonic() - t_term) * 1000
        log(f"  SIGTERM to exit {out['sigterm_exit_ms']:.0f} ms")
        await stack.start_server()
        return out
    finally:
        await stack.close_browser(ctx)
        await proxy.aclose()
