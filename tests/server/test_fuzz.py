"""Fuzzing the running app (issue 10): cookies, content types and charsets, JSON shapes and depths on the API;
handshake, resize and input frames on the socket.

Properties, for every example: an HTTP answer is never a 5xx, and a 4xx carries a one-line reason; a socket the
server closes gets a contract code with a non-empty reason, never 1011 or a bare 1006; afterwards the server still
answers and a pane opened before the fuzzing still echoes.

Rules: the app runs in this process (`running_app`, real tmux behind it) on its event loop; hypothesis runs in a
worker thread and hands each example to that loop. Examples are bounded and derandomized (the same ones on every
run, no example database), so CI is repeatable.

The fuzzed socket's session runs a command that ignores every key (no shell to type random bytes into), and random
input never contains tmux's prefix key (C-b): a random "C-b d" would detach the client, "C-b :" open tmux's prompt.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import shlex
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from livepane_server.auth import COOKIE_NAME, cookie_value_for
from pyclient import protocol
from pyclient.protocol import Close

from .conftest import TOKEN, Client, Pane, TmuxServer, running_app
from .test_socket_errors import assert_still_serving

# Every example's own deadline (a hang is a failure, not a slow example).
EXAMPLE_TIMEOUT_S = 10.0
# Check the witness pane every this many examples (and after the last).
WITNESS_EVERY = 25
# A session whose command reads keys and does nothing with them, whatever they are (Ctrl-C, Ctrl-D, Ctrl-Z...).
# It ends once its terminal is gone or tmux (its parent) is: `while :` alone outlived a killed tmux server as an
# orphan re-running `cat` on a hung-up terminal forever (34 of them once held the load average near 50).
INERT_COMMAND = "sh -c " + shlex.quote(
    "trap '' INT QUIT TSTP HUP; while [ -t 0 ] && kill -0 $PPID 2>/dev/null; do cat >/dev/null; done"
)
TMUX_PREFIX = 0x02  # C-b
# A command byte no protocol knows (commands are ASCII digits; 7, 8 and 9 are protocol 2's): the server closes 1003.
UNKNOWN_FRAME = b"x"
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

GOOD_COOKIE = f"{COOKIE_NAME}={cookie_value_for(TOKEN)}".encode()
# Bytes an HTTP header value may hold (RFC 9110 §5.5: HTAB, SP, VCHAR, obs-text). Control characters are the
# parser's to refuse, before any of our code runs (tests/server/test_request_logs.py).
HEADER_BYTES = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127))

# -- strategies -----------------------------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["anchor", "", "bad.id", "x" * 65, "anchor\n"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["session", "columns", "rows", "AuthToken"]) | st.text(max_size=6), inner, max_size=4),
    max_leaves=16,
)


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 6_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opener * depth + b"1" + closer * depth


JSON_BODIES = (
    st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES)
    | st.builds(lambda v: json.dumps({"session": v}).encode(), JSON_SCALARS)
    | deep_json()
    | st.binary(max_size=200)
    | st.just(b'{"session": "anchor"}' + b" " * (16 * 1024))  # over the body limit
)
BAD_COOKIES = (
    st.none()
    | HEADER_BYTES
    | HEADER_BYTES.map(lambda b: COOKIE_NAME.encode() + b"=" + b)
    | HEADER_BYTES.map(lambda b: GOOD_COOKIE + b)
    | HEADER_BYTES.map(lambda b: b + b"; " + GOOD_COOKIE)
)
TOKEN_CHARS = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='";,\\')
CHARSETS = st.none() | st.sampled_from(["utf-8", "UTF-8", "utf8", "bogus", "latin-1", "utf-16", "ascii", ""]) | (
    st.text(TOKEN_CHARS, max_size=20))
MEDIA_TYPES = st.none() | st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]) | (
    st.text(TOKEN_CHARS, max_size=20))
SESSION_IDS = st.sampled_from(["h2fuzz-made", "anchor"]) | st.text(max_size=70)


@st.composite
def api_requests(draw: st.DrawFn) -> bytes:
    """One whole HTTP/1.1 request to /api/ticket or /api/sessions/<id>, byte for byte."""
    ticket = draw(st.booleans())
    path = "/api/ticket" if ticket else "/api/sessions/" + urllib.parse.quote(draw(SESSION_IDS), safe="")
    head = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    cookie = draw(BAD_COOKIES) if draw(st.integers(0, 2)) == 0 else GOOD_COOKIE  # past the cookie check 2 in 3
    if cookie is not None:
        head.append(b"Cookie: " + cookie)
    media_type, charset = draw(MEDIA_TYPES), draw(CHARSETS)
    if media_type is not None or charset is not None:
        value = (media_type or "application/json") + (f"; charset={charset}" if charset is not None else "")
        head.append(b"Content-Type: " + value.encode())
    body = draw(JSON_BODIES)
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def no_prefix(data: bytes) -> bytes:
    return data.replace(bytes([TMUX_PREFIX]), b"")


SIZES = st.integers(1, 200) | st.sampled_from([0, -1, 10_001, 2**64, 1.5, True, "80", None])
SIZE_OBJECTS = st.fixed_dictionaries(
    {"columns": SIZES, "rows": SIZES}, optional={"AuthToken": st.text(max_size=5) | st.integers() | st.none()}
)
FRAME_JSON = (
    st.builds(lambda v: json.dumps(v).encode(), SIZE_OBJECTS)
    | st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES)
    | deep_json().filter(lambda b: len(b) <= protocol.MAX_CLIENT_FRAME_BYTES)
    | st.binary(max_size=100)
)
HANDSHAKES = st.tuples(st.sampled_from(["binary", "text"]), FRAME_JSON)
FRAMES = st.one_of(
    st.builds(lambda data: protocol.INPUT + no_prefix(data), st.binary(max_size=100)),
    st.builds(lambda data: protocol.RESIZE + data, FRAME_JSON),
    st.sampled_from([protocol.PAUSE, protocol.RESUME, b"", protocol.RESIZE, protocol.PROBE, protocol.INPUT_END,
                     UNKNOWN_FRAME, b"\xff"]),
    st.builds(lambda first, data: bytes([first]) + no_prefix(data), st.integers(0, 255), st.binary(max_size=50)),
)
FRAME_LISTS = st.lists(st.tuples(st.sampled_from(["binary", "text"]), FRAMES), min_size=1, max_size=4)

# -- checks -----------------------------------------------------------------------------------------------------------


async def raw_exchange(client: Client, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
    try:
        writer.write(request)
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def assert_one_line_4xx_or_success(status: int, body: bytes) -> str:
    """The outcome's label for hypothesis' statistics (pytest --hypothesis-show-statistics)."""
    assert status < 500, (status, body[:300])
    if status >= 400:
        reason = body.decode().removesuffix("\n")  # ours end in a newline; aiohttp's 404/405 do not
        assert reason.strip() and "\n" not in reason, (status, body[:300])
    return f"HTTP {status}"


def assert_contract_close(pane: Pane) -> str:
    code, reason = pane.close_code, pane.close_reason
    assert code is not None and protocol.is_sendable_close_code(code), (code, reason)
    assert code != Close.INTERNAL_ERROR, (code, reason)
    assert reason, (code, reason)
    return f"close {code} {reason.partition(':')[0]}"


async def send(pane: Pane, kind: str, frame: bytes) -> None:
    if kind == "text":
        await pane.ws.send_str(frame.decode("utf-8", "replace"))
    else:
        await pane.ws.send_bytes(frame)


async def closes_or_opens(pane: Pane) -> bool:
    """True once the server sent a frame (the handshake was good); False when it closed (the close recorded)."""
    while True:
        frame = await pane.receive_one(timeout=EXAMPLE_TIMEOUT_S)
        if frame is None:
            return False
        if pane.got.title is not None:
            return True


def run_fuzz(
    tmux_server: TmuxServer, session: str, example: Callable[[Client, Any], Coroutine[Any, Any, str]],
    strategy: st.SearchStrategy[Any], max_examples: int, must_see: set[str],
) -> Callable[[], Coroutine[Any, Any, None]]:
    """An async test body: start the app, open a witness pane, run ``example`` on each drawn case, check the witness.

    ``example`` returns its outcome's label; every label in ``must_see`` must come up (the strategies reach the
    interesting cases, not only the first refusal).
    """

    async def body() -> None:
        async with running_app(tmux_server) as (client, _):
            witness = await client.open_pane(session)
            loop = asyncio.get_running_loop()
            outcomes: collections.Counter[str] = collections.Counter()

            def on_loop(coro: Coroutine[Any, Any, str | None]) -> str | None:
                return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, EXAMPLE_TIMEOUT_S), loop).result()

            @settings(FUZZ_SETTINGS, max_examples=max_examples)
            @given(strategy)
            def fuzz(case: Any) -> None:
                outcome = on_loop(example(client, case))
                event(outcome)
                outcomes[outcome] += 1
                if outcomes.total() % WITNESS_EVERY == 0:
                    on_loop(assert_still_serving(client, witness))

            await loop.run_in_executor(None, fuzz)
            await assert_still_serving(client, witness)
            print(dict(outcomes))  # pytest -s shows what the fuzzing reached
            assert must_see <= set(outcomes), outcomes

    return body


@pytest.fixture
def inert_session(tmux_server: TmuxServer) -> str:
    session_id = tmux_server.new_session(shell=INERT_COMMAND)
    yield session_id
    tmux_server.kill_session(session_id)


# -- the tests -------------------------------------------------------------------------------------------------------


async def test_fuzz_the_api(tmux_server: TmuxServer, session: str) -> None:
    async def example(client: Client, request: bytes) -> str:
        return assert_one_line_4xx_or_success(*await raw_exchange(client, request))

    def sessions() -> set[str]:
        return set(tmux_server.run("list-sessions", "-F", "#{session_name}", check=False).split())

    before = sessions()
    try:
        await run_fuzz(tmux_server, session, example, api_requests(), max_examples=80,
                       must_see={"HTTP 200", "HTTP 400", "HTTP 401", "HTTP 413"})()
    finally:
        for made in sessions() - before:  # a fuzzed id that was valid made a session
            tmux_server.kill_session(made)


async def test_fuzz_the_handshake(tmux_server: TmuxServer, session: str, inert_session: str) -> None:
    async def example(client: Client, case: tuple[str, bytes]) -> str:
        pane = await client.connect(inert_session)
        try:
            await send(pane, *case)
            return "handshake accepted" if await closes_or_opens(pane) else assert_contract_close(pane)
        finally:
            await pane.close()

    await run_fuzz(tmux_server, session, example, HANDSHAKES, max_examples=30,
                   must_see={"handshake accepted", "close 4400 bad request"})()


async def test_fuzz_frames_after_the_handshake(tmux_server: TmuxServer, session: str, inert_session: str) -> None:
    async def example(client: Client, frames: list[tuple[str, bytes]]) -> str:
        pane = await client.connect(inert_session)
        try:
            await pane.handshake(40, 10)
            # A frame no contract knows, last: the close it gets proves every frame before it was read; an earlier
            # bad frame closes first with its own code (and later sends may then find the socket closing).
            with contextlib.suppress(ConnectionError):
                for kind, frame in [*frames, ("binary", UNKNOWN_FRAME)]:
                    await send(pane, kind, frame)
            try:
                await pane.expect_close(timeout=EXAMPLE_TIMEOUT_S)
            except aiohttp.ClientConnectionError:
                pytest.fail(f"the connection broke instead of closing with a code: {frames!r}")
            return assert_contract_close(pane)
        finally:
            await pane.close()

    await run_fuzz(tmux_server, session, example, FRAME_LISTS, max_examples=25,
                   must_see={"close 1003 unknown message type", "close 4400 bad request"})()
