"""Proxy mode and protocol 2 (issue 9 items 4-5): frames relayed unchanged incl. acks and probes, a ttyd upstream
that ignores the handshake's "livepane" key, the one-terminal session listing, input held through upstream retries,
and the proxy's own graceful restarts delivering typed input exactly once."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from launch import SHELL
from support import async_wait_until, free_port, port_accepts

from pyclient import protocol

from .conftest import TmuxServer, cookie_header, marker, running_app
from .test_protocol2 import acks, handshake, open_with
from .test_proxy import FakeUpstream, fake_upstream
from .test_restart_input import Typist, assert_only_restart_closes, type_across_restarts, type_with_a_late_page

UPSTREAM_TOKEN = "upstream-token"
PROXY_RESTARTS_PER_KIND = 3
# A ttyd 1.7.7 binary to test against (none is committed); tests that need it skip without it.
TTYD = os.environ.get("LIVEPANE_TTYD")


async def test_sessions_in_front_of_one_terminal_list_the_default_session(tmux_server: TmuxServer) -> None:
    async with fake_upstream() as (_, url), running_app(tmux_server, upstream=url + "/tty") as (client, _):
        response = await client.http.get(client.url("/api/sessions"), headers=cookie_header())
        assert response.status == 200
        listing = await response.json()
    assert len(listing.pop("etag")) == 16  # the session bar's watch (test_session_watch.py)
    assert listing == {
        "default": "anchor",
        "sessions": [{"id": "anchor", "attached": 0, "width": 0, "height": 0, "alive": True}],
    }


async def test_acks_and_probe_answers_of_a_livepane_upstream_pass_through(
    tmux_server: TmuxServer, session: str
) -> None:
    mark = marker()
    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        async with running_app(tmux_server, upstream=upstream_url, upstream_token=UPSTREAM_TOKEN) as (client, _):
            pane = await open_with(client, session, 2)
            assert pane.got.preferences["livepane"]["protocol"] == protocol.PROTOCOL_VERSION
            await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
            await pane.ws.send_bytes(protocol.PROBE + b"via-proxy")
            await pane.read_until(
                lambda got: 1 in acks(pane) and protocol.probe_answer_frame(b"via-proxy") in got.frames
            )
            await pane.wait_output(mark)


async def test_input_sent_while_the_proxy_retries_follows_the_upstreams_first_frame(tmux_server: TmuxServer) -> None:
    """Nothing reaches the browser before the upstream's first frame (the pane is "open" only then), and a frame
    the browser sent meanwhile is relayed once the upstream is there, not dropped."""
    port = free_port()
    upstream = FakeUpstream()
    retries: list[float] = []
    browser_frames: list[bytes] = []

    async def sleep_then_come_up(seconds: float) -> None:
        retries.append(seconds)
        if len(retries) == 2:
            await upstream.start(port)

    try:
        async with running_app(tmux_server, upstream=f"ws://127.0.0.1:{port}", proxy_sleep=sleep_then_come_up) as (
            client,
            _,
        ):
            pane = await client.connect("late")
            await pane.ws.send_bytes(protocol.input_frame("held"))
            browser_frames.append(await pane.receive_one(timeout=10))
            browser_frames.append(await pane.receive_one(timeout=10))
    finally:
        await upstream.stop()
    assert browser_frames == [b"1late", b"0held"]  # the upstream's title first, then its echo of our input


@pytest.mark.skipif(not TTYD, reason="set LIVEPANE_TTYD to a ttyd 1.7.7 binary (none is committed)")
async def test_a_ttyd_upstream_ignores_the_livepane_key_and_sends_no_acks(tmux_server: TmuxServer) -> None:
    port = free_port()
    ttyd = subprocess.Popen(
        [TTYD, "-p", str(port), "-i", "127.0.0.1", "-W", *shlex.split(SHELL)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PS1": "ttyd$ "},
    )
    try:
        await async_wait_until(lambda: port_accepts(port), what="ttyd listening")
        mark = marker()
        async with running_app(tmux_server, upstream=f"ws://127.0.0.1:{port}/ws") as (client, _):
            pane = await client.connect("anchor")
            await pane.ws.send_bytes(handshake(2))
            await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
            await pane.wait_output(mark)
            await pane.ws.send_bytes(protocol.PROBE + b"x")  # a pane never probes a ttyd; ttyd must not choke
            await pane.send_input(f"echo {mark[:2]}''{mark[2:]}-2\r")
            await pane.wait_output(mark + "-2")
            assert acks(pane) == []
            assert pane.got.preferences is None or "livepane" not in pane.got.preferences
    finally:
        ttyd.terminate()
        ttyd.wait(5)


@pytest.mark.timeout(300)  # restarts start fresh interpreters: seconds each on a loaded machine
async def test_lines_typed_across_proxy_restarts_arrive_exactly_once(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """The page's rules (protocol 5): the proxy's own restart drains and seals the browser's input with the
    upstream's acks. An upstream slower than the drain (its acks late: a loaded machine) gets the plain 1012, and
    what it did not ack is reported, never resent; a lost line is always a reported one (7-21 lines were lost in
    silence under load, with the old rule that a drained clean 1012 delivered everything)."""
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        process = serve_process("--upstream", upstream_url, env={"LIVEPANE_UPSTREAM_TOKEN": UPSTREAM_TOKEN})
        typist = Typist(process, session_id, handshake(protocol.PROTOCOL_VERSION))
        restarts = [signal.SIGTERM] * PROXY_RESTARTS_PER_KIND + [signal.SIGHUP] * PROXY_RESTARTS_PER_KIND
        expected, got = await type_across_restarts(process, typist, restarts, out)
    lost = sorted(set(expected) - set(got))
    doubled = sorted({line for line in got if got.count(line) > 1})
    print(f"proxy restart typing: {typist.sent} lines, {len(restarts)} restarts: {len(lost)} lost, "
          f"{len(typist.uncertain)} uncertain, {typist.resent} resent")
    assert_only_restart_closes(typist)
    assert doubled == [], doubled[:10]
    assert not set(lost) - {f"L{n:05d}" for n in typist.uncertain}, lost[:10]  # never in silence
    # The proxy's own restart drains the browser too (docs/protocol.md §2).
    assert len(typist.restart_closes) == len(restarts) and all(close[0] for close in typist.restart_closes)
    if not typist.uncertain:
        assert got == expected
    tmux_server.kill_session(session_id)


@pytest.mark.timeout(300)
async def test_a_stopped_upstream_gets_no_settled_close_so_nothing_it_may_still_write_is_sent_twice(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """The upstream (a busy serve.py, here stopped) acks nothing while the proxy restarts: the proxy cannot settle
    the browser's input (the upstream may still write what it was relayed, and does once it runs again), so its 1012
    is the plain one and the page reports the unacked lines instead of sending them again."""
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    upstream = serve_process(token=UPSTREAM_TOKEN)
    process = serve_process("--upstream", str(upstream.base_url.with_scheme("ws")),
                            env={"LIVEPANE_UPSTREAM_TOKEN": UPSTREAM_TOKEN})
    typist = Typist(process, session_id, handshake(protocol.PROTOCOL_VERSION))

    @contextlib.asynccontextmanager
    async def upstream_stopped() -> AsyncIterator[None]:
        closes = len(typist.closes)
        os.kill(upstream.pid, signal.SIGSTOP)
        try:
            yield
            await async_wait_until(lambda: len(typist.closes) > closes, what="the proxy's 1012")
        finally:
            os.kill(upstream.pid, signal.SIGCONT)

    expected, got = await type_across_restarts(
        process, typist, [signal.SIGTERM, signal.SIGHUP], out, around_restart=upstream_stopped
    )
    lost = sorted(set(expected) - set(got))
    doubled = sorted({line for line in got if got.count(line) > 1})
    print(f"stopped upstream: {typist.sent} lines: {len(lost)} lost, {len(typist.uncertain)} uncertain, "
          f"{typist.resent} resent; closes {typist.closes}")
    assert typist.closes == [(protocol.Close.SERVICE_RESTART, protocol.Reason.SERVICE_RESTART)] * 2
    assert typist.uncertain and typist.resent == 0
    assert doubled == [], doubled[:10]
    assert not set(lost) - {f"L{n:05d}" for n in typist.uncertain}, lost[:10]
    tmux_server.kill_session(session_id)

@pytest.mark.timeout(300)
async def test_a_page_that_answers_the_proxys_drain_late_gets_every_line_written_exactly_once(
    serve_process, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """The proxy's drain deadline passes (a busy page): the proxy stops relaying input, waits for the upstream's acks
    of what it relayed and closes 1012 with Reason.SETTLED; the page sends the rest again on its next connection."""
    out = tmp_path / "typed.txt"
    session_id = tmux_server.new_session(shell=f"sh -c {shlex.quote(f'stty -echo; exec cat > {out}')}")
    async with running_app(tmux_server, token=UPSTREAM_TOKEN) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        process = serve_process("--upstream", upstream_url, env={"LIVEPANE_UPSTREAM_TOKEN": UPSTREAM_TOKEN})
        typist, expected, got = await type_with_a_late_page(process, tmux_server, session_id, out)
    lost = sorted(set(expected) - set(got))
    assert not set(lost) - {f"L{n:05d}" for n in typist.uncertain}, lost[:10]  # never in silence
    assert typist.resent > 0  # the late answers left lines unrelayed, and they came again
    tmux_server.kill_session(session_id)
