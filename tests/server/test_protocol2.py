"""Protocol 2 on the server (docs/protocol.md §2): acks of input written to the PTY, probes answered at once.

Acks go only to a client whose handshake declared protocol 2; a plain ttyd client never sees one. Probes are
answered from any client. A PAUSE holds output, never an ack or a probe answer.
"""

from __future__ import annotations

import json

from pyclient import protocol

from .conftest import Pane, TmuxServer, marker, running_app

INPUT_FRAMES = 40


def handshake(livepane_protocol: int | None, columns: int = 80, rows: int = 24) -> bytes:
    """A handshake as a protocol-2 pane sends it (the "livepane" key) or as a plain ttyd client does (None)."""
    frame: dict = {"AuthToken": "", "columns": columns, "rows": rows}
    if livepane_protocol is not None:
        frame["livepane"] = {"protocol": livepane_protocol}
    return json.dumps(frame).encode()


def acks(pane: Pane) -> list[int]:
    return [int(frame[1:]) for frame in pane.got.frames if frame[:1] == bytes([protocol.ACK])]


async def open_with(client, session: str, livepane_protocol: int | None) -> Pane:
    pane = await client.connect(session)
    await pane.ws.send_bytes(handshake(livepane_protocol))
    await pane.read_until(lambda got: got.preferences is not None and bool(got.output))
    return pane


async def test_preferences_advertise_protocol_2(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, None)
        assert pane.got.preferences == {"livepane": {"protocol": protocol.PROTOCOL_VERSION, "keepalive_ms": 10000}}
        assert protocol.PROTOCOL_VERSION == 5  # 2: acks, probes; 3: scrolls; 4: at a cell (test_scroll.py); 5: settled


async def test_acks_count_every_input_frame_written_coalesced_never_decreasing(
    tmux_server: TmuxServer, session: str
) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, 2)
        await pane.ws.send_bytes(protocol.input_frame(""))  # an empty input frame is a frame too
        for index in range(INPUT_FRAMES - 2):
            await pane.send_input(f"#{index} ")  # a comment line: nothing runs
        await pane.send_input(f"\x15echo {mark[:2]}''{mark[2:]}\r")
        await pane.read_until(lambda got: INPUT_FRAMES in acks(pane))
        await pane.wait_output(mark)
        counts = acks(pane)
        assert counts == sorted(set(counts)), counts  # strictly increasing: never repeated, never decreasing
        assert counts[-1] == INPUT_FRAMES
        assert len(counts) <= INPUT_FRAMES


async def test_probe_and_acks_answered_while_output_is_paused(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, 2)
        await pane.ws.send_bytes(protocol.PAUSE)
        await pane.send_input("yes\r")  # a flood the pause holds back
        await pane.ws.send_bytes(protocol.PROBE + b"p-1")
        answer = protocol.probe_answer_frame(b"p-1")
        await pane.read_until(lambda got: answer in got.frames and 1 in acks(pane))
        await pane.ws.send_bytes(protocol.input_frame("\x03"))
        await pane.ws.send_bytes(protocol.RESUME)


async def test_a_plain_ttyd_client_gets_no_acks_but_its_probe_is_answered(
    tmux_server: TmuxServer, session: str
) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, None)
        await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await pane.wait_output(mark)
        await pane.ws.send_bytes(protocol.PROBE + b"7")
        await pane.read_until(lambda got: protocol.probe_answer_frame(b"7") in got.frames)
        assert acks(pane) == []


async def test_protocol_1_handshake_gets_no_acks(tmux_server: TmuxServer, session: str) -> None:
    mark = marker()
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, 1)
        await pane.send_input(f"echo {mark[:2]}''{mark[2:]}\r")
        await pane.wait_output(mark)
        assert acks(pane) == []


async def test_a_probe_payload_over_16_bytes_closes_4400(tmux_server: TmuxServer, session: str) -> None:
    async with running_app(tmux_server) as (client, _):
        pane = await open_with(client, session, 2)
        await pane.ws.send_bytes(protocol.PROBE + b"x" * (protocol.MAX_PROBE_PAYLOAD_BYTES + 1))
        code, reason = await pane.expect_close()
        assert (code, reason) == (4400, "bad request: a probe carries at most 16 ASCII bytes")
