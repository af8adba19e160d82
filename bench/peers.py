"""Peers: ttyd and WeTTY attached to the same kind of tmux session, measured like livepane where their pages allow.

The bench never builds or installs a peer: it takes a binary (``--ttyd PATH``) or a command (``--wetty CMD``, e.g.
``node /somewhere/node_modules/wetty/build/main.js``) and skips a peer that is not there, saying so in the table.
Each peer serves one session ("peer") of an isolated tmux; bench/probe.js adopts the page's terminal (ttyd assigns
``window.term``, WeTTY ``window.wetty_term``), so first prompt, echo and restart are timed as for livepane.

- First prompt, warm: one priming load, then loads on that profile (a new Chromium each).
- Echo: the same 20-keys-per-line typing as livepane's.
- Restart: SIGTERM, started again 1 s later; from the port accepting until the marker line is back, or "no
  recovery" after RECOVERY_TIMEOUT_S (ttyd's page retries once, at once, then waits for Enter).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import harness as H
import live
import terminal_io

RECOVERY_TIMEOUT_S = 15.0
INIT = 'window.__benchSession = "peer";'


class Peer:
    def __init__(self, name: str, argv: list[str], port: int, path: str, workdir: Path) -> None:
        self.name, self.argv, self.port, self.path, self.workdir = name, argv, port, path, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self, wait: bool = True) -> None:
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self.pgids.add(self.proc.pid)
        if wait and await H.wait_port(self.port, 20) is None:
            raise RuntimeError(f"{self.name} did not start: see {self.workdir / (self.name + '.log')}")

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            for _ in range(200):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.01)

    def kill_all(self) -> None:
        H.kill_groups(self.pgids)


async def open_peer_page(stack: H.Stack, peer: Peer, profile: Path) -> tuple[Any, Any, float]:
    # bypass_csp: WeTTY's policy forbids eval, which Playwright's wait_for_function needs; it changes no timing.
    ctx = await stack.browser(profile=profile, authorize=False, init=INIT, bypass_csp=True)
    page = await H.page_for(ctx)
    await page.goto(peer.url, wait_until="commit")
    painted = await H.wait_js(page, "window.__bench && window.__bench.events['prompt-frame:peer']", 60)
    return ctx, page, float(painted)


async def measure(stack: H.Stack, peer: Peer, quick: bool, log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"first_prompt_ms": [], "echo_ms": [], "restart_ms": []}
    profile = stack.workdir / f"profile-{peer.name}"
    ctx, _, _ = await open_peer_page(stack, peer, profile)  # priming load
    await stack.close_browser(ctx)
    for _ in range(2 if quick else 4):
        ctx, _, painted = await open_peer_page(stack, peer, profile)
        out["first_prompt_ms"].append(painted)
        await stack.close_browser(ctx)
    log(f"  {peer.name}: warm first prompt {H.median(out['first_prompt_ms']):.0f} ms")

    ctx, page, _ = await open_peer_page(stack, peer, profile)
    try:
        await page.evaluate("window.__bench.term('peer').focus()")
        echo = await terminal_io.echo(page, "peer", 30 if quick else 100, peer.name, click=False)
        out["echo_ms"] = echo["parsed"]
        log(f"  {peer.name}: echo median {H.median(echo['parsed']):.1f} ms")
        for i in range(1 if quick else 2):
            marker = f"PEER-{i}"
            await live.show_marker(stack, page, ["peer"], marker)
            key, t_signal = await live.watch_repaint(page, ["peer"], marker)
            t_accept = await live.down_and_up(peer.stop, lambda: peer.start(wait=False), peer.port, t_signal)
            try:
                await H.wait_js(page, f"window.__bench.results['{key}']['peer']", RECOVERY_TIMEOUT_S, polling=50)
                done = await page.evaluate(f"window.__bench.results['{key}']['peer']")
                out["restart_ms"].append((done / 1000 - (t_accept or t_signal)) * 1000)
                log(f"  {peer.name}: restart, repainted {out['restart_ms'][-1]:.0f} ms after the port accepted")
            except Exception:
                out["restart_ms_note"] = f"no recovery within {RECOVERY_TIMEOUT_S:.0f} s of the port accepting"
                log(f"  {peer.name}: restart, {out['restart_ms_note']}")
                break
    finally:
        await stack.close_browser(ctx)
    return out


class PeerSpec:
    """A peer to start on demand (bench/boot.py interleaves its loads with livepane's): its own tmux and session."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name, self.argv = name, argv

    async def start(self, workdir: Path) -> tuple[H.Stack, Peer]:
        st = H.Stack(workdir / f"peer-{self.name}")
        st.workdir.mkdir(parents=True, exist_ok=True)
        port = H.free_port()
        attach = ["tmux", "-L", st.tmux_socket, "-f", "/dev/null", "attach-session", "-t", "=peer"]
        if self.name == "ttyd":
            full = [*self.argv, "-p", str(port), "-i", "127.0.0.1", "-W", *attach]
        else:
            full = [*self.argv, "--port", str(port), "--host", "127.0.0.1", "--base", "/", "--command",
                    shlex.join(attach)]
        peer = Peer(self.name, full, port, "/", st.workdir)
        st.new_session("peer")
        try:
            await peer.start()
        except Exception:
            await peer.stop()
            peer.kill_all()
            await st.aclose()
            raise
        return st, peer


def specs(ttyd: str | None, wetty: str | None) -> tuple[list[PeerSpec], dict[str, dict[str, str]]]:
    """The peers given on the command line that exist, and a "skipped" note for each that does not."""
    found: list[PeerSpec] = []
    skipped: dict[str, dict[str, str]] = {}
    if ttyd and Path(ttyd).is_file() and os.access(ttyd, os.X_OK):
        found.append(PeerSpec("ttyd", [ttyd]))
    else:
        skipped["ttyd"] = {"skipped": "no --ttyd binary given (not in Debian here; build it outside the repo)"
                           if not ttyd else f"--ttyd {ttyd}: not an executable"}
    if wetty:
        argv = shlex.split(wetty)
        if shutil.which(argv[0]) or Path(argv[0]).is_file():
            found.append(PeerSpec("wetty", argv))
        else:
            skipped["wetty"] = {"skipped": f"--wetty {wetty}: command not found"}
    else:
        skipped["wetty"] = {"skipped": "no --wetty command given (npm install wetty outside the repo)"}
    return found, skipped


async def run(workdir: Path, ttyd: str | None, wetty: str | None, quick: bool, log: Any) -> dict[str, Any]:
    found, results = specs(ttyd, wetty)
    for spec in found:
        st: H.Stack | None = None
        peer: Peer | None = None
        try:
            st, peer = await spec.start(workdir)
            results[spec.name] = await measure(st, peer, quick, log)
        except Exception as exc:
            results[spec.name] = {"skipped": f"failed: {str(exc).splitlines()[0][:200]}"}
            log(f"  {spec.name}: {results[spec.name]['skipped']}")
        finally:
            if peer is not None:
                await peer.stop()
                peer.kill_all()
            if st is not None:
                await st.aclose()
    return results
