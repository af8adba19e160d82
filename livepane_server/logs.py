"""What reaches the log: secrets redacted, repeated resource errors counted instead of repeated.

Rules:
- The token appears only in the URL serve.py prints to stdout, never in a log line: `SecretFilter` sits on the
  handler, so it covers every logger (aiohttp's access log shows `/?token=...` requests too).
- A resource error that repeats (out of fds, buffers or memory: asyncio reports one per failed accept, hundreds a
  second while the fd limit is reached) is logged once, then counted: one line per RESOURCE_LOG_INTERVAL_S while it
  lasts. Every other loop error goes to asyncio's default handler unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import re
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("livepane")

REDACTED = "<redacted>"
# A token in a query string: ours (`?token=`) and anything spelled like it.
TOKEN_QUERY_RE = re.compile(r"([?&]token=)[^&\s\"']*")
# The errnos asyncio's accept loop treats as "out of system resource" (selector_events._accept_connection).
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# One line per this long while a resource error repeats: enough to see it lasts, little enough to read.
RESOURCE_LOG_INTERVAL_S = 10.0


class SecretFilter(logging.Filter):
    """Replaces known secrets and any `token=` query value in a record's final message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = TOKEN_QUERY_RE.sub(rf"\1{REDACTED}", message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_text is None and self.secrets:
            # A traceback could quote a secret too: format it now, redacted (the formatter reuses exc_text).
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            record.exc_text = text
        return True


def install_secret_filter() -> SecretFilter:
    """Put one SecretFilter on every root handler (after logging.basicConfig)."""
    secret_filter = SecretFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    return secret_filter


@dataclasses.dataclass
class _Window:
    started_at: float
    count: int = 0
    last_error: str = ""


class ResourceErrorLog:
    """The event loop's exception handler: resource errors are counted per (what, errno): the first is logged at
    once, then one line per interval says how many more there were; a quiet interval ends the count.

    ``schedule(delay_s, fn)`` arms the interval's end (the loop's call_later once installed; tests pass fakes).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
        interval_s: float = RESOURCE_LOG_INTERVAL_S,
        logger: logging.Logger = log,
    ) -> None:
        self.clock = clock
        self.schedule = schedule
        self.interval_s = interval_s
        self.logger = logger
        self._windows: dict[tuple[str, int], _Window] = {}
        self.total = 0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self.clock = loop.time
        self.schedule = loop.call_later
        loop.set_exception_handler(self.handle)

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            message = str(context.get("message", ""))
            self.record("accept" if "accept" in message else message or "call", exc)
            return
        loop.default_exception_handler(context)

    def record(self, what: str, exc: OSError) -> None:
        """Count one failure; the first of a run is logged at once."""
        self.total += 1
        key = (what, exc.errno or 0)
        text = exc.strerror or str(exc)
        window = self._windows.get(key)
        if window is not None:
            window.count += 1
            window.last_error = text
            return
        self.logger.warning(
            "%s failed: %s (repeats are counted: one line per %.0f s while it lasts)", what, text, self.interval_s
        )
        self._open(key, text)

    def _open(self, key: tuple[str, int], text: str) -> None:
        self._windows[key] = _Window(started_at=self.clock(), last_error=text)
        if self.schedule is not None:
            self.schedule(self.interval_s, lambda: self.end_window(key))

    def end_window(self, key: tuple[str, int]) -> None:
        """The interval is over: log its count and count on, or end the run if nothing failed in it."""
        window = self._windows.pop(key, None)
        if window is None or window.count == 0:
            return
        self.logger.warning(
            "%s failed %d times in the last %.0f s: %s",
            key[0],
            window.count,
            self.clock() - window.started_at,
            window.last_error,
        )
        self._open(key, window.last_error)
