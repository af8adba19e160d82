"""Processes and measurements the benchmarks share: an isolated tmux server, serve.py, Chromium, /proc readings.

Rules:
- Everything started here is owned by a :class:`Stack` and stopped when it closes, on success or error. tmux and
  serve.py are tests/launch.py's (the tests start them the same way): serve.py (and any successor a SIGHUP starts)
  runs in its own process group, killed by that group's id; the tmux server is ours alone
  (``tmux -L lpbench-<pid>-<hex>``) and is killed with ``kill-server``; Chromium is closed through Playwright.
- No timing is asserted anywhere: a bench reports, it never fails on a number. Every wait has a deadline.
- Figures are medians with their spread over several runs; comparisons are measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))  # pyclient: the sections read the reconnect policy's numbers from it
# One launch recipe for tests and bench: Chromium's flags, the tmux wrapper and the serve.py launcher.
from launch import ServeProcess, Tmux  # noqa: E402
from support import CHROMIUM, CHROMIUM_ARGS, async_wait_until, free_port, port_accepts  # noqa: E402

# V8 writes a wasm module's code cache only after a wait that Chromium 156 reschedules for ~16 minutes of the page
# being open (docs/benchmarks.md, "V8's code cache"): a warm profile primed by one short load would never have it,
# and every "warm" load would compile Pyodide's 9.6 MB again. With the wait at 0 the priming load writes it, so a
# warm load is a user's who once kept the page open; V8's flags are part of the cache entry, so every load (peers'
# too, alike) runs with the same flags.
BENCH_CHROMIUM_ARGS = [*CHROMIUM_ARGS, "--js-flags=--wasm-caching-timeout-ms=0"]

PROBE_JS = (Path(__file__).resolve().parent / "probe.js").read_text()
PROMPT = "bench$ "  # PS1 of every bench shell: what "the prompt is painted" looks for
SHELL = f"env PS1='{PROMPT}' bash --norc --noprofile"  # no rc files: root's .bashrc adds ~130 ms per shell
VIEWPORT = {"width": 1280, "height": 800}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def sys_executable() -> str:
    return sys.executable


def kill_groups(pgids: set[int]) -> None:
    """SIGKILL every process group in pgids (ones we started with start_new_session); gone ones are skipped."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


async def wait_port(port: int, timeout_s: float, *, interval_s: float = 0.002) -> float | None:
    """Poll until the port accepts; returns the wall-clock time (time.time()) it first did, or None on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_accepts(port):
            return time.time()
        await asyncio.sleep(interval_s)
    return None


def package_version(pkg: str) -> str:
    return json.loads((ROOT / "web" / "node_modules" / pkg / "package.json").read_text())["version"]


def vendor(pkg: str) -> str:
    return f"/vendor/{pkg}@{package_version(pkg)}"


# ---------------------------------------------------------------------------------------------------------------------
# /proc


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def proc_children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def proc_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            todo += proc_children(p)
            pids.append(p)
    return pids


# ---------------------------------------------------------------------------------------------------------------------
# Statistics


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Figure:
    """One reported number: the median of samples, with min-max (or IQR) as its spread."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    target: str = ""  # e.g. "<= 250"; judged on the median
    spread: str = "min-max"

    @property
    def value(self) -> float | None:
        return median(self.samples)

    def spread_text(self, fmt: str) -> str:
        if len(self.samples) < 2:
            return ""
        if self.spread == "iqr":
            return f"IQR {fmt.format(percentile(self.samples, 0.25))}-{fmt.format(percentile(self.samples, 0.75))}"
        return f"{fmt.format(min(self.samples))}-{fmt.format(max(self.samples))}"

    def met(self) -> str:
        if not self.target or self.value is None:
            return ""
        op, _, limit = self.target.partition(" ")
        ok = self.value <= float(limit) if op == "<=" else self.value >= float(limit)
        return "met" if ok else "NOT met"


# ---------------------------------------------------------------------------------------------------------------------
# The stack: tmux, serve.py, Chromium


