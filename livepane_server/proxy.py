"""Proxy mode (`--upstream`): relays each browser socket frame for frame to another terminal server.

Rules:
- Transient upstream failures (network, timeouts, HTTP 5xx) are retried per the RetryPolicy; others fail fast.
- Every failure reaches the browser as 1014 with a "bad gateway: ..." reason; an upstream's sendable close code and
  reason are relayed as they are.
- Frames pass unchanged. The relay only reads what it needs for its own graceful restart (Relay): the protocol both
  ends declare, the input frames it relayed and the upstream's acks; a DRAIN of its own and the INPUT_END answering
  it are the only frames it makes or keeps.
- Its restart settles a protocol-5 browser's input as a bridge does (bridge.py): after the seal no input frame is
  relayed, and the close says Reason.SETTLED only once the upstream's acks, relayed to the browser, cover every frame
  it relayed. An upstream slower than that gets the plain 1012: the browser reports what is unacked as uncertain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from pyclient.protocol import (
    ACK,
    DRAIN_FRAME,
    INPUT,
    INPUT_END,
    PREFERENCES,
    SETTLED_PROTOCOL,
    SUBPROTOCOL,
    Close,
    Reason,
    is_sendable_close_code,
    parse_ack,
    parse_preferences,
)

from .auth import COOKIE_NAME, cookie_value_for
from .bridge import (
    RESTART_DRAIN_DEADLINE_S,
    RESTART_INPUT_END_DEADLINE_S,
    WS_HEARTBEAT_S,
    SocketCloser,
    close_ws,
    frame_bytes,
    handshake_protocol,
)
from .config import RetryPolicy

log = logging.getLogger("livepane")


class UpstreamError(Exception):
    """The upstream could not be reached; `transient` says whether another attempt may help."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def classify_upstream_error(exc: BaseException) -> UpstreamError:
    """Transient: network errors (incl. DNS), timeouts, a dropped handshake, HTTP 5xx. Anything else fails fast."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, aiohttp.WSServerHandshakeError | aiohttp.ClientResponseError):
        return UpstreamError(f"upstream answered HTTP {exc.status}", transient=exc.status >= 500)
    if isinstance(exc, TimeoutError):
        return UpstreamError("upstream timed out", transient=True)
    if isinstance(exc, OSError | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return UpstreamError(f"upstream unreachable ({exc.__class__.__name__})", transient=True)
    return UpstreamError(f"upstream error ({exc.__class__.__name__})", transient=False)


# Acks (and so the drain) came with protocol 2; later protocols keep them.
DRAIN_PROTOCOL = 2


class Relay:
    """What one relayed socket's graceful restart needs: whether both ends speak protocol 2, the input frames relayed
    upstream, the upstream's last ack relayed to the browser, and the browser's INPUT_END to a DRAIN of our own.

    The proxy's restart drains the browser as a bridge does (docs/protocol.md §2), but the acks are the upstream's:
    once the browser ended its input (or, protocol 5, once the deadline for that passed and input is sealed), the
    close waits until the upstream acked every input frame relayed."""

    def __init__(self) -> None:
        self.browser_protocol = 0
        self.upstream_protocol = 0
        self.frames_from_browser = 0  # every data frame, the handshake first
        self.input_frames = 0
        self.acked = 0  # the upstream's count, once its ack frame went on to the browser
        self.draining = False  # our own DRAIN is out: the INPUT_END answering it is ours, not the upstream's
        self.sealed = False  # protocol 5, after our drain's seal: input frames are no longer relayed
        self.input_ended = asyncio.Event()
        self.all_acked = asyncio.Event()

    def from_browser(self, data: bytes) -> bool:
        """Note a browser frame; False if it is not relayed: the INPUT_END answering our DRAIN, or input after the
        seal (not written, not acked: the browser sends it again on its next connection)."""
        self.frames_from_browser += 1
        if self.frames_from_browser == 1:
            self.browser_protocol = handshake_protocol(data)
        elif data[:1] == INPUT:
            if self.sealed:
                return False
            self.input_frames += 1
            self.all_acked.clear()
        elif data[:1] == INPUT_END and self.draining:
            self.input_ended.set()
            return False
        return True

    def relayed_to_browser(self, data: bytes) -> None:
        """Note an upstream frame once it went on to the browser: an ack counts only when the browser has it too
        (the close frame follows it, and nothing may come between)."""
        kind = data[:1]
        if kind == bytes([PREFERENCES]):
            self.upstream_protocol = parse_preferences(data[1:].decode("utf-8", "replace")).protocol
        elif kind == bytes([ACK]):
            count = parse_ack(data[1:].decode("ascii", "replace"))
            if count is not None and count > self.acked:
                self.acked = count
        if self.acked >= self.input_frames:
            self.all_acked.set()

    async def drain(self, browser: web.WebSocketResponse) -> bool:
        """Our restart, before the close: DRAIN, the browser's INPUT_END (at most RESTART_INPUT_END_DEADLINE_S), the
        seal (protocol 5), the upstream's acks for all of it; at most RESTART_DRAIN_DEADLINE_S in all. Only when both
        ends speak protocol 2 (else the browser could not know what acks mean, or no acks would come). True when
        the browser's input is settled: sealed, and every frame relayed acked to it."""
        if min(self.browser_protocol, self.upstream_protocol) < DRAIN_PROTOCOL:
            return False
        self.draining = True
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout_at(started + RESTART_INPUT_END_DEADLINE_S):
                await browser.send_bytes(DRAIN_FRAME)
                await self.input_ended.wait()
        except ConnectionError:
            return False
        except TimeoutError:
            pass  # sealed below (protocol 5): what the browser sends from now on goes again on its next connection
        self.sealed = self.browser_protocol >= SETTLED_PROTOCOL
        try:
            async with asyncio.timeout_at(started + RESTART_DRAIN_DEADLINE_S):
                if self.acked < self.input_frames:
                    self.all_acked.clear()
                    await self.all_acked.wait()
        except (ConnectionError, TimeoutError):
            return False
        return self.sealed


