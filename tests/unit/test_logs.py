"""livepane_server.logs: resource errors counted, not repeated; secrets never in a log line. Fake clock, no loop."""

from __future__ import annotations

import errno
import logging

from livepane_server.logs import REDACTED, ResourceErrorLog, SecretFilter

EMFILE = OSError(errno.EMFILE, "Too many open files")


class FakeTimers:
    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[tuple[float, object]] = []

    def schedule(self, delay_s: float, fn) -> None:
        self.due.append((self.now + delay_s, fn))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while ready := [entry for entry in self.due if entry[0] <= self.now]:
            for entry in ready:
                self.due.remove(entry)
                entry[1]()


def recorder() -> tuple[logging.Logger, list[str]]:
    lines: list[str] = []
    logger = logging.getLogger(f"test-logs-{id(lines)}")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    return logger, lines


def test_a_run_of_resource_errors_is_one_line_then_one_count_per_interval() -> None:
    timers = FakeTimers()
    logger, lines = recorder()
    errors = ResourceErrorLog(clock=lambda: timers.now, schedule=timers.schedule, interval_s=10, logger=logger)
    for _ in range(5000):  # within the first interval
        errors.record("accept", EMFILE)
    assert lines == ["accept failed: Too many open files (repeats are counted: one line per 10 s while it lasts)"]
    timers.advance(10)
    assert lines[1:] == ["accept failed 4999 times in the last 10 s: Too many open files"]
    errors.record("accept", EMFILE)
    timers.advance(10)
    assert lines[2:] == ["accept failed 1 times in the last 10 s: Too many open files"]
    timers.advance(10)  # a quiet interval ends the run ...
    assert len(lines) == 3
    errors.record("accept", EMFILE)  # ... and the next failure starts a new one, logged at once
    assert lines[3].startswith("accept failed: Too many open files")
    assert errors.total == 5002


def test_other_loop_errors_go_to_the_default_handler() -> None:
    seen = []

    class Loop:
        def default_exception_handler(self, context) -> None:
            seen.append(context)

    errors = ResourceErrorLog(schedule=lambda *_: None)
    errors.handle(Loop(), {"message": "socket.accept() out of system resource", "exception": EMFILE})
    other = {"message": "boom", "exception": ValueError("x")}
    errors.handle(Loop(), other)
    assert seen == [other] and errors.total == 1


def test_the_secret_filter_redacts_known_secrets_and_token_queries() -> None:
    secret_filter = SecretFilter()
    secret_filter.secrets.add("s3cret-token")
    record = logging.LogRecord("x", logging.INFO, "", 0, 'GET /?token=%s&session=a "%s" seen', ("abc", "s3cret-token"),
                               None)
    assert secret_filter.filter(record)
    assert record.getMessage() == f'GET /?token={REDACTED}&session=a "{REDACTED}" seen'
