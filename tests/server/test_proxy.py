"""Proxy mode: frames relayed unchanged, the retry schedule, fail-fast refusals, and close propagation."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support import async_wait_until, free_port

from livepane_server.config import RetryPolicy
from livepane_server.proxy import UpstreamProxy

from .conftest import Client, TmuxServer, marker, running_app

UPSTREAM_TOKEN = "upstream-token"


class FakeUpstream:
    """A minimal terminal server: title frame, then echoes every frame back as is; records how sockets end."""

    def __init__(self, status: int | None = None) -> None:
        self.status = status  # answer the upgrade with this HTTP status instead
        self.closes: list[int | None] = []
        self.paths: list[str] = []
        self.server: TestServer | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path_qs)
        if self.status is not None:
            return web.Response(status=self.status, text="refused\n")
        ws = web.WebSocketResponse(protocols=("tty",))
        await ws.prepare(request)
        await ws.send_bytes(b"1" + request.match_info.get("session", "").encode())
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                if msg.data == "close-4321":
                    await ws.close(code=4321, message=b"upstream says bye")
                    break
                await ws.send_str(msg.data)
        self.closes.append(ws.close_code)
        return ws

    async def start(self, port: int | None = None) -> int:
        app = web.Application()
        app.router.add_get("/ws/{session}", self.handler)
        app.router.add_get("/tty", self.handler)
        self.server = TestServer(app, host="127.0.0.1", port=port)
        await self.server.start_server()
        return self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()


@contextlib.asynccontextmanager
async def fake_upstream(status: int | None = None):
    upstream = FakeUpstream(status)
    port = await upstream.start()
    try:
        yield upstream, f"ws://127.0.0.1:{port}"
    finally:
        await upstream.stop()


async def test_relays_to_a_real_serve_py_upstream(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        async with running_app(tmux_server, upstream=upstream_url, upstream_token=UPSTREAM_TOKEN) as (client, _):
            pane = await client.open_pane(session)
            assert pane.got.title == session
            assert pane.got.preferences == {"livepane": {"protocol": 5, "keepalive_ms": 10000}}
            mark = marker()
            await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
            await pane.wait_output(mark)
            # The upstream's refusals reach the browser unchanged.
            gone = await client.connect("no-such-session")
            assert await gone.expect_close() == (4404, "no such session")
            # And its session API is the upstream's.
            async with client.http.get(client.url("/api/sessions"), headers=_cookie()) as response:
                assert session in {s["id"] for s in (await response.json())["sessions"]}


async def test_a_proxy_reloads_on_sighup_and_keeps_relaying(
    serve_process, tmux_server: TmuxServer, session: str
) -> None:
    """SIGHUP in proxy mode: the successor keeps the upstream and its token (the token rides in the environment,
    never in argv), and the pane comes back through it."""
    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        process = serve_process("--upstream", upstream_url, env={"LIVEPANE_UPSTREAM_TOKEN": UPSTREAM_TOKEN})
        old_pid = process.proc.pid
        client = Client(process.base_url)
        try:
            pane = await client.open_pane(session)
            process.proc.send_signal(signal.SIGHUP)
            assert await pane.expect_close(timeout=15) == (1012, "service restart")
            await async_wait_until(
                lambda: (pid := process.serving_pid()) != old_pid and pid, timeout_s=15, what="successor's pid file"
            )
            again = await client.open_pane(session)
            mark = marker()
            await again.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
            await again.wait_output(mark)
            assert UPSTREAM_TOKEN not in " ".join(process.args)
        finally:
            await client.close()


def _cookie() -> dict[str, str]:
    from .conftest import cookie_header

    return cookie_header()


async def test_frames_pass_unchanged_both_ways_binary_and_text(tmux_server: TmuxServer) -> None:
    async with fake_upstream() as (upstream, url), running_app(tmux_server, upstream=url) as (client, _):
        pane = await client.connect("abc")
        assert await pane.receive_one() == b"1abc"
        payload = bytes(range(256)) * 4
        await pane.ws.send_bytes(payload)
        msg = await pane.ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.BINARY and msg.data == payload
        await pane.ws.send_str("0héllo")
        msg = await pane.ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT and msg.data == "0héllo"
        assert upstream.paths == ["/ws/abc"]  # no ticket: no upstream token given


async def test_upstream_close_code_and_reason_reach_the_browser_once(tmux_server: TmuxServer) -> None:
    async with fake_upstream() as (_, url), running_app(tmux_server, upstream=url) as (client, _):
        pane = await client.connect("abc")
        await pane.receive_one()
        await pane.ws.send_str("close-4321")
        assert await pane.expect_close() == (4321, "upstream says bye")


async def test_browser_close_closes_the_upstream(tmux_server: TmuxServer) -> None:
    async with fake_upstream() as (upstream, url), running_app(tmux_server, upstream=url) as (client, _):
        pane = await client.connect("abc")
        await pane.receive_one()
        await pane.ws.close(code=4000, message=b"keepalive timeout")
        await async_wait_until(lambda: upstream.closes, what="upstream saw the close")
        assert upstream.closes == [4000]


async def test_upstream_url_forms() -> None:
    policy = RetryPolicy()
    assert str(UpstreamProxy("ws://h:1", None, policy).ws_url("s1")) == "ws://h:1/ws/s1"
    assert str(UpstreamProxy("ws://h:1/", None, policy).ws_url("s1")) == "ws://h:1/ws/s1"
    assert str(UpstreamProxy("wss://h/t/{session}/x", None, policy).ws_url("s1")) == "wss://h/t/s1/x"
    assert str(UpstreamProxy("ws://h:7681/ws", None, policy).ws_url("s1")) == "ws://h:7681/ws"  # ttyd
    assert str(UpstreamProxy("wss://h:9/a/{session}", None, policy).http_base()) == "https://h:9/"


async def test_connects_to_an_upstream_that_comes_up_after_two_retries(tmux_server: TmuxServer) -> None:
    port = free_port()
    delays: list[float] = []
    upstream = FakeUpstream()

    async def recording_sleep(seconds: float) -> None:
        # No wall clock: the upstream comes up exactly when the second retry delay is asked for, so the first two
        # attempts are refused and the third meets it.
        delays.append(seconds)
        if len(delays) == 2:
            await upstream.start(port)

    try:
        async with running_app(tmux_server, upstream=f"ws://127.0.0.1:{port}", proxy_sleep=recording_sleep) as (
            client,
            _,
        ):
            pane = await client.connect("late")
            assert await pane.receive_one(timeout=10) == b"1late"
            # Attempts after 0, 0.2 and 0.2 + 0.4 s of scheduled delay: the third meets the upstream.
            assert delays == [0.2, 0.4]
    finally:
        await upstream.stop()


@pytest.mark.parametrize("status", [403, 404, 401])
async def test_non_transient_refusal_fails_fast_with_1014(tmux_server: TmuxServer, status: int) -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    async with (
        fake_upstream(status) as (upstream, url),
        running_app(tmux_server, upstream=url, proxy_sleep=recording_sleep) as (client, _),
    ):
        pane = await client.connect("abc")
        code, reason = await pane.expect_close()
        assert (code, reason) == (1014, f"bad gateway: upstream answered HTTP {status}")
        assert delays == [] and len(upstream.paths) == 1


async def test_unreachable_upstream_retries_on_the_real_schedule_then_1014(tmux_server: TmuxServer) -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    async with running_app(tmux_server, upstream=url, proxy_sleep=recording_sleep) as (client, _):
        pane = await client.connect("abc")
        code, reason = await pane.expect_close()
        assert code == 1014 and reason.startswith("bad gateway: upstream unreachable")
        assert delays == [0.2, 0.4, 0.8]  # 4 attempts


async def test_5xx_handshake_is_transient_and_retried(tmux_server: TmuxServer) -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    async with (
        fake_upstream(503) as (upstream, url),
        running_app(tmux_server, upstream=url, proxy_sleep=recording_sleep) as (client, _),
    ):
        pane = await client.connect("abc")
        assert await pane.expect_close() == (1014, "bad gateway: upstream answered HTTP 503")
        assert delays == [0.2, 0.4, 0.8] and len(upstream.paths) == 4


async def test_wrong_upstream_token_fails_fast(tmux_server: TmuxServer, session: str) -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        async with running_app(
            tmux_server, upstream=upstream_url, upstream_token="wrong", proxy_sleep=recording_sleep
        ) as (client, _):
            pane = await client.connect(session)
            assert await pane.expect_close() == (1014, "bad gateway: upstream answered HTTP 401")
            assert delays == []


async def test_open_timeout_counts_as_transient(tmux_server: TmuxServer) -> None:
    """An upstream that accepts TCP but never answers: each attempt ends at open_timeout_s and is retried."""
    hang = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hang.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    retry = RetryPolicy(attempts=2, delays_s=(0.01,), open_timeout_s=0.2)
    try:
        async with running_app(
            tmux_server, upstream=f"ws://127.0.0.1:{port}", retry=retry, proxy_sleep=recording_sleep
        ) as (client, _):
            pane = await client.connect("abc")
            assert await pane.expect_close() == (1014, "bad gateway: upstream timed out")
            assert delays == [0.01]
    finally:
        hang.set()
        server.close()


def test_retry_policy_schedule() -> None:
    policy = RetryPolicy()
    assert [policy.delay_after(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, None, None]
    assert policy.open_timeout_s == 4.0
    with pytest.raises(AttributeError):
        policy.attempts = 9  # frozen
