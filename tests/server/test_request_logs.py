"""Logs an operator can read (issue 10 item 8): a request aiohttp's parser rejects is one short line at the default
level, with no traceback; a real bug in a handler still logs its traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support import async_wait_until

from .conftest import TmuxServer, cookie_header, running_app

REJECTED = "rejected request from 127.0.0.1: "
# One line: the parser's reason and its excerpt (livepane_server.request_log.REJECTION_DETAIL_CHARS), the prefix,
# and the log format's timestamp and pid.
MAX_LINE_CHARS = 400

BAD_REQUEST_LINE = b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n"
# (request, what its log line says)
MALFORMED = [
    (BAD_REQUEST_LINE, "Bad status line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", "Got more than 8190 bytes"),
    (b"POST /api/ticket HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n",
     "Invalid character in chunk size"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", "Invalid header token"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=\x01\r\n\r\n", "Invalid header value char"),
]


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    return answer


async def test_each_rejected_request_is_one_short_line_without_traceback(serve_process) -> None:
    server = serve_process()  # the default log level, as an operator runs it
    for data, _ in MALFORMED:
        assert (await send_raw(server.port, data)).startswith(b"HTTP/1.0 400"), data[:40]
    await async_wait_until(lambda: len(server.log_lines(REJECTED)) >= len(MALFORMED), what="the rejection lines")
    lines = server.log_lines(REJECTED)
    assert len(lines) == len(MALFORMED), "\n".join(lines)
    for line, (_, expected) in zip(lines, MALFORMED, strict=True):
        assert " INFO " in line and expected in line and len(line) <= MAX_LINE_CHARS, line
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


async def test_a_bug_in_a_handler_still_logs_its_traceback(
    tmux_server: TmuxServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(tmux_server) as (client, server):
        async def broken() -> list[dict]:
            raise RuntimeError("a real bug")

        server.tmux.list_sessions = broken
        with caplog.at_level(logging.INFO):
            async with client.http.get(client.url("/api/sessions"), headers=cookie_header()) as response:
                assert response.status == 500
            await send_raw(client.base_url.port, BAD_REQUEST_LINE)
    bugs = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(bugs) == 1 and bugs[0].exc_info is not None and "a real bug" in str(bugs[0].exc_info[1]), bugs
    rejections = [r for r in caplog.records if r.getMessage().startswith(REJECTED)]
    assert len(rejections) == 1 and rejections[0].exc_info is None and rejections[0].levelno == logging.INFO
