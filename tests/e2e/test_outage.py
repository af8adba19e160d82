"""Story 3: the server dies (SIGKILL) and stays down 6 s. The caption counts down, the attempts that reach the
server's port follow the schedule, "retry now" attempts at once, and the pane recovers when the server is back."""

from __future__ import annotations

import itertools
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

from pyclient.reconnect import ReconnectPolicy, delay_envelope_ms

DOWN_FOR_S = 6.0
# Slack on each observed gap: the delay starts when the page sees the failure (after the recorder's accept), and a
# busy main thread (Pyodide, xterm) may fire a timer late. Timers never fire early.
EARLY_SLACK_MS = 20
LATE_SLACK_MS = 300
COUNTDOWN_RE = re.compile(r"^reconnecting in (\d+) s…$")


def test_outage_counts_down_follows_the_schedule_and_retry_now_attempts_at_once(page, server: Server) -> None:
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
        observed = recorder.times()
        after_drop = stats(page, "s3")["attempts"] - attempts_before
        first = after_drop - len(observed) + 1  # 1 unless an attempt beat the recorder to the port
        assert first in (1, 2), (after_drop, observed)
        if first == 1:
            first_ms = (observed[0] - killed_at) * 1000
            assert policy.first_retry_ms - EARLY_SLACK_MS <= first_ms <= policy.first_retry_ms + LATE_SLACK_MS, first_ms
        for index, (earlier, later) in enumerate(itertools.pairwise(observed)):
            failure = first + index + 1  # the failure of attempt `first + index` is failure number n + 1
            low, high = delay_envelope_ms(policy, failure)
            gap_ms = (later - earlier) * 1000
            assert low - EARLY_SLACK_MS <= gap_ms <= high + LATE_SLACK_MS, (failure, gap_ms, (low, high))

        # The caption counts down, with a "retry now" button.
        caption = page.inner_text(f"{pane_selector('s3')} .caption-text")
        assert COUNTDOWN_RE.match(caption), caption
        assert page.get_attribute(pane_selector("s3"), "data-state") == "reconnecting"
        countdown = [h["caption"] for h in history(page) if COUNTDOWN_RE.match(h["caption"])]
        seconds = [int(COUNTDOWN_RE.match(text).group(1)) for text in countdown]
        assert len(set(seconds)) >= 2, f"the caption never counted down: {countdown}"

        # "retry now" during a long wait: an attempt reaches the port at once, not at the scheduled time.
        status = stats(page, "s3")
        wait_ms = status["retry_at_ms"] - page.evaluate("performance.now()")
        assert wait_ms > 1000, wait_ms  # after failure 5 the wait is 3.2-6.4 s
        before = len(recorder.times())
        clicked_at = time.monotonic()
        page.click(f"{pane_selector('s3')} .retry-now")
        wait_until(lambda: len(recorder.times()) > before, 2, "the retry-now attempt")
        assert recorder.times()[before] - clicked_at < 0.5
        assert stats(page, "s3")["attempts"] == status["attempts"] + 1

        # The browser saying "back online", "visible again" or "restored from the cache" skips the wait too.
        for target, event in (("window", "online"), ("document", "visibilitychange"), ("window", "pageshow")):
            wait_until(lambda: stats(page, "s3")["phase"] == "waiting", 2, "the pane to wait again")
            before = len(recorder.times())
            fired_at = time.monotonic()
            page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")
            wait_until(lambda b=before: len(recorder.times()) > b, 2, f"the attempt after {event}")
            assert recorder.times()[before] - fired_at < 0.5, event

        remaining = DOWN_FOR_S - (time.monotonic() - killed_at)
        if remaining > 0:
            time.sleep(remaining)  # the story's 6 s outage itself, not a race guard: nothing to wait on but time
        assert all(line.startswith("POST /api/ticket") for _, line in recorder.requests), recorder.requests
    finally:
        recorder.close()

    server.start()
    # The next scheduled attempt is at most the cap (8 s) away: no reload, no click needed.
    wait_for_state(page, "s3", "open", timeout_s=policy.cap_ms / 1000 + 3)
    wait_for_screen(page, "s3", r"(?m)^before$")
    assert page.is_hidden(f"{pane_selector('s3')} .caption")
