"""What aiohttp's HTTP layer logs, made readable: a request its parser rejects is one line, a real bug keeps its
traceback.

aiohttp's RequestHandler reports every request its parser rejects (a bad request line, a header over
max_field_size, broken chunked framing) through ``logger.exception``: an ERROR with a full traceback for what is the
client's fault, one per request. ``RequestLog`` is the logger we hand it instead (``handler_args["logger"]``).

Rules:
- A rejection (HttpProcessingError, or RequestPayloadError for a body that breaks its framing) is one INFO line on
  the "livepane" logger: the peer and what was wrong, control characters escaped, at most REJECTION_DETAIL_CHARS.
  The parser stops before a request exists, so method and path are not known there.
- Anything else aiohttp reports through ``exception`` is a bug in a handler and is logged as aiohttp would (ERROR
  with its traceback). Every other logging call passes through unchanged.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("livepane")

# Enough for the parser's reason and its excerpt of the offending line (aiohttp cuts that at ~100 bytes itself).
REJECTION_DETAIL_CHARS = 240
# aiohttp's "Error handling request from %s" names the peer as its first argument.
_PEER_MESSAGE = "Error handling request from %s"


def rejection_detail(exc: BaseException) -> str:
    """aiohttp's multi-line parser message (reason, excerpt, caret line) as one bounded line."""
    message = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    parts = [line.strip() for line in str(message).splitlines()]
    text = " ".join(part for part in parts if part and set(part) != {"^"})
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= REJECTION_DETAIL_CHARS else text[: REJECTION_DETAIL_CHARS - 3] + "..."


def is_rejection(exc: BaseException | None) -> bool:
    """The client sent something the HTTP parser refuses (not a bug of ours)."""
    return isinstance(exc, HttpProcessingError | web.RequestPayloadError)


class RequestLog:
    """The logger aiohttp's RequestHandler writes to: rejections become one line; the rest goes to ``logger``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def exception(self, msg: str, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if is_rejection(exc):
            peer = args[0] if msg == _PEER_MESSAGE and args else "unknown peer"
            log.info("rejected request from %s: %s", peer, rejection_detail(exc))
            return
        self._logger.exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: str, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        """aiohttp logs a first request that is not HTTP at all (TLS to this port, a scanner) at debug: one line."""
        if isinstance(exc_info, BaseException) and is_rejection(exc_info):
            log.debug("rejected non-HTTP request: %s", rejection_detail(exc_info))
            return
        self._logger.debug(msg, *args, exc_info=exc_info, **kwargs)

    def __getattr__(self, name: str) -> Any:  # debug, warning, isEnabledFor, ...: aiohttp's own logger
        return getattr(self._logger, name)
