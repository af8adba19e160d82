"""Every refusal and bad frame gets its close code and reason; the server and the other open pane keep working."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from support import async_wait_until

from livepane_server.auth import COOKIE_NAME, TICKET_TTL_S, Auth, TicketError, TicketJournal, cookie_value_for

from .conftest import ROOT_DIR, TOKEN, Client, Pane, TmuxServer, marker, running_app


async def assert_still_serving(client: Client, witness: Pane) -> None:
    """The pane opened before the bad socket still echoes, and a new socket still opens."""
    mark = marker()
    await witness.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
    await witness.wait_output(mark)
    assert (await client.http.get(client.url("/api/sessions"), headers=cookie())).status == 200


def cookie() -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={cookie_value_for(TOKEN)}"}


REFUSALS = [
    pytest.param({"ticket": None}, 4401, "unauthorized: no ticket", id="missing-ticket"),
    pytest.param({"ticket": "garbage"}, 4401, "ticket invalid", id="malformed-ticket"),
    pytest.param({"ticket": "other-session"}, 4401, "ticket invalid", id="ticket-for-another-session"),
    pytest.param({"ticket": "other-token"}, 4401, "ticket invalid", id="ticket-signed-with-another-token"),
    pytest.param({"ticket": "expired"}, 4401, "ticket invalid: expired", id="expired-ticket"),
    pytest.param({"origin": "http://evil.example"}, 4403, "origin not allowed", id="foreign-origin"),
    pytest.param({"origin": "null"}, 4403, "origin not allowed", id="null-origin"),
    pytest.param({"session": "bad.id"}, 4400, "bad request: bad session id", id="bad-session-id"),
    pytest.param({"session": "x" * 65}, 4400, "bad request: bad session id", id="session-id-too-long"),
    # "$" would match before a trailing newline: the id must be checked as a whole.
    pytest.param({"session": "anchor\n"}, 4400, "bad request: bad session id", id="session-id-trailing-newline"),
]


@pytest.mark.parametrize(("case", "code", "reason"), REFUSALS)
async def test_refused_socket_gets_code_and_reason(
    tmux_server: TmuxServer, session: str, case: dict, code: int, reason: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        target = case.get("session", session)
        ticket = case.get("ticket", "fetch")
        if ticket == "other-session":
            ticket = await client.ticket("anchor")
        elif ticket == "other-token":
            ticket = Auth("not-the-token").issue_ticket(target)
        elif ticket == "expired":
            ticket = Auth(TOKEN, clock=lambda: time.time() - TICKET_TTL_S - 1).issue_ticket(target)
        elif ticket == "fetch" and "session" in case:
            ticket = Auth(TOKEN).issue_ticket("anchor")  # the API refuses bad ids; any ticket will do
        headers = {"Origin": case["origin"]} if "origin" in case else {}
        pane = await client.connect(target, ticket=ticket, headers=headers)
        got_code, got_reason = await pane.expect_close()
        # A reason may go on after its prefix ("origin not allowed: <what was compared>: <the fixes>").
        assert got_code == code and (got_reason == reason or got_reason.startswith(f"{reason}: ")), got_reason
        await assert_still_serving(client, witness)


async def test_reused_ticket_is_refused(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        ticket = await client.ticket(session)
        witness = await client.connect(session, ticket=ticket)
        await witness.handshake()
        await witness.read_until(lambda got: bool(got.output))
        again = await client.connect(session, ticket=ticket)
        assert await again.expect_close() == (4401, "ticket invalid: already used")
        await assert_still_serving(client, witness)


async def test_own_origin_is_accepted(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        origin = str(client.base_url).rstrip("/")
        pane = await client.connect(session, headers={"Origin": origin})
        await pane.handshake()
        await pane.read_until(lambda got: bool(got.output))


BAD_FRAMES = [
    pytest.param(b"not json", None, 4400, "bad request: handshake is not JSON", id="handshake-not-json"),
    pytest.param(b"[80, 24]", None, 4400, "bad request: handshake is not a JSON object", id="handshake-array"),
    pytest.param(
        b'{"columns": 0, "rows": 24}',
        None,
        4400,
        "bad request: handshake columns must be an integer 1-10000",
        id="handshake-zero-columns",
    ),
    pytest.param(
        b'{"columns": "80", "rows": 24}',
        None,
        4400,
        "bad request: handshake columns must be an integer 1-10000",
        id="handshake-string-columns",
    ),
    pytest.param(
        b'{"AuthToken": 5, "columns": 80, "rows": 24}',
        None,
        4400,
        "bad request: handshake AuthToken is not a string",
        id="handshake-bad-authtoken",
    ),
    pytest.param(b"x" * (64 * 1024 + 1), None, 1009, "message too big", id="handshake-too-big"),
    pytest.param(None, b"1{bad json", 4400, "bad request: resize is not JSON", id="resize-not-json"),
    pytest.param(
        None,
        b'1{"columns": 80, "rows": 10001}',
        4400,
        "bad request: resize rows must be an integer 1-10000",
        id="resize-too-tall",
    ),
    pytest.param(None, b"0" + b"y" * (64 * 1024), 1009, "message too big", id="input-too-big"),
    pytest.param(None, b"x", 1003, "unknown message type", id="unknown-type"),  # 7, 8, 9: protocol 2
    pytest.param(None, b"", 4400, "bad request: empty frame", id="empty-frame"),
]


@pytest.mark.parametrize(("handshake", "frame", "code", "reason"), BAD_FRAMES)
async def test_bad_frame_closes_with_code_and_reason(
    tmux_server: TmuxServer, session: str, handshake: bytes | None, frame: bytes | None, code: int, reason: str
) -> None:
    async with running_app(tmux_server) as (client, _):
        witness = await client.open_pane(session)
        pane = await client.connect(session)
        if handshake is not None:
            await pane.ws.send_bytes(handshake)
        else:
            await pane.handshake()
            await pane.read_until(lambda got: bool(got.output))
            await pane.ws.send_bytes(frame)
        assert await pane.expect_close() == (code, reason)
        await assert_still_serving(client, witness)


async def test_largest_allowed_frame_is_accepted(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await client.open_pane(session)
        # Exactly 64 KiB: a resize padded with JSON whitespace; it must be applied, not refused.
        resize = b'1{"columns": 91, "rows": 21}'
        payload = resize + b" " * (64 * 1024 - len(resize))
        await pane.ws.send_bytes(payload)
        size = "#{window_width}x#{window_height}"
        await async_wait_until(lambda: tmux_server.display(session, size) == "91x20", what="resize applied")
        assert not pane.ws.closed


async def test_plain_http_get_on_socket_path_is_400(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _), client.http.get(client.url(f"/ws/{session}")) as response:
        assert response.status == 400
        assert "WebSocket" in await response.text()


def test_ticket_format_and_single_use() -> None:
    now = [1000.0]
    auth = Auth("tok", clock=lambda: now[0])
    ticket = auth.issue_ticket("main")
    with pytest.raises(TicketError, match="ticket invalid"):
        auth.redeem_ticket(ticket, "main2")
    auth.redeem_ticket(ticket, "main")
    with pytest.raises(TicketError, match="already used"):
        auth.redeem_ticket(ticket, "main")
    late = auth.issue_ticket("main")
    now[0] += TICKET_TTL_S + 0.001
    with pytest.raises(TicketError, match="expired"):
        auth.redeem_ticket(late, "main")
    # A successor with the same token accepts a ticket its predecessor issued (reloads overlap).
    fresh = auth.issue_ticket("main")
    Auth("tok", clock=lambda: now[0]).redeem_ticket(fresh, "main")
    # The client puts the ticket into the socket URL's query as it is: it must need no escaping there.
    assert quote(fresh, safe="") == fresh


def test_a_ticket_used_by_one_process_is_refused_by_its_successor() -> None:
    """The journal is shared through an inherited fd, as a SIGHUP successor gets it: single use holds across both."""
    auth = Auth("tok")
    used = auth.issue_ticket("main")
    auth.redeem_ticket(used, "main")
    unused = auth.issue_ticket("main")
    fd = auth.journal.fd
    child = f"""
