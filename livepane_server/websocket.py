"""The terminal socket's server end: aiohttp's WebSocketResponse with the contract's frame limit, and a reason on
every close aiohttp starts by itself.

Rules:
- aiohttp's parser enforces MAX_CLIENT_FRAME_BYTES (docs/protocol.md §2) as it reads a frame's header, before it
  buffers any payload, whatever the size: there is no second, larger limit (a 1 MiB one closed 1009 with no reason).
- aiohttp closes with an empty reason when its parser refuses a frame (too big, not RFC 6455, text not UTF-8); the
  close here fills in the contract's reason, so no bad frame gets a close without one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pyclient.protocol import MAX_CLIENT_FRAME_BYTES, Close, Reason

# aiohttp refuses a frame whose payload is >= max_msg_size: one more than ours lets a frame of exactly the limit in.
PARSER_MAX_MSG_SIZE = MAX_CLIENT_FRAME_BYTES + 1
# The reason for each close aiohttp's reader starts (receive() -> close(code=...), message empty).
PARSER_CLOSE_REASONS = {
    Close.PROTOCOL_ERROR: Reason.PROTOCOL_ERROR,
    Close.INVALID_TEXT: Reason.INVALID_TEXT,
    Close.MESSAGE_TOO_BIG: Reason.MESSAGE_TOO_BIG,
}


class TerminalSocket(web.WebSocketResponse):
    """A WebSocketResponse whose frames are at most MAX_CLIENT_FRAME_BYTES and whose error closes carry a reason."""

    def __init__(self, **options: Any) -> None:
        super().__init__(max_msg_size=PARSER_MAX_MSG_SIZE, **options)

    async def close(self, *, code: int = Close.NORMAL, message: bytes = b"", drain: bool = True) -> bool:
        if not message and code in PARSER_CLOSE_REASONS:
            message = PARSER_CLOSE_REASONS[code].encode()
        return await super().close(code=code, message=message, drain=drain)
