"""One terminal socket bridged to one tmux session (ttyd's wire protocol, docs/protocol.md §2).

Rules:
- The PTY is read only as fast as the socket drains; PAUSE/RESUME hold the pump.
- Frames are built and read with pyclient/protocol.py's bytes and builders; no frame literal here.
- A client frame that breaks §2 raises ProtocolError, which carries the close code and reason; the pane closes with
  it and every other pane keeps running.
- A close always has a code and a reason (close_ws), and waits at most WS_CLOSE_TIMEOUT_S for the peer. A socket
  sends exactly one close frame (SocketCloser): on a graceful restart input is read and written to the PTY until
  the peer's close arrives, and the tmux client stays until that input is read off the PTY (docs/protocol.md §3).
- However a socket ends, its tmux client is stopped only once tmux read every input byte off the PTY: bytes left
  there are lost with it, though acked. TmuxReadPolicy bounds the wait (seconds when the peer left; a share of the
  budget in a restart; never past a shutdown's deadline), and a wait that ends first logs what was lost.
- Protocol 2 (a handshake declaring "livepane": {"protocol": 2}): input frames are acked once written to the PTY;
  probes are answered at once, from any client. PAUSE holds output only, never acks or probe answers.
- A graceful restart ends a protocol-2 client's input before its close frame (TerminalPane.drain): DRAIN, the
  client's INPUT_END, the final ack, then 1012. A browser drops what its page sends after the close frame arrived and
  before the page hears of it, so only input the client ended itself is known to have reached tmux.
- Protocol 5 (SETTLED_PROTOCOL): the drain ends with a seal, whether INPUT_END came or its deadline passed: no input
  frame read after it is written, the final ack counts every frame that was, and the 1012's reason says so
  (Reason.SETTLED): the client sends what the ack did not cover again on its next connection. When the PTY could not
  take the last frames in time the close is the plain one, and the client reports them as uncertain.
- Protocol 3: SCROLL frames scroll the session's active pane in tmux (livepane_server/scroll.py), from any client
  (a plain ttyd client never sends one: it is sent only to a server advertising 3); protocol 4: one that carries a
  cell scrolls the pane under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web

from pyclient.protocol import (
    DRAIN_FRAME,
    INPUT,
    INPUT_END,
    KEEPALIVE_FRAME,
    MAX_CLIENT_FRAME_BYTES,
    MAX_CLOSE_REASON_BYTES,
    MAX_PROBE_PAYLOAD_BYTES,
    MAX_TERMINAL_SIDE,
    PAUSE,
    PROBE,
    PROTOCOL_VERSION,
    RESIZE,
    RESUME,
    SCROLL,
    SETTLED_PROTOCOL,
    Close,
    Reason,
    ack_frame,
    client_protocol,
    output_frame,
    parse_scroll,
    preferences_frame,
    probe_answer_frame,
    title_frame,
)

from .client_json import BadJson, parse_json
from .pty import Pty
from .scroll import Scroller
from .tmux import Tmux, TmuxClient

log = logging.getLogger("livepane")

# One output frame carries at most this much: coalesces the PTY's 4 KiB reads without hurting keystroke latency.
PTY_READ_CHUNK_BYTES = 64 * 1024
# Server-side WebSocket pings: a ping after 20 s of silence, dead if no pong 10 s later (aiohttp waits half the
# interval): a vanished browser is dropped within 30 s.
WS_HEARTBEAT_S = 20.0
# How long a close waits for the peer's close frame; a peer that does not answer is cut off.
WS_CLOSE_TIMEOUT_S = 1.0
# A graceful restart's close reads the peer's input until its close frame arrives, at most this long. A browser
# answers a close frame at once, so this is one round trip: 250 ms covers any link we serve (loopback and LAN ~1 ms,
# another continent 150-250 ms) and leaves the rest of app.SHUTDOWN_BUDGET_S (0.6 s) for the bridge to hand that
# input to tmux and stop its tmux client, inside the 1 s a SIGTERM or a reload hand-over may take.
RESTART_CLOSE_DEADLINE_S = 0.25
# Before that close, a protocol-2 client gets this long to answer DRAIN with INPUT_END (one round trip, as above, and
# the page's event loop: ~2 ms on loopback, but a page typing 2,000 keys a second on a loaded machine once took over
# 150 ms) and the server to ack what it wrote. A client that does not answer (an older page) gets the 1012 at this
# deadline, as before, and reports its unacked input as uncertain. SocketCloser.restart() stays inside the half of
# app.SHUTDOWN_BUDGET_S that app.py gives the closes; after a drain the peer's close follows at once.
RESTART_DRAIN_DEADLINE_S = 0.25
# Of that, the client's INPUT_END may take this long; the rest (at least 50 ms) is for what follows the seal: the PTY
# taking the last frames (or, in proxy mode, the upstream's acks for them, one loopback or LAN round trip). With the
# seal a late INPUT_END costs nothing but a resend (protocol 5), so the answer's share can be the smaller one.
RESTART_INPUT_END_DEADLINE_S = 0.2

# A tmux client that exits this many times within the window means attaching is broken, not flaky: stop respawning.
RESPAWN_LIMIT = 5
RESPAWN_WINDOW_S = 10.0


@dataclasses.dataclass(frozen=True)
class TmuxReadPolicy:
    """How long an ending bridge waits for tmux to read the last input off the PTY (TerminalPane.hand_input_to_tmux)
    before it stops its tmux client: input still on the PTY then is lost with it, though it was acked (the PTY took
    it). tmux 3.3's server, not the attach client, reads the terminal (the client passes it over), so a stalled tmux
    server, or a machine that schedules it late, is what holds input there."""

    # The peer left (a tab closed, or in proxy mode the proxy's own restart closed our socket): nothing bounds the
    # wait but tmux. Healthy, it reads within a millisecond; a loaded machine once left it unscheduled for 3 s with
    # 20 acked lines on the PTY. Longer than that, tmux is wedged: its client stays attached to the session that long.
    peer_gone_s: float = 5.0
    # In a graceful restart (our close frame went first): a share of app.SHUTDOWN_BUDGET_S, as before. However the
    # wait began, it ends stop_reserve_s before the shutdown's own deadline, which the app sets (a shutdown that
    # began during a longer wait cuts it short and says so in the log).
    restart_s: float = 0.2
    # Stopping a tmux client that did not read in time (SIGKILL: a stalled tmux answers no SIGTERM) and closing the
    # PTY: milliseconds; the rest is margin for a loaded loop.
    stop_reserve_s: float = 0.05
    # Polled: the kernel gives no event for "the slave's input queue is empty".
    poll_s: float = 0.002
    # The slave's FIONREAD counts only what the line discipline holds: a master write reaches it later, from a kernel
    # worker, and under load that took more than 2 ms in 6% of 3,000 writes (p99 20 ms, max 118 ms, load average 17).
    # So "tmux read it all" is a FIONREAD of 0 that held this long; a key still in the worker's buffer was lost with
    # the PTY before (acked, since the PTY had accepted it).
    settle_s: float = 0.03


TMUX_READ = TmuxReadPolicy()


class ProtocolError(Exception):
    """A client frame broke docs/protocol.md §2; carries the close code and reason."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def frame_bytes(msg: aiohttp.WSMessage) -> bytes:
    """The payload of a data frame: binary as is, text as UTF-8 (ttyd's clients send either).

    Never over MAX_CLIENT_FRAME_BYTES: aiohttp's parser refuses a larger frame (websocket.TerminalSocket)."""
    return msg.data if msg.type is WSMsgType.BINARY else msg.data.encode()