class UpstreamProxy:
    """Relays browser sockets to an upstream terminal server, frames unchanged.

    Upstream URL: `{session}` in it is replaced by the session id; otherwise a URL without a path gets `/ws/<id>`
    appended (an upstream serve.py) and a URL with a path is used as is (one ttyd terminal).
    Upstream auth: with an upstream token, the proxy presents the cookie derived from it and fetches a ticket from
    `<upstream>/api/ticket` before every connect attempt; without one it connects bare (ttyd).
    """

    def __init__(
        self,
        upstream: str,
        upstream_token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.upstream = upstream
        self.upstream_token = upstream_token
        self.retry = retry
        self.sleep = sleep
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()

    def ws_url(self, session_id: str) -> URL:
        if "{session}" in self.upstream:
            return URL(self.upstream.replace("{session}", session_id))
        url = URL(self.upstream)
        if url.path in ("", "/"):
            return url.with_path(f"/ws/{session_id}")
        return url

    def http_base(self) -> URL:
        url = URL(self.upstream.replace("{session}", "x"))
        return url.with_scheme("https" if url.scheme == "wss" else "http").with_path("/").with_query(None)

    def auth_headers(self) -> dict[str, str]:
        if not self.upstream_token:
            return {}
        return {"Cookie": f"{COOKIE_NAME}={cookie_value_for(self.upstream_token)}"}

    async def _attempt(self, session_id: str) -> aiohttp.ClientWebSocketResponse:
        assert self.http is not None
        url = self.ws_url(session_id)
        if self.upstream_token:
            async with self.http.post(
                self.http_base() / "api" / "ticket", json={"session": session_id}, headers=self.auth_headers()
            ) as response:
                response.raise_for_status()
                try:
                    ticket = str((await response.json())["ticket"])
                except (ValueError, KeyError, TypeError, aiohttp.ContentTypeError):
                    raise UpstreamError("upstream ticket answer malformed", transient=True) from None
            url = url.update_query(ticket=ticket)
        return await self.http.ws_connect(
            url,
            protocols=(SUBPROTOCOL,),
            heartbeat=WS_HEARTBEAT_S,
            max_msg_size=0,  # frames are relayed unchanged; the upstream enforces its own limits
            compress=0,
        )

    async def connect(self, session_id: str) -> aiohttp.ClientWebSocketResponse:
        """Open the upstream socket, retrying transient failures per the RetryPolicy; raises UpstreamError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(self.retry.open_timeout_s):
                    return await self._attempt(session_id)
            except Exception as exc:
                error = classify_upstream_error(exc)
            delay = self.retry.delay_after(attempt) if error.transient else None
            if delay is None:
                raise error
            log.info("upstream connect attempt %d failed: %s; retrying in %.1f s", attempt, error.reason, delay)
            await self.sleep(delay)

    async def relay(self, browser: web.WebSocketResponse, session_id: str, closer: SocketCloser | None = None) -> None:
        """Frames both ways, unchanged, until either side closes. Nothing reaches the browser before the upstream's
        first frame (the pane is "open" only then). A graceful restart (closer) closes the browser 1012 and keeps
        relaying its input upstream until its close arrives, like a bridge."""
        closer = closer or SocketCloser(browser, None)
        try:
            upstream = await self.connect(session_id)
        except UpstreamError as exc:
            log.warning("upstream for session %s failed: %s", session_id, exc.reason)
            await closer.close(Close.BAD_GATEWAY, f"{Reason.BAD_GATEWAY}: {exc.reason}")
            return
        if browser.closed:  # closed (a restart, the browser left) while we were connecting
            await close_ws(upstream, Close.GOING_AWAY, "")
            return
        relay = Relay()
        to_browser = asyncio.create_task(self._upstream_to_browser(upstream, browser, closer, relay))

        async def stop_senders() -> None:
            to_browser.cancel()
            await asyncio.gather(to_browser, return_exceptions=True)

        async def drain() -> bool:
            return await relay.drain(browser)

        closer.stop_senders = stop_senders
        closer.drain = drain
        to_upstream = asyncio.create_task(self._browser_to_upstream(browser, upstream, closer, relay))
        try:
            await asyncio.wait({to_upstream, to_browser}, return_when=asyncio.FIRST_COMPLETED)
            if closer.restarting:
                await to_upstream  # the browser's input in flight still goes upstream, until its close
        finally:
            closer.stop_senders = None
            closer.drain = None
            for task in (to_upstream, to_browser):
                task.cancel()
            await asyncio.gather(to_upstream, to_browser, return_exceptions=True)
            if not upstream.closed:
                await close_ws(upstream, Close.NORMAL, "")

    @staticmethod
    async def _browser_to_upstream(
        browser: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, closer: SocketCloser, relay: Relay
    ) -> None:
        try:
            while True:
                msg = await browser.receive()
                if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT) and not relay.from_browser(frame_bytes(msg)):
                    continue  # the INPUT_END answering our own DRAIN
                if msg.type is WSMsgType.BINARY:
                    await upstream.send_bytes(msg.data)
                elif msg.type is WSMsgType.TEXT:
                    await upstream.send_str(msg.data)  # the size limit is aiohttp's parser's (websocket.py)
                else:
                    if msg.type is WSMsgType.CLOSE:
                        await closer.peer_closed()
                    break
        except ConnectionError:
            return  # the upstream is gone; the other direction reports it
        code = browser.close_code
        await close_ws(upstream, code if is_sendable_close_code(code) else Close.NORMAL, "")

    @staticmethod
    async def _upstream_to_browser(
        upstream: aiohttp.ClientWebSocketResponse, browser: web.WebSocketResponse, closer: SocketCloser, relay: Relay
    ) -> None:
        reason = ""
        try:
            while True:
                msg = await upstream.receive()
                if msg.type is WSMsgType.BINARY:
                    await browser.send_bytes(msg.data)  # written to the transport before it returns (no compression)
                    relay.relayed_to_browser(msg.data)
                elif msg.type is WSMsgType.TEXT:
                    await browser.send_str(msg.data)
                else:
                    if msg.type is WSMsgType.CLOSE:
                        reason = msg.extra or ""
                    break
        except ConnectionError:
            return  # the browser is gone; the other direction reports it
        code = upstream.close_code
        if is_sendable_close_code(code):
            await closer.close(code, reason)
        else:
            await closer.close(Close.BAD_GATEWAY, f"{Reason.BAD_GATEWAY}: upstream connection lost")
