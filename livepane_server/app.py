"""The aiohttp application: routes, the API and socket checks, and the registry of open terminal sockets.

Rules:
- A socket is always accepted before it is refused, so the browser sees a code and a reason, never a bare 1006.
- Every bad input gets a status or close code with a one-line reason; never a 500 for a bad request.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from pyclient.protocol import SESSION_ID_RE, SUBPROTOCOL, Close, Reason

from .assets import CACHE_NEVER, SECURITY_HEADERS, Assets
from .auth import COOKIE_NAME, TICKET_TTL_S, Auth, Refusal, TicketError, TicketJournal
from .bridge import (
    WS_CLOSE_TIMEOUT_S,
    WS_HEARTBEAT_S,
    ProtocolError,
    SocketCloser,
    TerminalPane,
    close_ws,
    frame_bytes,
    handshake_protocol,
    parse_size,
)
from .client_json import BadJson, read_json_body
from .config import Config
from .poll import SessionPoll, SessionRow
from .preview import Previews, page_sessions, pane_template
from .proxy import UpstreamProxy, classify_upstream_error
from .request_log import RequestLog
from .sessions import ETAG_RE, SessionWatch, TooManyWatchers
from .tmux import Tmux
from .websocket import TerminalSocket

log = logging.getLogger("livepane")

# Frames are terminal output; the browser is usually on loopback or a LAN, and per-message deflate costs CPU on
# every frame for small screen diffs. Off, like a raw ttyd over loopback.
WS_COMPRESS = False
# SIGTERM must end the process within a second (issue 3): closes and bridge stops share this budget (a restart's
# close reads input for up to bridge.RESTART_CLOSE_DEADLINE_S of it).
SHUTDOWN_BUDGET_S = 0.6

SAME_SITE_REFRESH_HTML = (
    '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={url}">'
    '<title>livepane</title><a href="{url}">Open livepane</a>\n'
)
# Routes under this prefix pass _api_checks (cookie; Origin too when not GET).
API_PREFIX = "/api/"
UNAUTHORIZED_TEXT = "unauthorized: open the URL that serve.py printed (it ends in ?token=...)\n"
# --public-url with a path, and a request that still carries it: the proxy forwarded the prefix instead of stripping
# it. Without this the browser would get a bare 404 (or a page that loads nothing).
UNSTRIPPED_PREFIX_TEXT = (
    "not found: {path} reached livepane with the public URL's prefix {prefix} still on; livepane serves its page at "
    "/ behind the proxy: strip the prefix (nginx: proxy_pass http://127.0.0.1:{port}/; with the slash; Caddy: "
    "handle_path {prefix}*)\n"
)
# A cookie of a token that --rotate-token retired (auth.Auth.cookie_rotated): the pane can say why it stopped.
ROTATED_TEXT = "unauthorized: the access token was rotated; open the new URL that serve.py printed\n"


def text_error(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason.rstrip("\n") + "\n", headers={"Cache-Control": CACHE_NEVER})


class LivepaneServer:
    """The aiohttp application: routes, auth, and the registry of open terminal sockets."""

    def __init__(
        self,
        config: Config,
        proxy_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ticket_journal: TicketJournal | None = None,
        retired_cookies: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.auth = Auth(config.token, journal=ticket_journal, retired_cookies=retired_cookies)
        self.assets = Assets(config.web_dir, config.pyclient_dir)
        self.address = config.public_address()
        self.tmux = Tmux(config.tmux_socket, config.shell, config.session_poll_interval_s)
        self.previews = Previews(self.tmux, self.auth.issue_ticket, TICKET_TTL_S)
        self.proxy = (
            UpstreamProxy(config.upstream, config.upstream_token, config.retry, proxy_sleep)
            if config.upstream
            else None
        )
        # The bar's watch listens to the poll the titles share (one `tmux list-sessions` per interval for both); a
        # proxy has no tmux of its own: its listing is one terminal's, polled without tmux.
        self.session_poll = (
            SessionPoll(self._proxy_rows, config.session_poll_interval_s) if self.proxy is not None else self.tmux.poll
        )
        self.session_watch = SessionWatch(
            config.default_session, self._listing, self.session_poll, config.session_watch
        )
        self.sockets: dict[web.WebSocketResponse, SocketCloser] = {}
        self.handlers: set[asyncio.Task[None]] = set()
        self.stopping = False
        # The loop time by which the shutdown must end, from its start: a bridge's stop keeps inside it.
        self.shutdown_deadline: float | None = None

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._unstripped_prefix, self._api_checks],
            # Passed to aiohttp's RequestHandler for every connection (TestServer and AppRunner alike).
            handler_args={
                "keepalive_timeout": self.config.http_idle_timeout_s,
                "logger": RequestLog(logging.getLogger("aiohttp.server")),
            },
        )
        app.on_response_prepare.append(self._security_headers)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{path:.+}", self.assets.static)
        app.router.add_get("/pyclient/{path:.+}", self.assets.pyclient)
        app.router.add_get("/vendor/{spec:.+}", self.assets.vendor)
        app.router.add_post("/api/ticket", self.ticket)
        app.router.add_get("/api/sessions", self.list_sessions)
        app.router.add_post("/api/sessions/{session}", self.create_session)
        app.router.add_get("/ws/{session}", self.terminal_socket)
        return app

    @staticmethod
    async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

    async def _on_startup(self, app: web.Application) -> None:
        if self.proxy is not None:
            await self.proxy.start()
            return
        if not await self.tmux.has_session(self.config.default_session):
            if await self.tmux.new_session(self.config.default_session):
                log.info("created tmux session %s", self.config.default_session)
            else:
                log.error("could not create tmux session %s", self.config.default_session)
        if self.config.tmux_socket:
            # Our own tmux server (tests, dedicated setups): the most recently active client's size wins everywhere.
            # Set after the default session is ensured: on a fresh socket there is no server to set it on before.
            await self.tmux.prefer_latest_size_globally()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.session_watch.close()  # held session watchers answer now
        await self.close_all_sockets()
        # After the bridges (they listen for titles): no poll, and no tmux command, outlives the loop.
        await self.session_poll.close()
        await self.tmux.poll.close()  # the same poll but in proxy mode (no bridges, nothing listens)

    async def _on_cleanup(self, app: web.Application) -> None:
        if self.proxy is not None:
            await self.proxy.stop()

    async def close_all_sockets(self) -> None:
        """Every socket gets 1012, input in flight is still written (SocketCloser.restart), and its bridge ends;
        returns within SHUTDOWN_BUDGET_S."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_BUDGET_S
        if self.shutdown_deadline is None:  # the first call (lifecycle's, then the app's on_shutdown) sets it
            self.shutdown_deadline = deadline
        restarts = [closer.restart() for closer in list(self.sockets.values())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*restarts, return_exceptions=True), SHUTDOWN_BUDGET_S / 2)
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=max(0.0, deadline - loop.time()))

    # -- HTTP -----------------------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if token is not None:
            if not self.auth.token_ok(token):
                return text_error(401, "unauthorized: wrong token in the URL")
            query = request.rel_url.query.copy()
            del query["token"]
            # Relative to this URL, so it stays under whatever prefix the proxy strips (docs/deploy.md).
            rest = request.rel_url.with_query(query).raw_query_string
            clean_url = "./" + (f"?{rest}" if rest else "")
            if request.headers.get("Sec-Fetch-Site") == "cross-site":
                # A link on another site (a chat, a wiki): the browser would not send the SameSite=Strict cookie on
                # this navigation's redirect, so the 303 would land on 401. A refresh is a same-site navigation.
                response = web.Response(
                    text=SAME_SITE_REFRESH_HTML.format(url=html.escape(str(clean_url), quote=True)),
                    content_type="text/html",
                    headers={"Cache-Control": CACHE_NEVER},
                )
            else:
                response = web.HTTPSeeOther(clean_url, headers={"Cache-Control": CACHE_NEVER})
            response.set_cookie(
                COOKIE_NAME,
                self.auth.cookie_value,
                httponly=True,
                samesite="Strict",
                path=self.address.path,
                secure=self.address.secure(request) or None,
            )
            if isinstance(response, web.HTTPSeeOther):
                raise response
            return response
        if not self.auth.cookie_ok(request):
            return self._unauthorized(request)
        return await self.assets.index(request, lambda page: self._preview(request, page))

    async def _preview(self, request: web.Request, page: str) -> dict[str, str]:
        """The previews of the page's sessions (livepane_server/preview.py) as the page's placeholders' fills, or {}
        (proxy mode: no tmux of ours; no session, none existing, tmux slow or missing). Called only once the cookie
        was checked."""
        if self.proxy is not None:
            return {}
        sessions = page_sessions(request.query_string, self.config.default_session)
        preview = await self.previews.page(sessions, pane_template(page))
        return {} if preview is None else preview.fills()

    def _unauthorized(self, request: web.Request) -> web.Response:
        """401: a rotated token says so; with --public-url the text names the public URL and the cookie's path."""
        return text_error(401, ROTATED_TEXT if self.auth.cookie_rotated(request) else self._unauthorized_text())

    def _unauthorized_text(self) -> str:
        if self.config.public_url is None:
            return UNAUTHORIZED_TEXT
        public = self.config.public_url
        return f"unauthorized: open the URL that serve.py printed ({public}?token=...); the cookie is for {public.path}"

    def _origin_refused(self, request: web.Request) -> Refusal | None:
        """The Origin check (auth.PublicAddress), with the warning an operator needs to fix a refusal."""
        refusal = self.address.refusal(request)
        if refusal is not None:
            log.warning("refused %s %s: %s", request.method, request.path, refusal.log_line)
        return refusal

    @web.middleware
    async def _unstripped_prefix(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        public = self.config.public_url
        if (
            public is not None
            and public.path != "/"
            and request.match_info.http_exception is not None
            and (request.path + "/").startswith(public.path)
        ):
            port = self.config.port or "PORT"
            log.warning("404 for %s: the proxy did not strip the public URL's prefix %s", request.path, public.path)
            return text_error(404, UNSTRIPPED_PREFIX_TEXT.format(path=request.path, prefix=public.path, port=port))
        return await handler(request)

    @web.middleware
    async def _api_checks(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every /api/ route needs the cookie; one that changes something (not GET) also a same-site Origin.

        Checked in this order, on matched routes only: an unknown /api/ path or method stays aiohttp's 404/405.
        """
        if request.match_info.http_exception is None and request.path.startswith(API_PREFIX):
            if request.method != "GET" and (refusal := self._origin_refused(request)) is not None:
                return text_error(403, refusal.body)
            if not self.auth.cookie_ok(request):
                return self._unauthorized(request)
        return await handler(request)

    async def ticket(self, request: web.Request) -> web.Response:
        try:
            body = await read_json_body(request, self.config.http_body_timeout_s)
        except BadJson as exc:
            if exc.too_big:
                return text_error(413, f"payload too large: {exc.reason}")
            return text_error(400, f"{Reason.BAD_REQUEST}: {exc.reason}")
        except TimeoutError:
            return text_error(408, f"request timeout: body not received within {self.config.http_body_timeout_s} s")
        session_id = body.get("session") if isinstance(body, dict) else None
        if session_id is None:
            return text_error(400, 'bad request: body must be JSON {"session": "<id>"}')
        if not isinstance(session_id, str) or not SESSION_ID_RE.match(session_id):
            return text_error(400, f"bad request: session id must match {SESSION_ID_RE.pattern}")
        ticket = self.auth.issue_ticket(session_id)
        return web.json_response(
            {"ticket": ticket, "expires_in_s": round(TICKET_TTL_S)}, headers={"Cache-Control": CACHE_NEVER}
        )

    async def list_sessions(self, request: web.Request) -> web.Response:
        """The listing; with ``?since=<etag>`` held until it differs from that one (sessions.SessionWatch)."""
        since = request.query.get("since")
        if since is not None and not ETAG_RE.match(since):
            return text_error(400, "bad request: since must be the etag of an earlier listing (16 hex digits)")
        if self.proxy is not None and self.proxy.upstream_token:
            hold_s = self.config.session_watch.hold_s if since is not None else 0.0
            return await self._forward(request, "GET", "api/sessions", extra_timeout_s=hold_s)
        try:
            if since is None:
                sessions, etag = await self.session_watch.current()
            else:
                sessions, etag = await self.session_watch.wait_for_change(since)
        except TooManyWatchers as exc:
            retry_after = str(round(self.config.session_watch.hold_s))
            response = text_error(429, str(exc))
            response.headers["Retry-After"] = retry_after
            return response
        return web.json_response(
            {"default": self.config.default_session, "sessions": sessions, "etag": etag},
            headers={"Cache-Control": CACHE_NEVER},
        )

    async def _listing(self) -> list[dict[str, object]]:
        """The sessions this server serves: tmux's; in proxy mode without an upstream token, one terminal (a ttyd,
        which has no session API): the default session, so the printed URL mounts a pane on it (sizes unknown: 0)."""
        if self.proxy is not None:
            return [row.listing_entry() for row in await self._proxy_rows()]
        return await self.tmux.list_sessions()

    async def _proxy_rows(self) -> list[SessionRow]:
        return [SessionRow(self.config.default_session, attached=0, width=0, height=0, alive=True, title="")]

    async def create_session(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session"]
        if not SESSION_ID_RE.match(session_id):
            return text_error(400, f"bad request: session id must match {SESSION_ID_RE.pattern}")
        if self.proxy is not None:
            return await self._forward(request, "POST", f"api/sessions/{session_id}")
        existed = await self.tmux.has_session(session_id)
        created = not existed and await self.tmux.new_session(session_id)
        if not (existed or created or await self.tmux.has_session(session_id)):  # lost a race: someone else made it
            return text_error(500, "internal error: tmux could not create the session")
        status = 201 if created else 200
        body = {"id": session_id, "created": created}
        return web.json_response(body, status=status, headers={"Cache-Control": CACHE_NEVER})

    async def _forward(
        self, request: web.Request, method: str, path: str, extra_timeout_s: float = 0.0
    ) -> web.Response:
        """Proxy mode: the session API is the upstream's (a serve.py with --upstream-token). The query goes along (a
        held session watch: ``extra_timeout_s`` is its hold)."""
        assert self.proxy is not None and self.proxy.http is not None
        if not self.proxy.upstream_token:
            return text_error(501, "not implemented: the upstream has no session API (no --upstream-token)")
        try:
            async with asyncio.timeout(self.config.retry.open_timeout_s + extra_timeout_s):
                async with self.proxy.http.request(
                    method,
                    (self.proxy.http_base() / path).with_query(request.query),
                    headers=self.proxy.auth_headers(),
                ) as upstream:
                    body = await upstream.read()
                    return web.Response(
                        status=upstream.status,
                        body=body,
                        content_type=upstream.content_type,
                        headers={"Cache-Control": CACHE_NEVER},
                    )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return text_error(502, f"bad gateway: {classify_upstream_error(exc).reason}")

    # -- WebSocket ------------------------------------------------------------------------------------------------

    async def terminal_socket(self, request: web.Request) -> web.StreamResponse:
        ws = TerminalSocket(
            protocols=(SUBPROTOCOL,),
            heartbeat=WS_HEARTBEAT_S,
            compress=WS_COMPRESS,
            timeout=WS_CLOSE_TIMEOUT_S,
            autoclose=False,  # a peer's close is answered by SocketCloser: never a second close frame after ours
        )
        if not ws.can_prepare(request).ok:
            return text_error(400, "bad request: expected a WebSocket upgrade")
        await ws.prepare(request)
        handshake_deadline = asyncio.get_running_loop().time() + self.config.handshake_timeout_s
        # aiohttp cancels a handler whose connection drops; the socket's work (and its cleanup: ending the tmux
        # client) runs in its own task, which notices the closed socket by itself.
        closer = SocketCloser(ws, request.transport)
        work = asyncio.create_task(self._serve_socket(request, ws, closer, handshake_deadline))
        self.sockets[ws] = closer
        self.handlers.add(work)
        work.add_done_callback(lambda _: (self.sockets.pop(ws, None), self.handlers.discard(work)))
        await asyncio.shield(work)
        return ws

    async def _serve_socket(
        self, request: web.Request, ws: web.WebSocketResponse, closer: SocketCloser, handshake_deadline: float
    ) -> None:
        try:
            if self.stopping:
                await close_ws(ws, Close.SERVICE_RESTART, Reason.SERVICE_RESTART)
            else:
                await self._serve_checked_socket(request, ws, closer, handshake_deadline)
        except Exception:
            log.exception("terminal socket failed")
            await closer.close(Close.INTERNAL_ERROR, Reason.INTERNAL_ERROR)
        finally:
            closer.end()  # after a restart's close frame: end the connection before aiohttp's own close runs

    async def _serve_checked_socket(
        self, request: web.Request, ws: web.WebSocketResponse, closer: SocketCloser, handshake_deadline: float
    ) -> None:
        session_id = request.match_info["session"]
        if (refusal := self._origin_refused(request)) is not None:
            await close_ws(ws, Close.FORBIDDEN, refusal.close_reason)
            return
        if not SESSION_ID_RE.match(session_id):
            await close_ws(ws, Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: bad session id")
            return
        try:
            self.auth.redeem_ticket(request.query.get("ticket"), session_id)
        except TicketError as exc:
            await close_ws(ws, Close.UNAUTHORIZED, str(exc))
            return
        if self.proxy is not None:
            await self.proxy.relay(ws, session_id, closer)
            return
        # On the user's tmux server, the session's windows take the latest client's size (on ours it is global).
        if not await self.tmux.has_session(session_id, latest_size=not self.config.tmux_socket):
            await close_ws(ws, Close.NO_SUCH_SESSION, Reason.NO_SUCH_SESSION)
            return
        try:
            handshake = await self._handshake(ws, handshake_deadline)
        except ProtocolError as exc:
            await close_ws(ws, exc.code, exc.reason)
            return
        if handshake is None:
            return  # closed before the handshake
        size, protocol_version = handshake
        pane = TerminalPane(ws, session_id, self.tmux, self.config.keepalive_s, size, closer, protocol_version,
                            shutdown_deadline=lambda: self.shutdown_deadline)
        await pane.run()

    @staticmethod
    async def _handshake(ws: web.WebSocketResponse, deadline: float) -> tuple[tuple[int, int], int] | None:
        """The handshake's size and the livepane protocol it declares (0: a plain ttyd client), by ``deadline``
        (loop time, set at the upgrade: pings, which receive() answers without returning, cannot extend it; its own
        timeout restarted on each)."""
        try:
            async with asyncio.timeout_at(deadline):
                msg = await ws.receive()
        except TimeoutError:
            raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: no handshake") from None
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            return None
        payload = frame_bytes(msg)
        size = parse_size(payload, "handshake", require_token=True)
        return size, handshake_protocol(payload)
