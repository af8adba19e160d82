"""The token that survives a restart, its rotation, the log that never shows it, and tickets single-use across any
restart (issues 9 item 1 and 10 item 7). serve.py runs as a real process with its own state folder
(``XDG_STATE_HOME`` under the test's tmp dir; tests/launch.py).
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import aiohttp
from launch import SERVE_PY, ServeProcess
from support import async_wait_until
from yarl import URL

from livepane_server.app import ROTATED_TEXT, UNAUTHORIZED_TEXT
from livepane_server.auth import COOKIE_NAME

from .conftest import TOKEN, Client, TmuxServer


def token_of(url: str) -> str:
    return URL(url).query["token"]


async def printed_url(process: ServeProcess) -> str:
    return await async_wait_until(process.printed_url, what="the printed URL")


def http() -> aiohttp.ClientSession:
    """A session of its own per request: a pooled keep-alive connection would outlive the server it went to."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def cookie_from(url: str) -> str:
    """Open the printed URL as the browser does: the 303 sets the auth cookie."""
    async with http() as session, session.get(url, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        return response.cookies[COOKIE_NAME].value


async def ticket_status(process: ServeProcess, cookie: str) -> tuple[int, str]:
    async with http() as session, session.post(
        process.base_url / "api" / "ticket", json={"session": "anchor"}, headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as response:
        return response.status, await response.text()


async def page_status(process: ServeProcess, cookie: str) -> tuple[int, str]:
    async with http() as session, session.get(
        process.base_url, headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as response:
        return response.status, await response.text()


async def test_a_restart_without_a_token_prints_the_same_url_and_keeps_every_cookie(serve_process) -> None:
    process = serve_process(token=None)  # as `make run` starts it
    first_url = await printed_url(process)
    cookie = await cookie_from(first_url)
    process.stop()
    process.start()
    assert await printed_url(process) == first_url
    assert (await ticket_status(process, cookie))[0] == 200
    process.kill()  # a crash keeps it too
    process.start()
    assert await printed_url(process) == first_url
    assert (await ticket_status(process, cookie))[0] == 200
    folder = process.state_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    credentials = folder / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["token"] == token_of(first_url)


async def test_an_explicit_token_wins_and_is_never_stored(serve_process) -> None:
    process = serve_process(token=TOKEN)  # LIVEPANE_TOKEN
    assert token_of(await printed_url(process)) == TOKEN
    assert not (process.state_dir / "credentials.json").exists()
    flagged = serve_process("--token", "flag-token-1234", token=None)
    assert token_of(await printed_url(flagged)) == "flag-token-1234"
    assert not (flagged.state_dir / "credentials.json").exists()


async def test_rotation_makes_a_new_url_and_an_old_cookie_hears_that_it_was_rotated(
    serve_process, tmux_server: TmuxServer
) -> None:
    process = serve_process(token=None)
    old_url = await printed_url(process)
    old_cookie = await cookie_from(old_url)
    process.stop()
    rotated = ServeProcess(tmux_server, process.workdir, "--rotate-token", port=process.port, token=None)
    try:
        rotated.start()
        new_url = await printed_url(rotated)
        assert token_of(new_url) != token_of(old_url)
        assert await ticket_status(rotated, old_cookie) == (401, ROTATED_TEXT)
        assert await page_status(rotated, old_cookie) == (401, ROTATED_TEXT)
        assert await ticket_status(rotated, "garbage") == (401, UNAUTHORIZED_TEXT)
        new_cookie = await cookie_from(new_url)
        assert (await ticket_status(rotated, new_cookie))[0] == 200
        # A reload keeps the new token (the successor is not started with --rotate-token) ...
        rotated.reload()
        assert (await ticket_status(rotated, new_cookie))[0] == 200
    finally:
        rotated.close()
    # ... and so does the next plain start.
    process.start()
    assert await printed_url(process) == new_url
    assert await ticket_status(process, old_cookie) == (401, ROTATED_TEXT)


def test_rotate_token_with_an_explicit_token_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(SERVE_PY), "--rotate-token", "--token", "x" * 20],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert "--rotate-token replaces the stored token; it cannot be combined with --token" in done.stderr


async def test_the_token_appears_in_the_log_only_in_the_printed_url(serve_process, session: str) -> None:
    process = serve_process(token=None, log_level="debug")  # the access log on: every request line
    url = await printed_url(process)
    token = token_of(url)
    await cookie_from(url)
    async with http() as client, client.get(process.base_url.with_query(token=token + "x")) as response:
        assert response.status == 401
    for _ in range(2):  # before and after a reload
        client = Client(process.base_url, token=token)
        try:
            await client.open_pane(session)
        finally:
            await client.close()
        if _ == 0:
            process.reload()
    log = process.log()
    assert "GET /?token=" in log  # the access log saw those requests ...
    assert log.count(token) == 1, [line for line in log.splitlines() if token in line]  # ... and shows no token
    assert f"livepane: open {url}" in log


async def test_a_used_ticket_is_refused_after_sigterm_and_start_and_after_sigkill_and_start(
    serve_process, session: str
) -> None:
    process = serve_process()
    client = Client(process.base_url)
    try:
        used = await client.ticket(session)
        first = await client.connect(session, ticket=used)
        await first.handshake()
        await first.read_until(lambda got: got.preferences is not None)
    finally:
        await client.close()
    for how in (process.stop, process.kill):
        how()
        process.start()
        client = Client(process.base_url)
        try:
            replay = await client.connect(session, ticket=used)
            assert await replay.expect_close() == (4401, "ticket invalid: already used"), how
            await client.open_pane(session)  # a fresh ticket still works
        finally:
            await client.close()


async def test_a_given_token_serves_even_where_no_state_folder_can_be_made(serve_process, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # XDG_STATE_HOME/livepane cannot be made under a file
    process = serve_process(env={"XDG_STATE_HOME": str(blocker)})
    assert "serving without it" in process.log()
    client = Client(process.base_url)
    try:
        assert await client.ticket("anchor")
    finally:
        await client.close()