def parse_size(payload: bytes, what: str, require_token: bool = False) -> tuple[int, int]:
    """Columns and rows from a handshake or resize JSON object."""
    try:
        obj = parse_json(payload, what, MAX_CLIENT_FRAME_BYTES)
    except BadJson as exc:
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {exc.reason}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {what} is not a JSON object")
    if require_token and not isinstance(obj.get("AuthToken", ""), str):
        raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: {what} AuthToken is not a string")
    size = []
    for key in ("columns", "rows"):
        value = obj.get(key)
        if type(value) is not int or not 1 <= value <= MAX_TERMINAL_SIDE:
            reason = f"{Reason.BAD_REQUEST}: {what} {key} must be an integer 1-{MAX_TERMINAL_SIDE}"
            raise ProtocolError(Close.BAD_REQUEST, reason)
        size.append(value)
    return size[0], size[1]


def handshake_protocol(payload: bytes) -> int:
    """The livepane protocol a handshake (one parse_size accepted) declares; 0 for a plain ttyd client."""
    try:
        return client_protocol(parse_json(payload, "handshake", MAX_CLIENT_FRAME_BYTES))
    except BadJson:
        return 0


def close_message(reason: str) -> bytes:
    return reason.encode()[:MAX_CLOSE_REASON_BYTES]


