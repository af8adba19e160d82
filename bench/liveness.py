"""How soon a dead link shows (issue 9): a server gone silent while the user types, and a browser gone offline.

- Silent: serve.py is SIGSTOPped (the kernel still holds its sockets: nothing closes, nothing answers), then a key
  is pressed at the shell's prompt, and one more every KEY_EVERY_S. The figure runs from that first keypress (its
  trusted event time, page clock) until the pane's ``data-state`` is no longer ``open`` (bench/harness.py
  PANE_HISTORY_JS records every change); a pane still ``open`` after SILENT_CAP_S is reported as not within the cap.
  Then SIGCONT, and the time until the pane is ``open`` again.
- Offline: Playwright's ``context.set_offline(True)`` (the browser fires ``offline``; an open WebSocket stays "open"
  to JS until something times out). Figures from that call: until the pane says it is offline (its ``data-offline``
  is ``true``, or a shown caption says "offline"), and until its state is no longer ``open``; each capped at
  OFFLINE_CAP_S. Then ``set_offline(False)`` and the time until the pane is ``open`` again.
- Each run starts from a connection open longer than stable_after_ms (so the previous run's reconnect is not counted
  as flapping), plus a random part of one keepalive interval (seeded), so the runs sample the watchdog's phase.
  Keys typed at the prompt are cleared afterwards with tmux (C-u). Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from typing import Any

import harness as H

SILENT_CAP_S = 40.0  # today's keepalive watchdog leaves a silent link after up to 25 s (2.5 x 10 s keepalive)
OFFLINE_CAP_S = 30.0  # the same watchdog is today's only way to notice; past it nothing else would
BACK_TIMEOUT_S = 60.0  # SIGCONT / online to open again: the backoff may have escalated while down
KEY_EVERY_S = 0.5  # "while typing": a key every half second after the first
STABLE_WAIT_S = 5.5  # > ReconnectPolicy.stable_after_ms
DEFAULT_KEEPALIVE_S = 10.0  # serve.py's advertised keepalive, when the page does not report keepalive_ms
SEED = 9


async def settle(page: Any, session: str, rng: random.Random) -> None:
    """Wait past stable_after_ms, then a random part of one keepalive interval: the link dies at a random phase of
    the keepalive (a fixed wait would always measure the same point of the watchdog's countdown)."""
    keepalive_s = H.stat(await H.pane_stats(page, session), "keepalive_ms") / 1000 or DEFAULT_KEEPALIVE_S
    await asyncio.sleep(STABLE_WAIT_S + rng.uniform(0, keepalive_s))


async def open_pane(stack: H.Stack, session: str) -> tuple[Any, Any]:
    stack.new_session(session)
    ctx = await stack.browser()
    page = await H.page_for(ctx)
    await page.goto(f"{stack.base}/?session={session}", wait_until="commit")
    await H.wait_js(page, f"window.__bench && window.__bench.events['prompt-frame:{session}']", 90)
    await page.click(f'section.pane[data-session="{session}"] .pane-body')
    return ctx, page


async def wait_history(page: Any, key: str, since_ms: float, js_tests: list[str], timeout_s: float) -> bool:
    """Until the recorded history has, for every test (a JS arrow on an entry), an entry at or after since_ms that
    passes it; False at the deadline. The times themselves are read from the history afterwards (first_in)."""
    tests = "[" + ", ".join(js_tests) + "]"
    try:
        await H.wait_js(
            page, f"([k, since]) => {{ const hs = ((window.__bench.history || {{}})[k] || []).filter((h) => h.t >= "
                  f"since); return {tests}.every((test) => hs.some(test)); }}", max(0.05, timeout_s),
            arg=[key, since_ms], polling=20)
    except Exception as exc:  # playwright's TimeoutError: reported as "not within the cap"
        if "Timeout" not in type(exc).__name__:
            raise
        return False
    return True


def first_in(history: list[dict[str, Any]], since_ms: float, until_ms: float, test: Any) -> float | None:
    """Epoch ms of the first entry in [since_ms, until_ms] passing ``test``, else None."""
    return next((h["t"] for h in history if since_ms <= h["t"] <= until_ms and test(h)), None)


def not_open(h: dict[str, Any]) -> bool:
    return h["state"] != "open"


def is_open(h: dict[str, Any]) -> bool:
    return h["state"] == "open"


def says_offline(h: dict[str, Any]) -> bool:
    return h.get("offline") == "true" or "offline" in h.get("caption", "").lower()


async def wait_open(page: Any, session: str, timeout_s: float) -> bool:
    try:
        await H.wait_js(page, f"window.livepane.stats('{session}').state === 'open'", timeout_s, polling=20)
    except Exception as exc:
        if "Timeout" not in type(exc).__name__:
            raise
        return False
    return True


NOT_OPEN_JS = "(h) => h.state !== 'open'"
OPEN_JS = "(h) => h.state === 'open'"
OFFLINE_JS = "(h) => h.offline === 'true' || /offline/i.test(h.caption || '')"


async def silent(stack: H.Stack, runs: int, log: Any) -> dict[str, Any]:
    session = "sil"
    ctx, page = await open_pane(stack, session)
    out: dict[str, Any] = {"cap_ms": SILENT_CAP_S * 1000, "runs": []}
    stopped: int | None = None
    rng = random.Random(SEED)
    try:
        for i in range(runs):
            await settle(page, session, rng)
            key = f"silent-{i}"
            await H.watch_pane(page, session, key)
            stopped = stack.server_pid()
            assert stopped is not None, "nothing serves"
            os.kill(stopped, signal.SIGSTOP)
            keys_before = await page.evaluate("window.__bench.keys.length")
            await page.keyboard.type("x")
            t_key = await page.evaluate("(n) => performance.timeOrigin + window.__bench.keys[n].t", keys_before)
            deadline = time.time() + SILENT_CAP_S
            while time.time() < deadline:
                if await wait_history(page, key, t_key, [NOT_OPEN_JS], min(KEY_EVERY_S, deadline - time.time())):
                    break
                await page.keyboard.type("x")
            left = first_in(await H.pane_history(page, key), t_key, t_key + SILENT_CAP_S * 1000, not_open)
            t_cont = time.time() * 1000
            os.kill(stopped, signal.SIGCONT)
            stopped = None
            back = None
            if left is not None:
                await wait_history(page, key, t_cont, [OPEN_JS], BACK_TIMEOUT_S)
                back_at = first_in(await H.pane_history(page, key), t_cont, float("inf"), is_open)
                back = None if back_at is None else back_at - t_cont
            history = await H.pane_history(page, key)
            r = {"left_ms": None if left is None else left - t_key, "back_ms": back,
                 "captions": sorted({h["caption"] for h in history if h["caption"]})}
            out["runs"].append(r)
            log(f"  silent #{i + 1}: keypress to not open "
                + (f"{r['left_ms']:.0f} ms" if left is not None else f"not within {SILENT_CAP_S:g} s")
                + (f"; SIGCONT to open {back:.0f} ms" if back is not None else ""))
            await wait_open(page, session, BACK_TIMEOUT_S)
            stack.send_keys(session, "C-u")
        return out
    finally:
        if stopped is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGCONT)
        await stack.close_browser(ctx)


