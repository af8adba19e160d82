"""Typed input across graceful restarts (issue 10 item 2): every line typed arrives at tmux exactly once.

A raw client types numbered lines without waiting for any echo, across SIGTERM+start and SIGHUP restarts of a real
serve.py. A client without acks (protocol 0) follows the old rule for a clean 1012: whatever it sent before the close
arrived was written; it resends nothing and sends the lines it still holds on the next socket. A protocol-2 client
also answers the server's DRAIN as the page does (INPUT_END, then nothing more on that socket), and every restart
must have ended its input so and acked all of it before the 1012: a browser drops what its page sends after the close
frame reached it, so for the page "sent before the close arrived" is not a rule it can follow. A protocol-5 client
follows the page's rule (docs/protocol.md §2): after a 1012 that says its input is settled, the lines the last ack
did not cover were not written and go again, first, on the next socket; after any other close they are uncertain
(the page reports them). The session runs `cat` into a file, so what tmux delivered is read back exactly. Speeds
are bench/'s; this test asserts only counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from launch import ServeProcess
from support import async_wait_until, pid_alive

from livepane_server.bridge import handshake_protocol
from pyclient import protocol

from .conftest import TOKEN, Client, Frames, Pane, TmuxServer, cookie_header

RESTARTS_PER_KIND = 10
DRAIN_RESTARTS_PER_KIND = 3  # the drain is the same every time: a few of each kind show it
# The typist's pace: one line every few milliseconds is faster than any hand; the scenario, not a race guard.
TYPE_INTERVAL_S = 0.003
# Pause between connect attempts while nothing serves the port (the restart's downtime).
RECONNECT_PAUSE_S = 0.02
# Lines typed on each new socket before the next restart, so every restart lands while typing.
LINES_PER_ROUND = 20
ROUND_TIMEOUT_S = 30.0
FIRST_FRAME_TIMEOUT_S = 5.0  # the pane's connect timeout


class Typist:
    """Types `L00001\\r`, `L00002\\r`, ... on whichever socket is open; a line is sent once, unless a settled 1012
    says it was not written (protocol 5: then it goes again, first, on the next socket).

    ``drain_answer_delay_s``: how late the client answers a DRAIN, typing on meanwhile: a page whose event loop is
    busy (a loaded renderer) handles the DRAIN message, and with it the close behind it, that much later, while what
    it sent before it handled them still went out (and a browser drops what follows the close's arrival)."""

    def __init__(
        self, process: ServeProcess, session_id: str, handshake: bytes, drain_answer_delay_s: float = 0.0
    ) -> None:
        self.process = process
        self.session_id = session_id
        self.handshake = handshake
        self.settles = handshake_protocol(handshake) >= protocol.SETTLED_PROTOCOL  # follows the page's ack rule (above)
        self.drain_answer_delay_s = drain_answer_delay_s
        self.sent = 0  # distinct lines handed to an open socket (a resent line counts once)
        self.connections = 0
        self.closes: list[tuple[int | None, str]] = []
        self.stopping = asyncio.Event()
        self.sent_on_socket = 0
        self.lines_on_socket: list[int] = []  # line numbers sent on this socket, in order
        self.resend: deque[int] = deque()  # lines a settled 1012 said were not written: first on the next socket
        self.uncertain: list[int] = []  # protocol 5: lines sent, not acked, and the close did not settle them
        self.resent = 0
        # Per socket closed by a restart: (DRAIN came and INPUT_END went, lines sent on it, the server's last ack).
        self.restart_closes: list[tuple[bool, int, int]] = []
        self.input_ended = False  # this socket's DRAIN was answered: lines wait for the next socket
        self.acked = 0

    async def run(self) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            while not self.stopping.is_set():
                try:
                    ws = await self._connect(http)
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(RECONNECT_PAUSE_S)
                    continue
                async with ws:
                    await self._type_on(ws)

    async def _connect(self, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        base = self.process.base_url
        async with http.post(base / "api" / "ticket", json={"session": self.session_id},
                             headers=cookie_header(TOKEN)) as response:
            response.raise_for_status()
            ticket = (await response.json())["ticket"]
        url = base.with_scheme("ws").with_path(f"/ws/{self.session_id}").with_query(ticket=ticket)
        return await http.ws_connect(url, protocols=(protocol.SUBPROTOCOL,))

    async def _type_on(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_bytes(self.handshake)
        try:  # "open" means the terminal answered (its first frame), not the socket
            first = await ws.receive(timeout=FIRST_FRAME_TIMEOUT_S)
        except TimeoutError:
            self.closes.append((None, "no first frame"))
            return
        if first.type is not aiohttp.WSMsgType.BINARY:
            self.closes.append((ws.close_code, "before the first frame"))
            return
        self.connections += 1
        self.sent_on_socket = 0
        self.lines_on_socket = []
        self.input_ended = False
        self.acked = 0
        reader = asyncio.create_task(self._read_until_close(ws))
        try:
            while not reader.done() and not self.stopping.is_set():
                if self.input_ended:
                    await asyncio.sleep(TYPE_INTERVAL_S)
                    continue  # typed meanwhile, held: it goes on the next socket
                resending = bool(self.resend)
                number = self.resend[0] if resending else self.sent + 1
                try:
                    await ws.send_bytes(protocol.input_frame(f"L{number:05d}\r"))
                except ConnectionError:
                    break  # the close arrived: this line was not sent; it goes on the next socket
                if resending:
                    self.resend.popleft()
                    self.resent += 1
                else:
                    self.sent += 1
                self.lines_on_socket.append(number)
                self.sent_on_socket += 1
                await asyncio.sleep(TYPE_INTERVAL_S)
        finally:
            if self.stopping.is_set():
                await ws.close()
            await reader

    async def _read_until_close(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            msg = await ws.receive()
            if self.stopping.is_set() and msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                return  # our own close at the end of the test
            if msg.type is aiohttp.WSMsgType.BINARY and msg.data[:1] == bytes([protocol.ACK]):
                self.acked = int(msg.data[1:])
            elif msg.type is aiohttp.WSMsgType.BINARY and msg.data[:1] == bytes([protocol.DRAIN]):
                if self.drain_answer_delay_s:
                    await asyncio.sleep(self.drain_answer_delay_s)  # the busy page of the docstring; typing goes on
                self.input_ended = True
                with contextlib.suppress(ConnectionError):
                    await ws.send_bytes(protocol.INPUT_END)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                self.closes.append((msg.data, msg.extra or ""))
                if msg.data == protocol.Close.SERVICE_RESTART:
                    self.restart_closes.append((self.input_ended, self.sent_on_socket, self.acked))
                self._settle(msg.data == protocol.Close.SERVICE_RESTART and msg.extra == protocol.Reason.SETTLED)
                return
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                self.closes.append((ws.close_code, "no close frame"))
                self._settle(False)
                return

    def _settle(self, settled: bool) -> None:
        """The socket ended: what its last ack did not cover goes again (settled) or is uncertain (protocol 5)."""
        if not self.settles:
            return  # the old rule: everything sent before the close arrived was written
        unacked = self.lines_on_socket[self.acked :]
        if settled:
            self.resend.extendleft(reversed(unacked))
        else:
            self.uncertain.extend(unacked)


def typed_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []

async def type_across_restarts(
    process: ServeProcess,
    typist: Typist,
    restarts: list[signal.Signals],
    out: Path,
    around_restart: Callable[[], contextlib.AbstractAsyncContextManager[None]] = contextlib.nullcontext,
) -> tuple[list[str], list[str]]:
    """Type without pause while ``process`` gets each signal in turn (SIGTERM: stopped and started again; SIGHUP:
    reloaded), each once the current socket has carried a round of lines, inside ``around_restart()`` (the SIGTERM's
    start after it). Returns (lines typed, lines tmux got)."""
    typing = asyncio.create_task(typist.run())
    try:
        for done, sig in enumerate([*restarts, None]):
            await async_wait_until(
                lambda done=done: typist.connections > done and typist.sent_on_socket >= LINES_PER_ROUND
                and not typist.resend,  # what a settled 1012 gave back went again (the last round: before the end)
                timeout_s=ROUND_TIMEOUT_S,
                what=f"typing on socket {done + 1} ({typist.connections} opened, {typist.sent} lines typed)",
            )
            if sig is None:
                break
            async with around_restart():
                await asyncio.to_thread(process.reload if sig is signal.SIGHUP else process.stop)
            if sig is signal.SIGTERM:
                await process.async_start()
    finally:
        typist.stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(typing, ROUND_TIMEOUT_S)
    expected = [f"L{n:05d}" for n in range(1, typist.sent + 1)]
    with contextlib.suppress(AssertionError):  # too few lines: the caller's asserts name the lost ones
        await async_wait_until(lambda: len(typed_lines(out)) >= len(expected), timeout_s=10, what="every line")
    return expected, typed_lines(out)


def assert_only_restart_closes(typist: Typist) -> None:
    restart = protocol.Close.SERVICE_RESTART
    unclean = [close for close in typist.closes if close[0] != restart or not close[1].startswith("service restart")]
    assert unclean == [], unclean



@pytest.mark.timeout(300)  # 20 restarts, each a fresh interpreter: ~40 s alone, minutes on a loaded machine
async def test_lines_typed_across_graceful_restarts_arrive_exactly_once(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    process = serve_process()
    typist = Typist(process, session_id, protocol.handshake_frame(80, 24))
    restarts = [signal.SIGTERM] * RESTARTS_PER_KIND + [signal.SIGHUP] * RESTARTS_PER_KIND
    expected, got = await type_across_restarts(process, typist, restarts, out)
    lost = sorted(set(expected) - set(got))
    doubled = sorted({line for line in got if got.count(line) > 1})
    print(f"restart typing: {typist.sent} lines, {len(restarts)} restarts: {len(lost)} lost, {len(doubled)} doubled")
    assert_only_restart_closes(typist)
    assert lost == [] and doubled == [], (lost[:10], doubled[:10])
    assert got == expected
    tmux_server.kill_session(session_id)


@pytest.mark.timeout(300)
async def test_every_restart_ends_a_protocol2_clients_input_and_acks_all_of_it_before_its_close(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """What the page relies on: DRAIN before each 1012, and the last ack before it counts every line sent on that
    socket, so nothing the page sent can be in the moment a browser drops (docs/protocol.md §2)."""
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    process = serve_process()
    typist = Typist(process, session_id, protocol.handshake_frame(80, 24, protocol=protocol.PROTOCOL_VERSION))
    restarts = [signal.SIGTERM] * DRAIN_RESTARTS_PER_KIND + [signal.SIGHUP] * DRAIN_RESTARTS_PER_KIND
    expected, got = await type_across_restarts(process, typist, restarts, out)
    print(f"drained restart typing: {typist.sent} lines, {len(restarts)} restarts: {typist.restart_closes}")
    assert_only_restart_closes(typist)
    assert len(typist.restart_closes) == len(restarts)
    undrained = [close for close in typist.restart_closes if not close[0] or close[1] != close[2]]
    assert undrained == [], undrained  # (drained, sent, acked) per restart
    assert got == expected
    tmux_server.kill_session(session_id)


# How late the busy page of these tests answers DRAIN: past the server's whole drain deadline (0.25 s) and its close
# deadline after it (0.25 s), so the lines it types meanwhile reach the server after it stopped writing, or not at all.
LATE_DRAIN_ANSWER_S = 0.7
LATE_RESTARTS_PER_KIND = 2


async def type_with_a_late_page(
    process: ServeProcess, tmux_server: TmuxServer, session_id: str, out: Path
) -> tuple[Typist, list[str], list[str]]:
    typist = Typist(
        process, session_id, protocol.handshake_frame(80, 24, protocol=protocol.SETTLED_PROTOCOL),
        drain_answer_delay_s=LATE_DRAIN_ANSWER_S,
    )
    restarts = [signal.SIGTERM] * LATE_RESTARTS_PER_KIND + [signal.SIGHUP] * LATE_RESTARTS_PER_KIND
    expected, got = await type_across_restarts(process, typist, restarts, out)
    lost = sorted(set(expected) - set(got))
    doubled = sorted({line for line in got if got.count(line) > 1})
    print(f"late page: {typist.sent} lines, {typist.resent} resent, {len(typist.uncertain)} uncertain, "
          f"{len(lost)} lost, {len(doubled)} doubled; restarts {typist.restart_closes}")
    assert_only_restart_closes(typist)
    assert doubled == [], doubled[:10]
    return typist, expected, got


@pytest.mark.timeout(300)
async def test_a_page_that_answers_drain_late_gets_every_line_written_exactly_once(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """The drain's deadline passes (a busy page): the server stops writing input, acks what it wrote and says so in
    its 1012 (Reason.SETTLED); the page sends the rest again on its next connection. Before, the server went on
    writing what came until its close deadline and the page could not know which lines arrived."""
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    typist, expected, got = await type_with_a_late_page(serve_process(), tmux_server, session_id, out)
    assert typist.uncertain == [], typist.uncertain[:10]
    assert typist.resent > 0  # the late answers left lines unwritten, and they came again
    assert got == expected
    tmux_server.kill_session(session_id)


# -- acked input and a stalled tmux --------------------------------------------------------------------------------
# tmux 3.3's attach client passes its terminal to the tmux server, which reads the keys itself: a stopped client holds
# nothing back (measured: the slave's FIONREAD stays 0), a stopped server holds all of it. So these tests stop both,
# the client as seen in the field and the server because it is the reader.

# The scenario, not a race guard: tmux not scheduled for about a second (a loaded machine once stalled it for 3 s).
TMUX_STALL_S = 1.0
STALLED_LINES = 20


class StalledTmux:
    """Our own tmux server (``qq-`` socket), so stopping it stalls no other test's sessions."""

    def __init__(self) -> None:
        self.tmux = TmuxServer(f"qq-{secrets.token_hex(4)}").start("anchor")
        self.stopped: list[int] = []
        self.client_pids: list[int] = []  # the stopped attach clients (no tmux command answers while it is stopped)

    def stop(self, session_id: str) -> None:
        """SIGSTOP the tmux server and the session's attach clients (the bridge's)."""
        server_pid = int(self.tmux.run("display-message", "-p", "#{pid}").strip())
        self.client_pids = self.tmux.client_pids(session_id)
        for pid in [server_pid, *self.client_pids]:
            os.kill(pid, signal.SIGSTOP)
            self.stopped.append(pid)

    def resume(self) -> None:
        while self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.stopped.pop(0), signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        self.tmux.kill_server()


async def acked_lines_into_stalled_tmux(
    front: ServeProcess,
    stalled: StalledTmux,
    session_id: str,
    out: Path,
    end_socket: Callable[[Pane], Awaitable[None]],
    expect_lines: bool = True,
) -> tuple[list[str], list[str]]:
    """Open a protocol-2 pane on ``front``, stall tmux, type STALLED_LINES lines and wait for the ack covering them
    all, end the socket (``end_socket(pane)``), resume tmux after TMUX_STALL_S. Returns (the acked lines, what tmux
    got, waiting for all of them when ``expect_lines``)."""
    client = Client(front.base_url)
    try:
        pane = await client.connect(session_id)
        await pane.ws.send_bytes(protocol.handshake_frame(80, 24, protocol=protocol.PROTOCOL_VERSION))
        await pane.read_until(lambda got: bool(got.output))
        await async_wait_until(lambda: stalled.tmux.client_pids(session_id), what="the bridge's tmux client")
        stalled.stop(session_id)
        try:
            stalled_at = time.monotonic()
            lines = [f"L{n:05d}" for n in range(1, STALLED_LINES + 1)]
            for line in lines:
                await pane.send_input(line + "\r")

            def acked(got: Frames) -> bool:
                acks = [protocol.parse_ack(f[1:].decode()) for f in got.frames if f[:1] == bytes([protocol.ACK])]
                return bool(acks) and acks[-1] == len(lines)

            await pane.read_until(acked)
            await end_socket(pane)
            await asyncio.sleep(max(0.0, TMUX_STALL_S - (time.monotonic() - stalled_at)))  # the stall (above)
        finally:
            stalled.resume()
        with contextlib.suppress(AssertionError):  # too few: the caller's assert names what is missing
            await async_wait_until(lambda: not expect_lines or len(typed_lines(out)) >= len(lines), timeout_s=10,
                                   what="every line")
        return lines, typed_lines(out)
    finally:
        await client.close()


def cat_session(tmux: TmuxServer, out: Path) -> str:
    return tmux.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")


async def close_from_client(pane: Pane) -> None:
    """The browser's socket goes away (a tab closed): the client closes it."""
    await pane.ws.close()


@pytest.mark.timeout(120)
async def test_acked_input_reaches_a_stalled_tmux_after_the_browser_left(tmp_path: Path) -> None:
    stalled = StalledTmux()
    backend = ServeProcess(stalled.tmux, tmp_path / "backend", token=TOKEN)
    try:
        backend.start()
        out = tmp_path / "typed.txt"
        session_id = cat_session(stalled.tmux, out)
        lines, got = await acked_lines_into_stalled_tmux(backend, stalled, session_id, out, close_from_client)
        assert got == lines, (backend.log_lines("tmux"), got)
    finally:
        backend.close()
        stalled.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("restart", [signal.SIGTERM, signal.SIGHUP], ids=["stop-start", "reload"])
async def test_acked_input_reaches_a_stalled_tmux_after_a_proxy_restart(
    tmp_path: Path, restart: signal.Signals
) -> None:
    """The case seen in the field: the proxy in front restarts, so the bridge's socket (the proxy's) goes away."""
    stalled = StalledTmux()
    backend = ServeProcess(stalled.tmux, tmp_path / "backend", token=TOKEN)
    proxy = ServeProcess(stalled.tmux, tmp_path / "proxy", "--upstream", f"ws://127.0.0.1:{backend.port}",
                         token=TOKEN, env={"LIVEPANE_UPSTREAM_TOKEN": TOKEN})

    async def restart_proxy(pane: Pane) -> None:
        if restart is signal.SIGHUP:
            await asyncio.to_thread(proxy.reload)
        else:
            await asyncio.to_thread(proxy.stop)
            await proxy.async_start()

    try:
        backend.start()
        proxy.start()
        out = tmp_path / "typed.txt"
        session_id = cat_session(stalled.tmux, out)
        lines, got = await acked_lines_into_stalled_tmux(proxy, stalled, session_id, out, restart_proxy)
        assert got == lines, (backend.log_lines("tmux"), got)
    finally:
        proxy.close()
        backend.close()
        stalled.close()


@pytest.mark.timeout(120)
async def test_a_shutdown_cuts_the_wait_for_a_stalled_tmux_short_and_says_what_is_lost(tmp_path: Path) -> None:
    """The browser left and the bridge waits for a stalled tmux (TmuxReadPolicy.peer_gone_s); then a SIGTERM. The
    shutdown must still end in time: the bridge ends its wait before the shutdown's deadline, says in the log that
    acked input is lost, and still stops its tmux client (a shutdown that cancelled the bridge mid-wait left it)."""
    stalled = StalledTmux()
    backend = ServeProcess(stalled.tmux, tmp_path / "backend", token=TOKEN)

    async def leave_then_stop(pane: Pane) -> None:
        await pane.ws.close()
        await asyncio.to_thread(backend.stop)

    try:
        backend.start()
        out = tmp_path / "typed.txt"
        session_id = cat_session(stalled.tmux, out)
        await acked_lines_into_stalled_tmux(backend, stalled, session_id, out, leave_then_stop, expect_lines=False)
        print(backend.log_lines("stopped in|lost"))
        assert [pid for pid in stalled.client_pids if pid_alive(pid)] == []
        lost = backend.log_lines("tmux did not read the last input")
        assert len(lost) == 1 and "the shutdown cannot wait longer" in lost[0] and "(acked" in lost[0], lost
    finally:
        backend.close()
        stalled.close()
