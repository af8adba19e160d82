"""Bad input that once got a 500 with a traceback (or a 1011) gets its 4xx / 4400 with a one-line reason.

Each case is one issue 10 item 4 found: bytes a header cannot encode, a charset Python does not know, JSON nested
deeper than Python's recursion limit, on the HTTP API and in the socket's handshake.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from livepane_server.auth import COOKIE_NAME, cookie_value_for
from livepane_server.client_json import BadJson, parse_json

from .conftest import TOKEN, TmuxServer, running_app
from .test_socket_errors import assert_still_serving


async def raw_request(base_url: URL, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One request written byte for byte (headers aiohttp's client would refuse to send); status and body."""
    reader, writer = await asyncio.open_connection(base_url.host, base_url.port)
    writer.write(head + b"\r\n" + body)
    data = await reader.read()
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def post_ticket(base_url: URL, headers: bytes, body: bytes) -> bytes:
    return (
        b"POST /api/ticket HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nContent-Length: %d\r\n"
        % (base_url.host.encode(), base_url.port, len(body))
    ) + headers


GOOD_COOKIE = f"{COOKIE_NAME}={cookie_value_for(TOKEN)}".encode()
DEEP_JSON = b"[" * 5_000 + b"]" * 5_000  # 10 KB: under the body limit, 5x Python's recursion limit

HTTP_CASES = [
    pytest.param(b"Cookie: " + COOKIE_NAME.encode() + b"=\xff\r\n", b'{"session": "anchor"}', 401,
                 "unauthorized", id="cookie-byte-0xff"),
    pytest.param(b"Cookie: " + GOOD_COOKIE + b"\xff\r\n", b'{"session": "anchor"}', 401, "unauthorized",
                 id="cookie-with-trailing-0xff"),
    pytest.param(b"Cookie: " + GOOD_COOKIE + b"\r\nContent-Type: application/json; charset=bogus\r\n",
                 b'{"session": "anchor"}', 400, "bad request", id="charset-bogus"),
    pytest.param(b"Cookie: " + GOOD_COOKIE + b"\r\nContent-Type: application/json\r\n", DEEP_JSON, 400,
                 "bad request: body is nested deeper", id="json-5000-deep"),
    # The 100,000-deep body: 200 KB, refused for its size before anything parses it.
    pytest.param(b"Cookie: " + GOOD_COOKIE + b"\r\nContent-Type: application/json\r\n",
                 b"[" * 100_000 + b"]" * 100_000, 413, "payload too large", id="json-100000-deep"),
]


@pytest.mark.parametrize(("headers", "body", "status", "reason"), HTTP_CASES)
async def test_bad_ticket_request_is_a_4xx_with_one_line(
    tmux_server: TmuxServer, session: str, headers: bytes, body: bytes, status: int, reason: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        got_status, got_body = await raw_request(client.base_url, post_ticket(client.base_url, headers, body), body)
        assert (got_status, got_body.decode().count("\n")) == (status, 1), got_body[:300]
        assert got_body.decode().startswith(reason), got_body[:300]
        await assert_still_serving(client, witness)


async def test_a_good_ticket_request_still_works_raw(tmux_server: TmuxServer, session: str) -> None:
    """The raw request above is right apart from the case's fault: with nothing wrong it gets its ticket."""
    async with running_app(tmux_server) as (client, _):
        body = b'{"session": "anchor"}'
        headers = b"Cookie: " + GOOD_COOKIE + b"\r\nContent-Type: application/json; charset=UTF-8\r\n"
        got_status, got_body = await raw_request(client.base_url, post_ticket(client.base_url, headers, body), body)
        assert got_status == 200, got_body
        assert b'"ticket"' in got_body


async def test_deep_json_handshake_closes_4400(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.connect(session)
        await pane.ws.send_bytes(b"[" * 30_000 + b"]" * 30_000)  # 60,000 bytes: under the 64 KiB frame limit
        code, reason = await pane.expect_close()
        assert (code, reason.partition(":")[0]) == (4400, "bad request"), (code, reason)
        assert reason != "bad request"
        await assert_still_serving(client, witness)


async def test_deep_json_resize_closes_4400(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.open_pane(session)
        await pane.ws.send_bytes(b"1" + b"[" * 30_000)
        code, reason = await pane.expect_close()
        assert (code, reason.partition(":")[0]) == (4400, "bad request"), (code, reason)
        await assert_still_serving(client, witness)


# -- parse_json: the one parser of client JSON --------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES))
def test_parse_json_returns_a_value_or_raises_bad_json(data: bytes) -> None:
    try:
        parse_json(data, "frame", 1024)
    except BadJson as exc:
        assert exc.reason.startswith("frame ") and "\n" not in exc.reason


@settings(max_examples=100, derandomize=True, deadline=None)
@given(JSON_VALUES)
def test_parse_json_reads_what_json_dumps_wrote(value: object) -> None:
    text = json.dumps(value)
    assert json.dumps(parse_json(text.encode(), "frame", len(text))) == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 33 + b"]" * 33, "frame is nested deeper than 32 levels"),
        (b"[" * 100_000, "frame is nested deeper than 32 levels"),
        (b'["' + b"[" * 1000 + b'"]', None),  # brackets inside a string do not nest
        (b'["\\"' + b"[" * 1000 + b'"]', None),  # nor after an escaped quote
        (b"[" * 32 + b"]" * 32, None),
        (b"\xff", "frame is not JSON"),
        (b"1" * 5_000, "frame is not JSON"),  # past Python's int-to-str digit limit: ValueError, not a crash
        (b"x" * 1025, "frame is over 1024 bytes"),
    ],
)
def test_parse_json_bounds(data: bytes, reason: str | None) -> None:
    if reason is None:
        parse_json(data, "frame", len(data))
        return
    with pytest.raises(BadJson) as caught:
        parse_json(data, "frame", 1024 if len(data) <= 1025 else len(data))
    assert caught.value.reason == reason