async def offline(stack: H.Stack, runs: int, log: Any) -> dict[str, Any]:
    session = "off"
    ctx, page = await open_pane(stack, session)
    out: dict[str, Any] = {"cap_ms": OFFLINE_CAP_S * 1000, "runs": []}
    is_offline = False
    try:
        await page.evaluate("""() => { const B = window.__bench; B.online = [];
            for (const k of ['online', 'offline']) window.addEventListener(k, () => B.online.push(
                [k, performance.timeOrigin + performance.now()])); }""")
        rng = random.Random(SEED + 1)
        for i in range(runs):
            await settle(page, session, rng)
            key = f"offline-{i}"
            await H.watch_pane(page, session, key)
            t_off = time.time() * 1000
            await ctx.set_offline(True)
            is_offline = True
            await wait_history(page, key, t_off, [OFFLINE_JS, NOT_OPEN_JS], OFFLINE_CAP_S)
            history = await H.pane_history(page, key)
            said = first_in(history, t_off, t_off + OFFLINE_CAP_S * 1000, says_offline)
            left = first_in(history, t_off, t_off + OFFLINE_CAP_S * 1000, not_open)
            t_on = time.time() * 1000
            await ctx.set_offline(False)
            is_offline = False
            back = None
            if left is not None:
                await wait_history(page, key, t_on, [OPEN_JS], BACK_TIMEOUT_S)
                back_at = first_in(await H.pane_history(page, key), t_on, float("inf"), is_open)
                back = None if back_at is None else back_at - t_on
            await wait_open(page, session, BACK_TIMEOUT_S)
            events = await page.evaluate("window.__bench.online")
            event_off = next((t for k, t in events if k == "offline" and t >= t_off), None)
            history = await H.pane_history(page, key)
            r = {"caption_ms": None if said is None else said - t_off,
                 "left_ms": None if left is None else left - t_off, "back_ms": back,
                 "event_ms": None if event_off is None else event_off - t_off,
                 "captions": sorted({h["caption"] for h in history if h["caption"]})}
            out["runs"].append(r)

            def ms(v: float | None) -> str:
                return "not within the cap" if v is None else f"{v:.0f} ms"

            log(f"  offline #{i + 1}: offline caption {ms(r['caption_ms'])}; not open {ms(r['left_ms'])}; "
                f"online to open {ms(back)}; captions seen: {r['captions']}")
        return out
    finally:
        if is_offline:
            with contextlib.suppress(Exception):
                await ctx.set_offline(False)
        await stack.close_browser(ctx)