import sys
from livepane_server.auth import Auth, TicketError, TicketJournal
auth = Auth("tok", journal=TicketJournal({fd}))
for ticket, expected in ((sys.argv[1], "already used"), (sys.argv[2], None), (sys.argv[2], "already used")):
    try:
        auth.redeem_ticket(ticket, "main")
        outcome = None
    except TicketError as error:
        outcome = "already used" if "already used" in str(error) else str(error)
    assert outcome == expected, (ticket, outcome, expected)
"""
    done = subprocess.run([sys.executable, "-c", child, used, unused], pass_fds=(fd,), cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    # ... and what the successor used, the predecessor refuses.
    with pytest.raises(TicketError, match="already used"):
        auth.redeem_ticket(unused, "main")


def test_the_ticket_journal_compacts_without_forgetting_live_tickets() -> None:
    now = [1000.0]
    first = Auth("tok", clock=lambda: now[0])
    second = Auth("tok", clock=lambda: now[0], journal=TicketJournal(os.dup(first.journal.fd)))
    first.journal.COMPACT_BYTES = second.journal.COMPACT_BYTES = 1_500
    for _ in range(30):  # ~42 bytes each
        first.redeem_ticket(first.issue_ticket("main"), "main")
    now[0] += TICKET_TTL_S + 1  # all 30 expired
    live = first.issue_ticket("main")
    second.redeem_ticket(live, "main")  # recorded by the other process
    sizes = []
    for _ in range(10):
        first.redeem_ticket(first.issue_ticket("main"), "main")
        sizes.append(os.fstat(first.journal.fd).st_size)
    assert max(sizes) > 1_200 and sizes[-1] < 700, sizes  # compacted: the expired entries are gone
    for auth in (first, second):  # the live one is not: both processes still refuse it
        with pytest.raises(TicketError, match="already used"):
            auth.redeem_ticket(live, "main")
