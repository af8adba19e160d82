"""GET /api/sessions?since=<etag>: the session bar's watch, held until the list changes (livepane_server/sessions.py).

Real tmux, serve.py's app in-process; deadlines shortened through Config.session_watch.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from support import async_wait_until

from livepane_server.sessions import SessionWatchPolicy

from .conftest import TmuxServer, cookie_header, running_app

SHORT_HOLD = SessionWatchPolicy(hold_s=0.4, max_watchers=3)
LONG_HOLD = SessionWatchPolicy(hold_s=30.0, max_watchers=3)
# Config overrides: each hold, with tmux asked every 0.05 s (Config.session_poll_interval_s).
SHORT = {"session_watch": SHORT_HOLD, "session_poll_interval_s": 0.05}
LONG = {"session_watch": LONG_HOLD, "session_poll_interval_s": 0.05}


async def listing(client, query: str = "", headers: dict[str, str] | None = None) -> tuple[int, object]:
    async with client.http.get(
        client.url("/api/sessions").with_query(query), headers=cookie_header() if headers is None else headers
    ) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def test_a_listing_has_an_etag_and_an_unchanged_watch_answers_at_its_deadline(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, **SHORT) as (client, _):
        status, first = await listing(client)
        assert status == 200 and len(first["etag"]) == 16, first
        started = time.monotonic()
        status, again = await listing(client, f"since={first['etag']}")
        held_s = time.monotonic() - started
        assert status == 200 and again["etag"] == first["etag"], again
        assert SHORT_HOLD.hold_s * 0.9 <= held_s < SHORT_HOLD.hold_s + 3, held_s


async def test_a_watch_answers_when_tmux_makes_or_kills_a_session(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, **LONG) as (client, server):
        _, first = await listing(client)
        watch = asyncio.ensure_future(listing(client, f"since={first['etag']}"))
        await asyncio.sleep(0)  # not a wait for a condition: lets the request leave before tmux changes
        while server.session_watch.watchers == 0:
            await asyncio.sleep(0.01)
        made = await asyncio.to_thread(tmux_server.new_session)
        try:
            started = time.monotonic()
            status, changed = await asyncio.wait_for(watch, 5)
            assert status == 200 and changed["etag"] != first["etag"]
            assert made in {s["id"] for s in changed["sessions"]}
            assert time.monotonic() - started < 5
            watch = asyncio.ensure_future(listing(client, f"since={changed['etag']}"))
            while server.session_watch.watchers == 0:
                await asyncio.sleep(0.01)
        finally:
            await asyncio.to_thread(tmux_server.kill_session, made)
        status, dropped = await asyncio.wait_for(watch, 5)
        assert made not in {s["id"] for s in dropped["sessions"]}


async def test_many_watchers_share_one_tmux_poll(tmux_server: TmuxServer) -> None:
    policy = SessionWatchPolicy(hold_s=0.5, max_watchers=64)
    async with running_app(tmux_server, session_watch=policy, session_poll_interval_s=0.1) as (client, server):
        _, first = await listing(client)
        answers = await asyncio.gather(*(listing(client, f"since={first['etag']}") for _ in range(50)))
        assert all(status == 200 for status, _ in answers)
        # 50 watchers held for 0.5 s at one poll per 0.1 s: about 5 tmux commands (slack for a busy machine), not 250.
        assert server.session_watch.polls <= 12, server.session_watch.polls


async def test_bad_input_and_too_many_watchers_get_a_4xx_with_a_reason(tmux_server: TmuxServer) -> None:
    async with running_app(tmux_server, **LONG) as (client, server):
        for bad in ("since=xyz", "since=", "since=" + "A" * 16, "since=" + "0" * 17):
            status, text = await listing(client, bad)
            assert status == 400 and "since must be the etag" in text, (bad, status, text)
        status, text = await listing(client, "since=" + "0" * 16, headers={})
        assert status == 401 and text.startswith("unauthorized"), text  # the cookie, as every /api/ route
        held = [asyncio.ensure_future(listing(client, "since=" + "0" * 16)) for _ in range(3)]
        # An unknown etag differs from the listing's: these answer at once, so hold three on the real etag instead.
        await asyncio.gather(*held)
        _, first = await listing(client)
        held = [asyncio.ensure_future(listing(client, f"since={first['etag']}")) for _ in range(3)]
        while server.session_watch.watchers < 3:
            await asyncio.sleep(0.01)
        status, text = await listing(client, f"since={first['etag']}")
        assert status == 429 and "too many session watchers" in text, (status, text)
        await server.session_watch.close()  # what shutdown does: every held watcher answers at once
        answers = await asyncio.wait_for(asyncio.gather(*held), 5)
        assert [status for status, _ in answers] == [200, 200, 200]


async def test_a_proxy_forwards_the_watch_to_its_upstream_and_waits_as_long(tmux_server: TmuxServer) -> None:
    """Proxy mode with --upstream-token: the watch is the upstream's, held there (the proxy waits the hold plus its
    open timeout, not just the open timeout)."""
    upstream_token = "sbar-upstream-token"
    async with running_app(tmux_server, token=upstream_token, **SHORT) as (upstream_client, _):
        upstream_url = str(upstream_client.base_url.with_scheme("ws"))
        async with running_app(
            tmux_server, upstream=upstream_url, upstream_token=upstream_token, **SHORT
        ) as (client, _):
            status, first = await listing(client)
            assert status == 200 and len(first["etag"]) == 16
            started = time.monotonic()
            status, again = await listing(client, f"since={first['etag']}")
            assert status == 200 and again["etag"] == first["etag"]
            assert time.monotonic() - started >= SHORT_HOLD.hold_s * 0.9  # held upstream, not answered by the proxy
            status, text = await listing(client, "since=nope")
            assert status == 400 and "since must be the etag" in text


async def test_a_watcher_never_gets_a_listing_older_than_its_own(tmux_server: TmuxServer) -> None:
    """The shared copy is up to one poll old: a watcher holding a fresher etag (from a plain GET after a change) is
    held on its own listing, not answered with the older copy."""
    slow_poll = SessionWatchPolicy(hold_s=0.5, max_watchers=8)
    async with running_app(tmux_server, session_watch=slow_poll, session_poll_interval_s=30.0) as (client, server):
        _, before = await listing(client)
        first = asyncio.ensure_future(listing(client, f"since={before['etag']}"))  # starts the poll: copy = before
        while server.session_watch.polls == 0:
            await asyncio.sleep(0.01)
        made = await asyncio.to_thread(tmux_server.new_session)  # the next poll is 30 s away: the copy is old now
        try:
            _, fresh = await listing(client)
            assert made in {s["id"] for s in fresh["sessions"]}
            status, answer = await listing(client, f"since={fresh['etag']}")
            assert status == 200 and answer["etag"] == fresh["etag"], "answered with the older copy"
            assert made in {s["id"] for s in answer["sessions"]}
            await first
        finally:
            await asyncio.to_thread(tmux_server.kill_session, made)


def count_tmux_commands(server, tmp_path: Path) -> Callable[[str], int]:
    """Route the server's tmux commands through a wrapper that logs each one: returns how many so far contain a word.

    Counts what tmux is really asked, whichever room asks (tmux.Tmux.run looks tmux up on its own env's PATH)."""
    log = tmp_path / "tmux-commands.log"
    log.touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "tmux"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\nexec {shutil.which("tmux")} "$@"\n')
    wrapper.chmod(0o755)
    server.tmux.env["PATH"] = f"{bin_dir}:{server.tmux.env.get('PATH', '')}"
    return lambda word: sum(word in line.split() for line in log.read_text().splitlines())


async def test_the_bar_and_the_titles_share_one_tmux_poll(
    tmux_server: TmuxServer, session: str, tmp_path: Path
) -> None:
    """A page watching the bar and a bridge watching its title: one `tmux list-sessions` per interval serves both
    (the defaults: one a second), and each still gets its updates."""
    interval_s = 1.0  # the default poll interval, the same for both rooms before they shared one poll
    async with running_app(tmux_server) as (client, server):
        commands = count_tmux_commands(server, tmp_path)
        pane = await client.open_pane(session)  # the bridge watches the session's title
        await pane.read_until(lambda got: len(got.titles) >= 2)  # the session id, then tmux's title
        _, first = await listing(client)
        watch = asyncio.ensure_future(listing(client, f"since={first['etag']}"))
        await async_wait_until(lambda: server.session_watch.watchers == 1, what="the watch to be held")
        started, before = time.monotonic(), commands("list-sessions")
        await async_wait_until(lambda: commands("list-sessions") >= before + 4, timeout_s=15, what="4 polls")
        # Four commands, one per interval, are three intervals apart at least; two polls of their own would ask twice
        # as often (four in two intervals).
        assert time.monotonic() - started >= 3 * interval_s * 0.95, commands("list-sessions") - before
        await asyncio.to_thread(tmux_server.run, "select-pane", "-t", f"={session}:", "-T", "shared-poll-title")
        await pane.read_until(lambda got: got.titles[-1] == "shared-poll-title")
        made = await asyncio.to_thread(tmux_server.new_session)
        try:
            status, changed = await asyncio.wait_for(watch, 5)
            assert status == 200 and made in {s["id"] for s in changed["sessions"]}
        finally:
            await asyncio.to_thread(tmux_server.kill_session, made)
