"""Typed input across server restarts (issue 10): what the page typed against what the terminal received.

- The session runs no shell: its command appends every line the terminal delivers to a file (``cat >> FILE`` in the
  tty's canonical mode, so a line is exactly what reached the PTY between two Enters). The page types numbered lines
  (``echo L0001`` Enter) through Playwright's keyboard, one key every 20-40 ms (seeded), without pause, while the
  harness restarts serve.py in blocks of one kind: SIGTERM and SIGKILL (then started again at once, with the same
  token, pid file and state folder, as ``make run`` would) and SIGHUP (the in-place reload). Each restart waits for
  the pane to be open again and for the new connection to be stable (> stable_after_ms) before the next one.
- At the end the typed and received line sequences are aligned (difflib): a typed line is ``ok`` (aligned with an
  equal line, received once), ``damaged`` (aligned with a different line: a key lost or added, or two lines merged
  by a lost Enter), ``lost`` (aligned with nothing), ``doubled`` (received exactly more than once) or ``reordered``
  (received exactly once, out of place). Keys lost and extra are counted on the whole stream (difflib again). Each
  bad line is attributed to the restart nearest to the time it was typed; one far from every restart is ``quiet``.
- The page's own account is read per restart, defensively (a counter the page does not have counts 0): its stats
  (``input_dropped_bytes``, ``input_uncertain_bytes``, ``held_inputs``) and any header notice or caption that says
  input "may not have arrived". A SIGKILL loss is ``reported`` if the page said so for that restart.
- Bounded: a fixed count of restarts, each wait with a deadline; the whole section has a deadline too.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import random
import re
import shlex
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import harness as H

SESSION = "ty"
KINDS = (("SIGTERM", signal.SIGTERM), ("SIGHUP", signal.SIGHUP), ("SIGKILL", signal.SIGKILL))
KEY_DELAY_S = (0.020, 0.040)  # a fast typist: 25-50 keys a second
STABLE_WAIT_S = 5.5  # > ReconnectPolicy.stable_after_ms: a drop sooner is flapping and escalates the next delay
SIGNAL_JITTER_S = (0.0, 1.0)  # after the stable wait: the signal lands anywhere inside a line
OPEN_TIMEOUT_S = 30.0  # a restart whose pane is not open again by then fails the section
DRAIN_TIMEOUT_S = 20.0  # after the last key: until the sentinel line is in the file
NEAR_RESTART_S = 2.0  # a line typed within this of a restart's [signal, open again] window belongs to it
SENTINEL = "echo DONE"
UNCERTAIN_RE = re.compile(r"arriv", re.IGNORECASE)  # "may not have arrived"


def line_text(n: int) -> str:
    return f"echo L{n:04d}"


@dataclass
class Typed:
    n: int
    text: str
    start: float  # time.time() of the first key
    end: float = 0.0  # time.time() after Enter


@dataclass
class Restart:
    kind: str
    signalled: float
    opened: float = 0.0
    before: dict[str, Any] = field(default_factory=dict)  # pane stats just before the signal
    after: dict[str, Any] = field(default_factory=dict)  # ... once open again


class Typist:
    """Types numbered lines into the focused pane until stopped; records when each line was typed."""

    def __init__(self, page: Any, seed: int) -> None:
        self.page = page
        self.rng = random.Random(seed)
        self.lines: list[Typed] = []
        self.stopping = False

    async def run(self) -> None:
        n = 0
        while not self.stopping:
            n += 1
            await self.type_line(n, line_text(n))

    async def type_line(self, n: int, text: str) -> None:
        rec = Typed(n, text, time.time())
        self.lines.append(rec)
        for ch in text:
            await self.page.keyboard.type(ch)
            await asyncio.sleep(self.rng.uniform(*KEY_DELAY_S))
        await self.page.keyboard.press("Enter")
        rec.end = time.time()
        await asyncio.sleep(self.rng.uniform(*KEY_DELAY_S))


def compare(typed: list[Typed], received: list[str]) -> dict[str, Any]:
    """Classify every typed line against the received lines (see the module docstring): the two line sequences are
    aligned (difflib); a typed line aligned with an equal one is ok, with a different one damaged, with none lost;
    one received exactly more than once is doubled, exactly once but out of place reordered."""
    by_text = {t.text: t.n for t in typed}
    verdict: dict[int, str] = {}
    garbage: list[str] = []
    matcher = difflib.SequenceMatcher(None, [t.text for t in typed], received, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        for t in typed[a0:a1]:
            verdict[t.n] = {"equal": "ok", "delete": "lost", "replace": "damaged"}.get(op, "ok")
        if op == "insert":
            garbage += [line for line in received[b0:b1] if line not in by_text]
    exact = Counter(received)
    for t in typed:
        if exact[t.text] >= 2:
            verdict[t.n] = "doubled"
        elif exact[t.text] == 1 and verdict[t.n] != "ok":
            verdict[t.n] = "reordered"
    stream_typed = "".join(t.text + "\n" for t in typed)
    stream_got = "".join(line + "\n" for line in received)
    keys_lost = keys_extra = 0
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, stream_typed, stream_got, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            keys_lost += a1 - a0
        if op in ("insert", "replace"):
            keys_extra += b1 - b0
    bad = {n: v for n, v in verdict.items() if v != "ok"}
    examples = [line for line in received if line not in by_text][:12]
    return {"verdict": verdict, "bad": bad, "garbage": garbage[:12], "examples": examples,
            "keys_typed": len(stream_typed), "keys_lost": keys_lost, "keys_extra": keys_extra}


def nearest_restart(line: Typed, restarts: list[Restart]) -> int | None:
    """Index of the restart whose [signal, open again] window is nearest the line's typing (None: none near)."""
    best, best_gap = None, NEAR_RESTART_S
    for i, r in enumerate(restarts):
        gap = max(0.0, r.signalled - line.end, line.start - r.opened)
        if gap <= best_gap:
            best, best_gap = i, gap
    return best


