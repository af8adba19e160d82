"""Story 3: the server dies (SIGKILL) and stays down 6 s. The caption counts down, attempts keep reaching the server's
port, "retry now" (and the browser's online/visible/pageshow) attempts before the scheduled time, and the pane
recovers when the server is back.

Behaviour only: how the gaps between attempts match the policy's envelope, and how soon "retry now" reaches the port,
are figures of bench/run.py (section outage), reported in docs/benchmarks.md; the schedule itself is unit-tested
exactly with a fake clock (tests/unit/test_reconnect.py).
"""

from __future__ import annotations

import re
import signal
import time

from livepane_e2e import (
    AttemptRecorder,
    Server,
    history,
    open_panes,
    pane_selector,
    record_history,
    stats,
    wait_for_screen,
    wait_for_state,
)
from support import wait_until

from pyclient.reconnect import ReconnectPolicy

DOWN_FOR_S = 6.0
COUNTDOWN_RE = re.compile(r"^reconnecting in (\d+) s…$")


def test_outage_counts_down_keeps_attempting_and_retry_now_skips_the_wait(page, server: Server) -> None:
    policy = ReconnectPolicy()
    server.tmux.new_session("s3")
    open_panes(page, server, "s3")
    page.keyboard.type("echo before\n")
    wait_for_screen(page, "s3", r"(?m)^before$")
    attempts_before = stats(page, "s3")["attempts"]
    record_history(page, "s3")

    killed_at = time.monotonic()
    server.stop(signal.SIGKILL)  # no 1012: the page sees a broken connection (1006)
    recorder = AttemptRecorder(server.port)  # the "server" while it is down: it records every attempt
    try:
        # Four attempts after the drop: 150 ms, then 400-800, 800-1600, 1600-3200 ms apart (at most 5.75 s).
        wait_until(lambda: len(recorder.times()) >= 4, 8, "four attempts at the server's port")
        wait_until(lambda: stats(page, "s3")["phase"] == "waiting", 2, "the pane to wait for attempt 5")
        after_drop = stats(page, "s3")["attempts"] - attempts_before
        assert after_drop >= len(recorder.times()) >= 4, (after_drop, recorder.times())

        # The caption counts down, with a "retry now" button.
        caption = page.inner_text(f"{pane_selector('s3')} .caption-text")
        assert COUNTDOWN_RE.match(caption), caption
        assert page.get_attribute(pane_selector("s3"), "data-state") == "reconnecting"
        countdown = [h["caption"] for h in history(page) if COUNTDOWN_RE.match(h["caption"])]
        seconds = [int(COUNTDOWN_RE.match(text).group(1)) for text in countdown]
        assert len(set(seconds)) >= 2, f"the caption never counted down: {countdown}"

        # "retry now" during a long wait: an attempt reaches the port before the scheduled time.
        status = stats(page, "s3")
        wait_ms = status["retry_at_ms"] - page.evaluate("performance.now()")
        assert wait_ms > 1000, wait_ms  # after failure 5 the wait is 3.2-6.4 s
        before = len(recorder.times())
        page.click(f"{pane_selector('s3')} .retry-now")
        wait_until(lambda: len(recorder.times()) > before, 2, "the retry-now attempt")
        assert page.evaluate("performance.now()") < status["retry_at_ms"], "the attempt waited for its schedule"
        assert stats(page, "s3")["attempts"] == status["attempts"] + 1

        # The browser saying "back online", "visible again" or "restored from the cache" skips the wait too.
        for target, event in (("window", "online"), ("document", "visibilitychange"), ("window", "pageshow")):
            wait_until(lambda: stats(page, "s3")["phase"] == "waiting", 2, "the pane to wait again")
            status = stats(page, "s3")
            before = len(recorder.times())
            page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")
            wait_until(lambda b=before: len(recorder.times()) > b, 2, f"the attempt after {event}")
            assert page.evaluate("performance.now()") < status["retry_at_ms"], f"{event}: it waited for its schedule"

        remaining = DOWN_FOR_S - (time.monotonic() - killed_at)
        if remaining > 0:
            time.sleep(remaining)  # the story's 6 s outage itself, not a race guard: nothing to wait on but time
        # Every attempt is a ticket request (the session bar's watch asks for the list on its own schedule).
        attempts = [line for _, line in recorder.requests if not line.startswith("GET /api/sessions")]
        assert all(line.startswith("POST /api/ticket") for line in attempts), recorder.requests
    finally:
        recorder.close()

    server.start()
    # The next scheduled attempt is at most the cap (8 s) away: no reload, no click needed.
    wait_for_state(page, "s3", "open", timeout_s=policy.cap_ms / 1000 + 3)
    wait_for_screen(page, "s3", r"(?m)^before$")
    assert page.is_hidden(f"{pane_selector('s3')} .caption")