async def close_ws(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, code: int, reason: str) -> None:
    """Close with a code and reason, giving the peer WS_CLOSE_TIMEOUT_S to answer; a no-op if already closed."""
    if ws.closed:
        return
    with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
        await asyncio.wait_for(ws.close(code=code, message=close_message(reason)), WS_CLOSE_TIMEOUT_S)


class SocketCloser:
    """A browser socket's close from the server's side: exactly one close frame, and input read after a restart's.

    aiohttp's `WebSocketResponse.close()` sends the close frame and then reads and DISCARDS the peer's frames until
    its close frame arrives; called while another task is inside `receive()` it drops the connection at once. Either
    way the input in flight when a restart came was lost. So a graceful restart (`restart`) stops the socket's
    senders, sends the close frame itself through the public `send_frame`, and lets the socket's one reader go on
    handling input (RFC 6455 §5.5.1: the peer may send data until it has received our close). The reader hands the
    peer's close to `peer_closed`, which ends the connection without a second close frame; RESTART_CLOSE_DEADLINE_S
    ends it if the peer never answers. The socket is made with `autoclose=False` (app.py), so aiohttp never answers
    a close by itself: a reader that sees a peer's close calls `peer_closed`, which answers it when we had not closed.
    """

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.restarting = False  # restart() began: the reader goes on until the peer's close
        self.close_sent = False  # our close frame is on the wire: no data frame may follow it
        # Set while a bridge owns the socket: stops every task that sends (output, keepalives, acks), so the close
        # frame is the last frame. Unset (nothing reads input yet), a restart is aiohttp's plain close.
        self.stop_senders: Callable[[], Awaitable[None]] | None = None
        # Set by a bridge whose client speaks protocol 2: ends the client's input (DRAIN .. INPUT_END, final ack)
        # before the close frame; it returns within RESTART_DRAIN_DEADLINE_S, True when the input is settled (the
        # last ack counts everything written and nothing more will be: the close says Reason.SETTLED).
        self.drain: Callable[[], Awaitable[bool]] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    async def close(self, code: int, reason: str) -> None:
        """An ordinary close (an error, the session ended); after a restart's close frame, just end the connection."""
        if self.close_sent:
            self.end()
        else:
            await close_ws(self.ws, code, reason)

    async def restart(self) -> None:
        """Close 1012 "service restart" and keep reading: the reader writes input until the peer's close arrives."""
        if self.close_sent or self.ws.closed:
            return
        if self.stop_senders is None:
            await close_ws(self.ws, Close.SERVICE_RESTART, Reason.SERVICE_RESTART)
            return
        self.restarting = True
        settled = await self.drain() if self.drain is not None else False
        reason = Reason.SETTLED if settled else Reason.SERVICE_RESTART
        if self.stop_senders is None:  # the bridge ended while the client drained: nothing reads any more
            await close_ws(self.ws, Close.SERVICE_RESTART, reason)
            return
        await self.stop_senders()
        self.close_sent = True
        # Armed first: sending can wait on a peer that reads nothing, and the deadline must hold then too.
        self._deadline = asyncio.get_running_loop().call_later(RESTART_CLOSE_DEADLINE_S, self.end)
        payload = struct.pack("!H", Close.SERVICE_RESTART) + close_message(reason)
        try:
            await self.ws.send_frame(payload, WSMsgType.CLOSE)
        except (ConnectionError, RuntimeError):
            self.end()

    async def peer_closed(self) -> None:
        """The reader got the peer's close frame: the handshake is complete (ours was sent) or answer it now."""
        if self.close_sent:
            self.end()
        else:
            await close_ws(self.ws, Close.NORMAL, "")

    def end(self) -> None:
        """After our close frame: end the connection (never a second close frame; aiohttp's own close, when the
        handler returns, finds the transport closing and writes nothing)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self.close_sent and self.transport is not None:
            self.transport.close()  # flushes what is buffered (our close frame), then closes


class TerminalPane:
    """One terminal socket bridged to one tmux session through a Pty and a supervised tmux client."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        session_id: str,
        tmux: Tmux,
        keepalive_s: float,
        size: tuple[int, int],
        closer: SocketCloser | None = None,
        client_protocol: int = 0,
        shutdown_deadline: Callable[[], float | None] = lambda: None,
        tmux_read: TmuxReadPolicy = TMUX_READ,
    ) -> None:
        """``shutdown_deadline``: the loop time by which the server's shutdown must end, once one began (else
        None); the bridge's stop keeps inside it."""
        self.ws = ws
        self.session_id = session_id
        self.tmux = tmux
        self.keepalive_s = keepalive_s
        self.closer = closer or SocketCloser(ws, None)
        self.acks = client_protocol >= 2  # acks only to a client that declared protocol 2 (a plain ttyd never)
        self.settles = client_protocol >= SETTLED_PROTOCOL  # its restart's drain seals input (module rules)
        self.sealed = False  # the drain sealed input: no input frame is written from here on
        self.pty = Pty(*size)
        self.client: TmuxClient | None = None
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.last_sent = time.monotonic()
        # Input frames of this connection: written to the PTY (acked as that count), and the PTY's queued_bytes at
        # the end of each frame not yet written in full.
        self.frames_written = 0
        self.frames_acked = 0
        self.unwritten_frame_ends: deque[int] = deque()
        self.ack_wanted = asyncio.Event()
        self.input_ended = asyncio.Event()  # the client's INPUT_END arrived (every input frame before it is handled)
        self.senders: list[asyncio.Task[None]] = []  # output and keepalives (a drain stops these first)
        self.ack_sender: asyncio.Task[None] | None = None  # protocol 2; a drain keeps it going until the close
        self.scroller = Scroller(tmux, session_id)
        self.shutdown_deadline = shutdown_deadline
        self.tmux_read = tmux_read

    async def send(self, frame: bytes) -> None:
        if self.closer.close_sent:
            return  # nothing follows our close frame
        await self.ws.send_bytes(frame)
        self.last_sent = time.monotonic()

    async def run(self) -> None:
        """Title, preferences, then output until the socket or the session ends."""
        self.closer.stop_senders = self.stop_senders  # from here a restart keeps reading (input may follow a title)
        with contextlib.suppress(ConnectionError):  # a socket already gone: the reader below sees it closed
            await self.send(title_frame(self.session_id))
            await self.send(preferences_frame(round(self.keepalive_s * 1000), protocol=PROTOCOL_VERSION))
        self.senders = [
            asyncio.create_task(self.pump_output()),
            asyncio.create_task(self.keepalive()),
            asyncio.create_task(self.send_titles()),
        ]
        if self.acks:
            self.pty.on_written = self.ack_wanted.set
            self.ack_sender = asyncio.create_task(self.send_acks())
            self.closer.drain = self.drain
        supervisor = asyncio.create_task(self.supervise())
        try:
            await self.read_input()
        finally:
            self.closer.stop_senders = None
            self.closer.drain = None
            await self.stop_senders()
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
            await self.scroller.stop()
            read = await self.hand_input_to_tmux()
            if self.client is not None:
                if not read:
                    self.client.proc.kill()  # a tmux that read nothing that long answers no SIGTERM in time either
                await self.client.stop()
            self.pty.close()

    async def stop_senders(self, keep_acks: bool = False) -> None:
        tasks = [*self.senders, *([self.ack_sender] if self.ack_sender is not None and not keep_acks else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> bool:
        """A graceful restart, before its close frame: end the client's input on this connection and ack all of it;
        True when that input is settled (protocol 5: the close may say Reason.SETTLED).

        Output and keepalives stop; DRAIN asks the client to send INPUT_END and hold what is typed after it for its
        next connection. The one reader handles every frame before INPUT_END, in order. Then, for a protocol-5 client,
        the seal (whether INPUT_END came or RESTART_INPUT_END_DEADLINE_S passed): the reader writes no input frame
        from here on. Once the PTY took every frame written, one last ack counts them, so the client knows exactly
        which frames arrived: all before INPUT_END after a timely answer; the acked ones, and none after them,
        after a late one. An older client that does not answer gets the close anyway, and the reader still writes
        what follows it (it reports its unacked input as uncertain)."""
        await self.stop_senders(keep_acks=True)
        started = asyncio.get_running_loop().time()
        try:
            # One deadline over every step: a peer that reads nothing can hold a send, and it must hold then too.
            async with asyncio.timeout_at(started + RESTART_INPUT_END_DEADLINE_S):
                await self.send(DRAIN_FRAME)
                await self.input_ended.wait()
        except ConnectionError:
            return False
        except TimeoutError:
            log.info("session %s: the client's input did not end within %.0f ms; %s", self.session_id,
                     RESTART_INPUT_END_DEADLINE_S * 1000, "sealing it" if self.settles else "closing without it")
        self.sealed = self.settles
        try:
            async with asyncio.timeout_at(started + RESTART_DRAIN_DEADLINE_S):
                while self.pty.pending_bytes:  # a full PTY: the last frames are still going in
                    await asyncio.sleep(TMUX_READ.poll_s)
                self.count_written_frames()
                if self.frames_written > self.frames_acked:
                    self.frames_acked = self.frames_written
                    await self.send(ack_frame(self.frames_acked))
        except ConnectionError:
            return False
        except TimeoutError:
            log.info("session %s: the PTY did not take the last input within %.0f ms; its close settles nothing",
                     self.session_id, RESTART_DRAIN_DEADLINE_S * 1000)
            return False
        return self.sealed

    async def hand_input_to_tmux(self) -> bool:
        """Wait until tmux has read every input byte off the PTY (TmuxReadPolicy says how long); True once it has
        (or nothing needs reading), False when the wait ended first: what is still on the PTY is lost with it, and
        the client was told it arrived (acked). Never past the shutdown's deadline, however the wait began."""
        if not self.pty.queued_bytes or self.client is None or self.client.exited.done():
            return True
        policy, loop = self.tmux_read, asyncio.get_running_loop()
        started = loop.time()
        deadline = started + (policy.restart_s if self.closer.restarting else policy.peer_gone_s)
        settled_at = started + policy.settle_s
        while True:
            await asyncio.sleep(policy.poll_s)
            now = loop.time()
            if self.client.exited.done():
                return True  # no reader left to wait for (the session ended, or tmux did): nothing more will be read
            unwritten, unread = self.pty.pending_bytes, self.pty.unread_input_bytes()
            if unwritten or unread:
                settled_at = now + policy.settle_s  # the kernel's worker moved more in: tmux has not read it yet
            elif now >= settled_at:
                return True
            shutdown = self.shutdown_deadline()
            cut_short = shutdown is not None and now >= shutdown - policy.stop_reserve_s
            if now >= deadline or cut_short:
                if not unwritten and not unread:  # read, it seems; but the 0 has not held settle_s
                    log.warning("session %s: tmux's input queue was empty for less than %.0f ms when the wait for it "
                                "ended (%.0f ms): a key still in the kernel's buffer is lost with the PTY",
                                self.session_id, policy.settle_s * 1000, (now - started) * 1000)
                    return True
                cut_short = cut_short or self.closer.restarting
                log.error(
                    "session %s: tmux did not read the last input within %.0f ms%s: %d bytes written to the PTY%s "
                    "and %d not yet written are lost with it",
                    self.session_id, (now - started) * 1000, ", and the shutdown cannot wait longer" if cut_short
                    else "", unread, " (acked: the client was told they arrived)" if self.acks else "", unwritten,
                )
                return False

    async def pump_output(self) -> None:
        """PTY -> socket, never faster than the socket drains (send_bytes waits while aiohttp's buffer is full)."""
        with contextlib.suppress(ConnectionError):
            while True:
                await self.resumed.wait()
                data = await self.pty.read(PTY_READ_CHUNK_BYTES)
                if not data:
                    return
                await self.resumed.wait()  # a pause that arrived while we waited for output holds this chunk
                await self.send(output_frame(data))

    async def send_titles(self) -> None:
        """The session's pane title as TITLE frames, as tmux changes it (livepane_server/titles.py)."""
        with contextlib.suppress(ConnectionError):
            async for title in self.tmux.titles.titles(self.session_id):
                await self.send(title_frame(title))

    async def keepalive(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                idle_s = time.monotonic() - self.last_sent
                if idle_s >= self.keepalive_s:
                    await self.send(KEEPALIVE_FRAME)
                    idle_s = 0.0
                await asyncio.sleep(self.keepalive_s - idle_s)

    def count_written_frames(self) -> None:
        ends, written = self.unwritten_frame_ends, self.pty.written_bytes
        while ends and ends[0] <= written:
            ends.popleft()
            self.frames_written += 1

    async def send_acks(self) -> None:
        """One ack per wake-up, after the reader's batch of writes: coalesced, never more than one per frame."""
        with contextlib.suppress(ConnectionError):
            while True:
                await self.ack_wanted.wait()
                self.ack_wanted.clear()
                self.count_written_frames()
                if self.frames_written > self.frames_acked:
                    self.frames_acked = self.frames_written
                    await self.send(ack_frame(self.frames_acked))

    async def supervise(self) -> None:
        """Keep one live tmux client on the Pty while the session exists; close the socket when it ends."""
        exits: deque[float] = deque(maxlen=RESPAWN_LIMIT)
        while True:
            try:
                self.client = TmuxClient(self.tmux.attach_argv(self.session_id), self.pty, self.tmux.env)
            except OSError as exc:
                log.error("cannot start tmux for session %s: %s", self.session_id, exc)
                await self.closer.close(Close.INTERNAL_ERROR, f"{Reason.INTERNAL_ERROR}: cannot start tmux")
                return
            status = await asyncio.shield(self.client.exited)  # cancelling us must not mark the client exited
            if not await self.tmux.has_session(self.session_id):
                await self.closer.close(Close.NORMAL, Reason.SESSION_ENDED)
                return
            now = time.monotonic()
            exits.append(now)
            if len(exits) == RESPAWN_LIMIT and now - exits[0] < RESPAWN_WINDOW_S:
                log.error("tmux client for session %s keeps exiting (status %s); giving up", self.session_id, status)
                await self.closer.close(Close.INTERNAL_ERROR, f"{Reason.INTERNAL_ERROR}: tmux client keeps exiting")
                return
            log.info("tmux client for session %s exited (status %s); attaching again", self.session_id, status)

    async def read_input(self) -> None:
        """Socket -> PTY, until the socket closes (also after a restart's close frame: SocketCloser); a protocol
        error closes it with its code."""
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type is WSMsgType.CLOSE:
                    await self.closer.peer_closed()
                    return
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    return
                await self.handle_frame(frame_bytes(msg))
        except ProtocolError as exc:
            await self.closer.close(exc.code, exc.reason)
        except ConnectionError:
            return  # a probe answer found the connection gone

    async def handle_frame(self, data: bytes) -> None:
        command, payload = data[:1], data[1:]
        if command == INPUT:
            if self.sealed:
                return  # after the drain's seal: not written, not acked; the client sends it again (protocol 5)
            self.pty.write(payload)
            if self.acks:  # only the ack task empties this: without acks it would grow with every frame
                self.unwritten_frame_ends.append(self.pty.queued_bytes)
                self.ack_wanted.set()  # an empty frame, or one written at once: the ack task counts it
            await self.pty.drain()
        elif command == RESIZE:
            columns, rows = parse_size(payload, "resize")
            self.pty.resize(columns, rows)
            if self.client is not None:
                self.client.notify_resize()
        elif command == PAUSE:
            self.resumed.clear()
        elif command == RESUME:
            self.resumed.set()
        elif command == INPUT_END:
            self.input_ended.set()  # input after it (a confused client) is still written: never dropped
        elif command == PROBE:
            if len(payload) > MAX_PROBE_PAYLOAD_BYTES or not payload.isascii():
                reason = f"{Reason.BAD_REQUEST}: a probe carries at most {MAX_PROBE_PAYLOAD_BYTES} ASCII bytes"
                raise ProtocolError(Close.BAD_REQUEST, reason)
            await self.send(probe_answer_frame(payload))  # at once: a PAUSE holds output, not this
        elif command == SCROLL:
            scroll = parse_scroll(payload)
            if scroll is None:
                reason = (
                    f"{Reason.BAD_REQUEST}: a scroll carries a nonzero signed decimal line count, optionally then a "
                    "column and a row"
                )
                raise ProtocolError(Close.BAD_REQUEST, reason)
            # Summed and run in the background: input is never held up behind tmux.
            self.scroller.request(scroll.lines, scroll.cell)
        elif not command:
            raise ProtocolError(Close.BAD_REQUEST, f"{Reason.BAD_REQUEST}: empty frame")
        else:
            raise ProtocolError(Close.UNSUPPORTED_DATA, Reason.UNKNOWN_MESSAGE)
