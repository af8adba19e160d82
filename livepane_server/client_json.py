"""JSON a client sends (the API's request bodies, the socket's handshake and resize frames) -> Python values.

Rules:
- One function parses all of it, `parse_json`; whatever the bytes, it returns a value or raises BadJson, whose
  message is the one-line reason the client reads. Nothing else (no UnicodeError, no RecursionError) escapes it.
- Bounded before json.loads sees the text: a size limit, UTF-8 only (RFC 8259 §8.1), and a nesting limit checked in
  linear time (Python's json recurses once per level: a 100,000-deep array raised RecursionError, a 500 or a 1011).
- A request body is read through `read_json_body`: bounded in size and in time, and a charset other than UTF-8 is
  refused rather than looked up (an unknown one raised LookupError).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

# Deepest nesting accepted. The contract's objects are flat (a handshake, a resize, {"session": id}); 32 leaves room
# for later fields and stays far below Python's recursion limit (1000).
MAX_JSON_DEPTH = 32
# Largest request body read. A ticket request is ~80 bytes; 16 KiB leaves room for later fields while bounding what
# a bad client makes us hold (aiohttp's own client_max_size is 1 MiB).
MAX_JSON_BODY_BYTES = 16 * 1024
# Charsets a JSON body may declare (compared lower-case): JSON is UTF-8, and ASCII is a subset.
JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})

# A JSON string (escapes included): its brackets do not nest. Linear: the two branches never match the same byte.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPENERS = frozenset(b"[{")


class BadJson(ValueError):
    """The client's JSON was refused; the message is the one-line reason (without "bad request: ")."""

    def __init__(self, reason: str, too_big: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_big = too_big


def json_depth(data: bytes) -> int:
    """How deep the brackets of ``data`` nest outside strings (an upper bound when ``data`` is not valid JSON)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if len(brackets) <= MAX_JSON_DEPTH:  # the usual flat object: no need to walk it
        return len(brackets)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in _OPENERS else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(data: bytes, what: str, max_bytes: int) -> Any:
    """The JSON value in ``data``, or BadJson naming ``what`` ("handshake", "resize", "body") and the fault."""
    if len(data) > max_bytes:
        raise BadJson(f"{what} is over {max_bytes} bytes", too_big=True)
    if json_depth(data) > MAX_JSON_DEPTH:
        raise BadJson(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors; so is a 5,000-digit integer
        raise BadJson(f"{what} is not JSON") from None
    except RecursionError:  # not reachable below MAX_JSON_DEPTH; kept so the rule above holds whatever changes
        raise BadJson(f"{what} is nested too deeply") from None


async def read_json_body(request: web.BaseRequest, timeout_s: float, max_bytes: int = MAX_JSON_BODY_BYTES) -> Any:
    """The request's body parsed by `parse_json`: at most ``max_bytes``, all of it within ``timeout_s``.

    Raises BadJson (``too_big`` for a body over the limit) and TimeoutError for a body that does not arrive in time.
    """
    charset = request.charset
    if charset is not None and charset.lower() not in JSON_CHARSETS:
        raise BadJson("body must be UTF-8 JSON")
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadJson(f"body is over {max_bytes} bytes", too_big=True)
    body = bytearray()
    async with asyncio.timeout(timeout_s):
        try:
            while chunk := await request.content.read(max_bytes + 1 - len(body)):
                body += chunk
                if len(body) > max_bytes:
                    break
        except web.RequestPayloadError:  # a chunked body that breaks its framing, a short Content-Length
            raise BadJson("body is malformed") from None
    return parse_json(bytes(body), "body", max_bytes)