def page_said_uncertain(history: list[dict[str, Any]], since: float, until: float) -> list[str]:
    """Notice or caption texts shown between two epoch times that say input may not have arrived."""
    out = []
    for h in history:
        if since * 1000 <= h["t"] <= until * 1000:
            out += [text for text in (h.get("notice", ""), h.get("caption", "")) if text and UNCERTAIN_RE.search(text)]
    return sorted(set(out))


async def wait_open_again(stack: H.Stack, page: Any, opens_before: float) -> None:
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    while True:
        s = await H.pane_stats(page, SESSION)
        if s.get("state") == "open" and H.stat(s, "opens_total") > opens_before:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"typing: the pane was not open again within {OPEN_TIMEOUT_S:g} s; "
                               f"see {stack.serve.log_path}")
        await asyncio.sleep(0.05)


async def restart_once(stack: H.Stack, page: Any, kind: str, sig: int) -> Restart:
    before = await H.pane_stats(page, SESSION)
    r = Restart(kind, time.time(), before=before)
    stack.signal_server(sig)
    if sig == signal.SIGHUP:  # until the successor serves and the old process is gone: the next signal is its
        old = stack.signalled_pid
        deadline = time.monotonic() + 20
        while (stack.serve.pid in (None, old) or not stack.serve.exited(old)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    else:
        await stack.wait_server_gone(10)
        await stack.start_server()
    await wait_open_again(stack, page, H.stat(before, "opens_total"))
    r.opened = time.time()
    r.after = await H.pane_stats(page, SESSION)
    return r


async def typing(stack: H.Stack, per_kind: int, log: Any, seed: int = 10) -> dict[str, Any]:
    received_path = stack.workdir / "received.txt"
    received_path.write_text("")
    # No shell: the tty's canonical mode hands cat one whole line per Enter, exactly as the PTY received it.
    command = f"sh -c {shlex.quote('printf READY; exec cat >> ' + shlex.quote(str(received_path)))}"
    stack.tmux.new_session(SESSION, 120, 40, shell=command)
    ctx = await stack.browser()
    restarts: list[Restart] = []
    typist: Typist | None = None
    type_task: asyncio.Task[None] | None = None
    try:
        page = await H.page_for(ctx)
        await page.goto(f"{stack.base}/?session={SESSION}", wait_until="commit")
        await H.wait_js(page, f"window.__bench && window.__bench.screen('{SESSION}').includes('READY')", 90)
        await H.wait_js(page, f"window.livepane && window.livepane.stats('{SESSION}').state === 'open'", 30)
        await H.watch_pane(page, SESSION, "typing")
        await page.click(f'section.pane[data-session="{SESSION}"] .pane-body')
        typist = Typist(page, seed)
        type_task = asyncio.ensure_future(typist.run())
        await asyncio.sleep(STABLE_WAIT_S)
        jitter = random.Random(seed + 1)
        for kind, sig in KINDS:
            for i in range(per_kind):
                await asyncio.sleep(jitter.uniform(*SIGNAL_JITTER_S))
                if type_task.done():
                    type_task.result()  # raises what stopped the typist
                r = await restart_once(stack, page, kind, sig)
                restarts.append(r)
                log(f"  {kind} #{i + 1}: open again {(r.opened - r.signalled) * 1000:.0f} ms after the signal; "
                    f"{len(typist.lines)} lines typed so far")
                await asyncio.sleep(STABLE_WAIT_S)
        typist.stopping = True
        await asyncio.wait_for(type_task, 10)
        await typist.type_line(0, SENTINEL)
        await H.async_wait_until(lambda: SENTINEL in received_path.read_text(errors="replace").splitlines(),
                                 DRAIN_TIMEOUT_S, "the sentinel line in the received file")
        final = await H.pane_stats(page, SESSION)
        history = await H.pane_history(page, "typing")
    finally:
        if typist is not None:
            typist.stopping = True
        if type_task is not None and not type_task.done():
            type_task.cancel()
            with contextlib.suppress(BaseException):
                await type_task
        await stack.close_browser(ctx)
    received = [line for line in received_path.read_text(errors="replace").splitlines() if line != SENTINEL]
    typed = [t for t in typist.lines if t.n > 0]
    return summarize(typed, received, restarts, history, final)


def summarize(typed: list[Typed], received: list[str], restarts: list[Restart], history: list[dict[str, Any]],
              final: dict[str, Any]) -> dict[str, Any]:
    cmp = compare(typed, received)
    owner = {t.n: nearest_restart(t, restarts) for t in typed}
    per_restart = []
    for i, r in enumerate(restarts):
        bad = {n: v for n, v in cmp["bad"].items() if owner[n] == i}
        until = restarts[i + 1].signalled if i + 1 < len(restarts) else time.time()
        said = page_said_uncertain(history, r.signalled, until)
        per_restart.append({
            "kind": r.kind, "open_ms": (r.opened - r.signalled) * 1000,
            "lines": sum(1 for n in owner.values() if n == i),
            "bad": {str(n): v for n, v in sorted(bad.items())},
            "dropped_bytes": H.stat(r.after, "input_dropped_bytes") - H.stat(r.before, "input_dropped_bytes"),
            "uncertain_bytes": H.stat(r.after, "input_uncertain_bytes") - H.stat(r.before, "input_uncertain_bytes"),
            "notices": said,
        })
    kinds: dict[str, dict[str, Any]] = {}
    for kind, _ in KINDS:
        mine = [p for p in per_restart if p["kind"] == kind]
        verdicts = Counter(v for p in mine for v in p["bad"].values())
        unreported = sum(len(p["bad"]) - sum(1 for v in p["bad"].values() if v == "doubled") for p in mine
                         if not (p["uncertain_bytes"] or p["notices"]))
        kinds[kind] = {
            "restarts": len(mine), "lines": sum(p["lines"] for p in mine),
            "lost": verdicts["lost"], "damaged": verdicts["damaged"], "doubled": verdicts["doubled"],
            "reordered": verdicts["reordered"], "unreported": unreported,
            "dropped_bytes": sum(p["dropped_bytes"] for p in mine),
            "uncertain_bytes": sum(p["uncertain_bytes"] for p in mine),
            "notices": sum(len(p["notices"]) for p in mine),
            "open_ms": [p["open_ms"] for p in mine],
        }
    quiet = {str(n): v for n, v in cmp["bad"].items() if owner[n] is None}
    return {
        "typed_lines": len(typed), "received_lines": len(received), "keys_typed": cmp["keys_typed"],
        "keys_lost": cmp["keys_lost"], "keys_extra": cmp["keys_extra"], "kinds": kinds, "quiet": quiet,
        "restarts": per_restart, "examples": cmp["examples"], "garbage": cmp["garbage"],
        "raw": {"typed": [[t.n, t.start, t.end] for t in typed], "received": received,
                "restarts": [[r.kind, r.signalled, r.opened] for r in restarts]},
        "final_stats": {k: final.get(k) for k in ("input_dropped_bytes", "input_uncertain_bytes", "held_inputs",
                                                  "held_bytes", "opens_total", "state")},
    }