class Stack:
    """One isolated tmux server and one serve.py on a free port, plus the browsers opened against it."""

    def __init__(self, workdir: Path, *, log_level: str = "info", root: Path = ROOT) -> None:
        self.workdir = workdir
        self.root = root  # the folder holding serve.py, web/ and pyclient/: ROOT, or a variant tree under workdir
        self.tmux = Tmux(f"lpbench-{os.getpid()}-{secrets.token_hex(3)}", shell=SHELL)
        self.token = secrets.token_hex(16)
        self.serve = ServeProcess(self.tmux, workdir, token=self.token, default_session="main", log_level=log_level,
                                  root=root)
        self.port = self.serve.port
        self._signalled: int | None = None
        self.playwright: Any = None
        self.contexts: list[Any] = []
        self.profiles: list[Path] = []

    @property
    def base(self) -> str:
        return self.serve.origin

    @property
    def tmux_socket(self) -> str:
        return self.tmux.socket_name

    # -- tmux ------------------------------------------------------------------------------------------------------

    def new_session(self, name: str, columns: int = 120, rows: int = 40) -> None:
        self.tmux.new_session(name, columns, rows)

    def send_keys(self, session: str, *keys: str) -> None:
        self.tmux.send_keys(session, *keys)

    # -- serve.py (tests/launch.py's ServeProcess) -----------------------------------------------------------------

    async def start_server(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start serve.py; with ``wait``, until it serves (the caller times the port itself otherwise)."""
        proc = self.serve.spawn()
        if wait:
            try:
                await async_wait_until(self.serve.ready, 20, "serve.py to serve")
            except AssertionError as exc:
                raise RuntimeError(f"serve.py did not start; see {self.serve.log_path}") from exc
        return proc

    def server_pid(self) -> int | None:
        """The serving process: a SIGHUP successor rewrites the pid file."""
        return self.serve.pid or (self.serve.proc.pid if self.serve.proc else None)

    def signal_server(self, sig: int) -> None:
        self._signalled = self.serve.send_signal(sig)

    @property
    def signalled_pid(self) -> int | None:
        """The process signal_server signalled last (None if nothing served)."""
        return self._signalled

    async def wait_server_gone(self, timeout_s: float = 5) -> None:
        """Until the process signalled last has exited (no error at the deadline: the caller's start will tell)."""
        pid = self._signalled
        deadline = time.monotonic() + timeout_s
        while pid is not None and not self.serve.exited(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    # -- Chromium ----------------------------------------------------------------------------------------------------

    async def browser(self, *, profile: Path | None = None, viewport: dict[str, int] | None = None,
                      authorize: bool = True, init: str = "", bypass_csp: bool = False) -> Any:
        """A persistent context (warm loads keep the wasm in the HTTP cache); a fresh profile when none is given."""
        if self.playwright is None:
            from playwright.async_api import async_playwright

            self.playwright = await async_playwright().start()
        if profile is None:
            profile = Path(tempfile.mkdtemp(prefix="lpbench-profile-", dir=self.workdir))
            self.profiles.append(profile)
        ctx = await self.playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=BENCH_CHROMIUM_ARGS, headless=True,
            viewport=viewport or VIEWPORT, bypass_csp=bypass_csp,
        )
        self.contexts.append(ctx)
        await ctx.add_init_script(f"window.__benchPrompt = {json.dumps(PROMPT.strip())};\n{init}\n" + PROBE_JS)
        if authorize:
            await self.authorize(ctx)
        return ctx

    async def authorize(self, ctx: Any) -> None:
        """Set the auth cookie without loading the page (the request context shares the browser's cookies)."""
        resp = await ctx.request.get(f"{self.base}/?token={self.token}", max_redirects=0)
        if resp.status != 303:
            raise RuntimeError(f"token URL answered {resp.status}")

    async def close_browser(self, ctx: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ctx.close(), 15)
        if ctx in self.contexts:
            self.contexts.remove(ctx)

    # -- teardown --------------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        for ctx in list(self.contexts):
            await self.close_browser(ctx)
        if self.playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.playwright.stop(), 15)
            self.playwright = None
        self.signal_server(signal.SIGTERM)
        await self.wait_server_gone(2)  # a clean stop if it takes one; then every group it made goes, whatever is left
        self.serve.close()
        self.tmux.kill_server()
        for profile in self.profiles:
            shutil.rmtree(profile, ignore_errors=True)


async def page_for(ctx: Any) -> Any:
    return ctx.pages[0] if ctx.pages else await ctx.new_page()


async def wait_js(page: Any, expression: str, timeout_s: float, arg: Any = None, polling: Any = "raf") -> Any:
    """page.wait_for_function with a deadline in seconds; returns the expression's value."""
    handle = await page.wait_for_function(expression, arg=arg, timeout=timeout_s * 1000, polling=polling)
    return await handle.json_value()


# ---------------------------------------------------------------------------------------------------------------------
# A counting TCP proxy: where and when each connect attempt reaches the server


def request_kind(data: bytes) -> str:
    if data.startswith(b"POST /api/ticket"):
        return "ticket"
    return "ws" if data.startswith(b"GET /ws/") else ""


class CountingProxy:
    """Forwards 127.0.0.1:port to the server's port and records each ticket request and socket upgrade as it arrives.

    While the server is down, an accepted connection is closed at once (the browser sees a failed request, as with a
    refused one). Requests are recognised by the first bytes of a read: the pages do not pipeline.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.arrivals: list[tuple[float, str, bool]] = []  # (time.time(), "ticket"|"ws", upstream reached)
        self.answers: list[tuple[float, float]] = []  # socket upgrades: (request arrived, server's 101 arrived)
        self.server: asyncio.base_events.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, backlog=512)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        kind = request_kind(first)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            if kind:
                self.arrivals.append((time.time(), kind, False))
            writer.transport.abort()
            return
        arrived = time.time()
        if kind:
            self.arrivals.append((arrived, kind, True))
        up_writer.write(first)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, note: bool) -> None:
            answered = note or kind != "ws"
            try:
                while data := await src.read(65536):
                    if not answered:
                        answered = True
                        self.answers.append((arrived, time.time()))
                    if note:
                        k = request_kind(data)
                        if k:
                            self.arrivals.append((time.time(), k, True))
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


# ---------------------------------------------------------------------------------------------------------------------
# A pane's visible history: what a user would have seen, and when (epoch ms)

PANE_HISTORY_JS = """([session, key]) => {
  // Record in window.__bench.history[key] every change of the pane's state, its offline flag, the caption's text
  // (when shown) and the header notice (when shown), with the epoch ms it was seen. Read defensively: a key the
  // page does not set yet is recorded as ''.
  const B = window.__bench;
  B.history = B.history || {};
  const root = document.querySelector(`section.pane[data-session="${session}"]`);
  const out = (B.history[key] = []);
  const shown = (el, inner) => (el && !el.hidden ? ((el.querySelector(inner) || el).textContent || '').trim() : '');
  const snap = () => {
    const rec = { t: performance.timeOrigin + performance.now(), state: root.dataset.state || '',
                  offline: root.dataset.offline || '', caption: shown(root.querySelector('.caption'), '.caption-text'),
                  notice: shown(root.querySelector('.pane-notice'), '.notice-text') };
    const last = out[out.length - 1];
    if (last && ['state', 'offline', 'caption', 'notice'].every((k) => last[k] === rec[k])) return;
    out.push(rec);
  };
  snap();
  const observer = new MutationObserver(snap);
  observer.observe(root, { attributes: true, childList: true, subtree: true, characterData: true });
  B.historyObservers = B.historyObservers || {};
  if (B.historyObservers[key]) B.historyObservers[key].disconnect();
  B.historyObservers[key] = observer;
}"""


async def watch_pane(page: Any, session: str, key: str) -> None:
    """Start recording the pane's visible history under ``key`` (see PANE_HISTORY_JS); read it with pane_history."""
    await page.evaluate(PANE_HISTORY_JS, [session, key])


async def pane_history(page: Any, key: str) -> list[dict[str, Any]]:
    return await page.evaluate("k => (window.__bench.history || {})[k] || []", key)


async def pane_stats(page: Any, session: str) -> dict[str, Any]:
    """``window.livepane.stats(session)`` as a dict ({} before the page has mounted it)."""
    return await page.evaluate("s => (window.livepane && window.livepane.stats(s)) || {}", session) or {}


def stat(stats: dict[str, Any], name: str) -> float:
    """A counter from pane_stats; 0 when the page does not report it (older or newer pages name fewer counters)."""
    value = stats.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
