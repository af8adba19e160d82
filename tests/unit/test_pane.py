"""The pane's decisions under CPython: fake clock, fake sockets, a fake terminal that parses only when told.

Nothing sleeps; nothing imports ``js``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from reconnect_fakes import FakeSocket, FakeTimers

from pyclient.pane import (
    FULL_RESET,
    HANDOVER_MAX_MS,
    HANDOVER_QUIET_MS,
    HANDOVER_RESET,
    REDRAW_ENDS,
    CaptionView,
    FlowControl,
    FlowPolicy,
    Notice,
    Pane,
    RecordedKind,
    ReplyGate,
    Tone,
    caption_refresh_ms,
    caption_view,
    dropped_notice,
    uncertain_notice,
)
from pyclient.protocol import SCROLL, Cell
from pyclient.reconnect import Phase, ReconnectPolicy, State, Status, StopReason
from pyclient.wheel import Wheel

DA2_REPLY = "\x1b[>0;276;0c"


# --------------------------------------------------------------------------------------------------------------------
# Fakes


class PaneSocket(FakeSocket):
    """The shared scripted socket, spoken to in server frames."""

    def answer(self, first: Any = b"0") -> None:
        """Open, and the terminal answers (here with a keepalive: a first frame the pane shows nothing of)."""
        super().answer(first)

    def output(self, data: bytes) -> None:
        self.message(b"0" + data)

    def server_frame(self, frame: bytes) -> None:
        self.message(frame)

    def drop(self, code: int = 1006, reason: str = "") -> None:
        self.server_close(code, reason)


@dataclass
class FakeTerminal:
    """xterm's write queue, parsed only when the test says so; replies are what the parsed output 'asked'."""

    columns: int = 80
    rows: int = 24
    queue: list[tuple[Any, str]] = field(default_factory=list)  # (data, callback kind: "", "parsed", "barrier")
    screen: list[Any] = field(default_factory=list)
    fits: int = 0
    pane: Pane | None = None

    def write(self, payload: Any, with_callback: bool) -> None:
        self.queue.append((payload, "parsed" if with_callback else ""))

    def write_barrier(self, data: str) -> None:
        self.queue.append((data, "barrier"))

    def write_together(self, chunks: list[tuple[Any, bool]]) -> None:
        self.queue.append((b"".join(payload for payload, _ in chunks), ""))
        callbacks = sum(1 for _, with_callback in chunks if with_callback)
        self.queue.extend([(b"", "parsed")] * callbacks)

    def fit(self) -> tuple[int, int]:
        self.fits += 1
        assert self.pane is not None
        self.pane.on_resize(self.columns, self.rows)  # xterm fires onResize synchronously from resize()
        return self.columns, self.rows

    def parse_all(self) -> None:
        assert self.pane is not None
        while self.queue:
            data, callback = self.queue.pop(0)
            if data == FULL_RESET:
                self.screen.clear()
            else:
                self.screen.append(data)
                if data == b"\x1b[>c":  # a DA2 query: xterm answers through onData while parsing
                    self.pane.on_data(DA2_REPLY)
            if callback == "parsed":
                self.pane.on_parsed()
            elif callback == "barrier":
                self.pane.on_barrier()


@dataclass
class FakeView:
    states: list[str] = field(default_factory=list)
    captions: list[CaptionView] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def show_status(self, status: Status, opens: int) -> None:
        self.states.append(status.state.value)

    def show_caption(self, caption: CaptionView) -> None:
        self.captions.append(caption)

    def show_title(self, title: str) -> None:
        self.titles.append(title)

    def show_notice(self, notice: Notice) -> None:
        self.notices.append(notice)


def split_frame(data: bytes) -> tuple[int, Any, int]:
    kind, payload = data[0], data[1:]
    if kind == ord("0"):
        return kind, payload, len(payload)
    return kind, payload.decode(), len(payload)


class Harness:
    def __init__(self, **kwargs: Any) -> None:
        self.timers = FakeTimers()
        self.sockets: list[FakeSocket] = []
        self.terminal = FakeTerminal()
        self.view = FakeView()
        self.ended: list[str] = []
        self.pane = Pane(
            session="main",
            terminal=self.terminal,
            view=self.view,
            split_frame=split_frame,
            open_socket=self._open,
            set_timeout=self.timers.set_timeout,
            clear_timeout=self.timers.clear_timeout,
            now_ms=self.timers.now_ms,
            random=lambda: 0.0,  # upper end of every jitter envelope
            on_ended=lambda pane, panel: self.ended.append(panel.text),
            log=lambda message: None,
            **kwargs,
        )
        self.terminal.pane = self.pane

    def _open(self, ticket: str | None) -> FakeSocket:
        sock = PaneSocket(ticket, self.timers.now)
        self.sockets.append(sock)
        return sock

    @property
    def sock(self) -> FakeSocket:
        return self.sockets[-1]

    @property
    def caption(self) -> CaptionView:
        return self.view.captions[-1]

    def open(self) -> FakeSocket:
        if not self.sockets:
            self.pane.start()
        self.sock.answer()
        return self.sock


# --------------------------------------------------------------------------------------------------------------------
# Caption


def status(state: State, **kwargs: Any) -> Status:
    phase = {State.OPEN: Phase.OPEN, State.CLOSED: Phase.CLOSED}.get(state, Phase.WAITING)
    return Status(state=state, phase=phase, **kwargs)


@pytest.mark.parametrize(
    ("st", "expected"),
    [
        (status(State.OPEN, offline=True), CaptionView(True, "offline: waiting for the network…", tone=Tone.WARN)),
        (
            status(State.RECONNECTING, offline=True, retry_at_ms=5000, held_inputs=2),
            CaptionView(True, "offline: waiting for the network… · 2 keys waiting", tone=Tone.WARN),
        ),
        (status(State.CONNECTING, restarting=True), CaptionView(True, "server restarting…")),
        (status(State.RECONNECTING, restarting=True, retry_at_ms=900), CaptionView(True, "server restarting…")),
        (status(State.RECONNECTING, restarting=True), CaptionView(True, "server restarting…")),
        (
            status(State.CONNECTING, restarting=True, held_inputs=1),
            CaptionView(True, "server restarting… · 1 key waiting"),
        ),
        (status(State.CONNECTING, held_inputs=3), CaptionView(True, "Reconnecting… · 3 keys waiting")),
        (
            status(State.RECONNECTING, retry_at_ms=3200, held_inputs=3),
            CaptionView(True, "reconnecting in 4 s… · 3 keys waiting", retry_button=True, tone=Tone.WARN),
        ),
        (
            status(State.CLOSED, message="no such session", offline=True, restarting=True),
            CaptionView(True, "no such session", tone=Tone.ERROR),
        ),
    ],
)
def test_caption_for_offline_restarting_and_held_keys(st: Status, expected: CaptionView) -> None:
    view = caption_view(st, 0, has_opened=True)
    assert view == CaptionView(expected.visible, expected.text, expected.retry_button, expected.tone, stale=True)
    if "in 4 s" not in expected.text:
        assert caption_refresh_ms(st, 0) is None  # offline and restarting captions do not count down


def test_only_an_open_online_pane_is_live() -> None:
    for state in State:
        for offline in (False, True):
            view = caption_view(status(state, offline=offline), 0, has_opened=True)
            assert view.stale is (state is not State.OPEN or offline)
            assert view.visible is view.stale


def test_caption_texts_for_each_state() -> None:
    first = caption_view(status(State.CONNECTING), 0, has_opened=False)
    assert first == CaptionView(True, "Connecting…", stale=True)
    again = caption_view(status(State.CONNECTING), 0, has_opened=True)
    assert again == CaptionView(True, "Reconnecting…", stale=True)
    assert caption_view(status(State.OPEN), 0, has_opened=True) == CaptionView(visible=False)
    counting = caption_view(status(State.RECONNECTING, retry_at_ms=3200), 0, has_opened=True)
    assert counting == CaptionView(True, "reconnecting in 4 s…", retry_button=True, tone=Tone.WARN, stale=True)
    attempting = caption_view(status(State.RECONNECTING), 0, has_opened=True)
    assert attempting == CaptionView(True, "reconnecting…", retry_button=False, tone=Tone.WARN, stale=True)
    closed = caption_view(status(State.CLOSED, message="session ended"), 0, has_opened=True)
    assert closed == CaptionView(True, "session ended", tone=Tone.ERROR, stale=True)


@pytest.mark.parametrize(
    ("remaining_ms", "seconds", "refresh_ms"),
    [(3200, 4, 200), (3000, 3, 1000), (2999, 3, 999), (1001, 2, 1), (1000, 1, None), (1, 1, None), (-50, 1, None)],
)
def test_countdown_rounds_up_and_refreshes_on_the_second(remaining_ms: float, seconds: int, refresh_ms: Any) -> None:
    st = status(State.RECONNECTING, retry_at_ms=10_000 + remaining_ms)
    assert caption_view(st, 10_000, has_opened=True).text == f"reconnecting in {seconds} s…"
    expected = None if refresh_ms is None else max(16.0, refresh_ms)
    assert caption_refresh_ms(st, 10_000) == expected


def test_caption_follows_the_machine_through_a_drop_and_counts_down() -> None:
    h = Harness()
    h.pane.start()
    assert h.caption.text == "Connecting…"
    h.sock.answer()
    assert h.caption.visible is False
    h.sock.drop()  # failure 1: the quiet first retry in 150 ms
    assert (h.caption.text, h.view.states[-1]) == ("Reconnecting…", "connecting")
    h.timers.advance(150)
    h.sock.drop()  # failure 2: 800 ms (random 0 → the top of the envelope), counted down
    assert h.view.states[-1] == "reconnecting"
    assert h.caption.text == "reconnecting in 1 s…" and h.caption.retry_button
    h.timers.advance(800)
    h.sock.drop()  # failure 3: 1600 ms
    texts = [h.caption.text]
    h.timers.advance(599)
    texts.append(h.caption.text)
    h.timers.advance(2)
    texts.append(h.caption.text)
    assert texts == ["reconnecting in 2 s…", "reconnecting in 2 s…", "reconnecting in 1 s…"]
    attempts = len(h.sockets)
    h.pane.retry_now()
    assert len(h.sockets) == attempts + 1
    assert h.caption.text == "reconnecting…" and not h.caption.retry_button


# --------------------------------------------------------------------------------------------------------------------
# Opening: handshake first, then a fresh screen


def test_every_open_sends_the_size_first_and_resets_the_screen_before_output() -> None:
    h = Harness()
    h.terminal.columns, h.terminal.rows = 100, 30
    sock = h.open()
    assert json.loads(sock.sent[0]) == {"AuthToken": "", "columns": 100, "rows": 30, "livepane": {"protocol": 5}}
    assert len(sock.sent) == 1  # the fit inside on_open sent no resize before (or after) the handshake
    assert h.terminal.queue == [(FULL_RESET, "barrier")]
    sock.output(b"repaint")
    h.terminal.parse_all()
    assert h.terminal.screen == [b"repaint"]
    sock.drop()
    h.timers.advance(150)
    sock2 = h.sock
    assert sock2 is not sock
    sock2.answer()
    sock2.output(b"repaint 2")
    h.terminal.parse_all()
    assert h.terminal.screen == [b"repaint 2"]
    assert h.pane.stats.opens == 2


def test_keystrokes_typed_while_down_arrive_in_order_after_the_handshake() -> None:
    h = Harness()
    sock = h.open()
    sock.drop()
    for key in "ls\r":
        h.pane.on_data(key)
    h.timers.advance(150)
    h.sock.answer()
    assert h.sock.sent[0].startswith(b"{")
    assert h.sock.sent[1:] == [b"0l", b"0s", b"0\r"]


def test_keys_typed_into_the_preview_are_replayed_once_in_order_before_later_keys() -> None:
    """Issue #14: web/preboot.js recorded these before Python was up; they wait for the open like any held key."""
    h = Harness(first_ticket="from-the-page", get_ticket=lambda resolve, reject: None)
    h.pane.start()
    recorded = [("data", "ec"), ("data", "ho"), ("binary", "\x1b[M !!"), ("data", DA2_REPLY), ("data", " hi\r")]
    assert h.pane.replay(recorded) == 5
    h.pane.on_data("x")  # typed after Python took over
    assert h.sock.ticket == "from-the-page"
    h.sock.answer()
    # The mouse report and the terminal's reply belonged to no connection: dropped, as they always are.
    assert h.sock.input_frames() == [b"0ec", b"0ho", b"0 hi\r", b"0x"]
    assert h.pane.stats.replies_dropped == 1


def test_the_first_open_after_a_preview_writes_its_reset_and_output_together_once_quiet() -> None:
    """The preview stays until tmux's repaint can replace it in one go: no cleared screen between the two."""
    h = Harness(preview_shown=True)
    sock = h.open()
    sock.output(b"\x1b[?1049h\x1b[2J")  # tmux's setup ...
    h.timers.advance(HANDOVER_QUIET_MS - 1)
    sock.output(b"rows")  # ... and, a moment later, its redraw
    assert h.terminal.queue == []  # the preview is still what is drawn
    h.timers.advance(HANDOVER_QUIET_MS)
    assert [data for data, _ in h.terminal.queue] == [HANDOVER_RESET, b"\x1b[?1049h\x1b[2Jrows"]  # one write
    assert h.terminal.queue[0][1] == "barrier"  # replies wait for it, as on every open
    sock.output(b"later")
    assert h.terminal.queue[-1] == (b"later", "")  # after the hand-over, output goes straight through
    h.terminal.parse_all()
    assert h.pane.gate.is_open


@pytest.mark.parametrize("end", REDRAW_ENDS)
def test_the_handover_ends_as_soon_as_tmux_has_redrawn(end: bytes) -> None:
    """tmux draws the whole screen as one synchronized update: its end is the repaint done, no quiet to wait for."""
    h = Harness(preview_shown=True)
    sock = h.open()
    sock.output(b"\x1b[?1049h\x1b[2J")  # tmux's setup ...
    assert h.terminal.queue == []
    sock.output(b"\x1bP=1s\x1b\\rows" + end)  # ... and its redraw, complete
    assert [data for data, _ in h.terminal.queue] == [HANDOVER_RESET, b"\x1b[?1049h\x1b[2J\x1bP=1s\x1b\\rows" + end]
    sock.output(b"later")
    h.timers.advance(HANDOVER_MAX_MS)
    assert [data for data, _ in h.terminal.queue][2:] == [b"later"]  # straight through, once


def test_a_redraws_end_split_between_two_frames_ends_the_handover() -> None:
    h = Harness(preview_shown=True)
    sock = h.open()
    end = REDRAW_ENDS[0]
    sock.output(b"rows" + end[:3])
    assert h.terminal.queue == []
    sock.output(end[3:])
    assert [data for data, _ in h.terminal.queue] == [HANDOVER_RESET, b"rows" + end]


def test_a_handover_lasts_at_most_its_cap_while_output_keeps_coming() -> None:
    h = Harness(preview_shown=True)
    sock = h.open()
    elapsed = 0.0
    while not h.terminal.queue:
        sock.output(b"x")
        h.timers.advance(HANDOVER_QUIET_MS / 2)
        elapsed += HANDOVER_QUIET_MS / 2
        assert elapsed <= HANDOVER_MAX_MS + HANDOVER_QUIET_MS
    assert h.terminal.queue[0] == (HANDOVER_RESET, "barrier")


def test_a_second_open_during_the_handover_writes_the_first_ones_screen_first() -> None:
    h = Harness(preview_shown=True)
    sock = h.open()
    sock.output(b"first")
    sock.drop()
    h.timers.advance(150)
    h.sock.answer()
    h.sock.output(b"second")
    # The first open's soft reset (from the preview), the second's full one (from the first connection's screen).
    assert [data for data, _ in h.terminal.queue] == [HANDOVER_RESET, b"first", FULL_RESET, b"second"]


def test_the_handover_keeps_every_flow_control_callback() -> None:
    """Held output that asked for parse callbacks gets each one: the pause/resume counts stay exact."""
    h = Harness(preview_shown=True, flow_policy=FlowPolicy(ack_every_bytes=4, low_water_bytes=16, high_water_bytes=64))
    sock = h.open()
    for _ in range(5):
        sock.output(b"12345")
    h.timers.advance(HANDOVER_QUIET_MS)
    assert sum(1 for _, kind in h.terminal.queue if kind == "parsed") == 5
    h.terminal.parse_all()
    assert h.pane.flow.pending_bytes == 0


def test_without_a_preview_every_open_resets_at_once() -> None:
    h = Harness()
    h.open().output(b"a")
    assert [data for data, _ in h.terminal.queue] == [FULL_RESET, b"a"]


def test_a_replay_skips_what_preboot_could_not_have_recorded() -> None:
    h = Harness()
    h.pane.start()
    assert h.pane.replay([("keyup", "a"), ("data", ""), ("data", 5), (RecordedKind.DATA, "ok")]) == 1  # type: ignore[list-item]
    h.sock.answer()
    assert h.sock.input_frames() == [b"0ok"]


def test_too_much_typing_while_down_shows_a_notice() -> None:
    h = Harness(policy=ReconnectPolicy(held_input_limit_bytes=4))
    h.open().drop()
    h.pane.on_data("abc")
    h.pane.on_data("defg")
    assert h.view.notices == [
        dropped_notice(4, "not connected and 4 bytes already waiting (at most 4 bytes is held)")
    ]
    assert h.pane.stats.input_dropped_bytes == 4


# --------------------------------------------------------------------------------------------------------------------
# Terminal replies belong to the connection that asked


def test_a_reply_to_the_current_connection_goes_out_unheld() -> None:
    h = Harness()
    sock = h.open()
    sock.output(b"\x1b[>c")
    h.terminal.parse_all()
    assert sock.sent[-1] == b"0" + DA2_REPLY.encode()
    assert h.pane.stats.replies_sent == 1


def test_replies_are_never_held_across_a_drop() -> None:
    h = Harness()
    h.open().drop()
    h.pane.on_data(DA2_REPLY)
    h.timers.advance(150)
    h.sock.answer()
    assert h.sock.sent[1:] == []
    assert h.pane.stats.replies_dropped == 1


def test_replies_to_an_older_connections_output_never_reach_the_new_one() -> None:
    h = Harness()
    old = h.open()
    h.terminal.parse_all()
    old.output(b"\x1b[>c")  # tmux asked on the old connection; xterm has not parsed it yet
    old.drop()
    h.timers.advance(150)
    new = h.sock
    new.answer()  # queue: old query, then the reset barrier
    new.output(b"\x1b[>c")  # the new tmux asks too
    h.terminal.parse_all()
    replies = [frame for frame in new.sent if frame == b"0" + DA2_REPLY.encode()]
    assert replies == [b"0" + DA2_REPLY.encode()]  # exactly one: the new connection's own
    assert h.pane.stats.replies_dropped == 1


def test_user_typing_is_not_mistaken_for_a_reply() -> None:
    h = Harness()
    sock = h.open()  # barrier not yet parsed: replies would be dropped, typing is not
    h.pane.on_data("echo hi\r")
    assert sock.sent[-1] == b"0echo hi\r"


# --------------------------------------------------------------------------------------------------------------------
# Flow control


def test_flow_control_pauses_above_high_water_and_resumes_below_low_water() -> None:
    flow = FlowControl(FlowPolicy(ack_every_bytes=10, low_water_bytes=30, high_water_bytes=50))
    decisions = [flow.written(10) for _ in range(6)]
    assert [want for want, _ in decisions] == [True] * 6
    assert [frame for _, frame in decisions] == [None] * 5 + [b"2"]  # 60 > 50
    assert flow.written(10) == (True, None)  # already paused: one PAUSE per episode
    resumes = [flow.parsed() for _ in range(7)]
    assert resumes == [None, None, None, None, b"3", None, None]  # 70 → 60 … 30 → 20 < 30
    assert flow.pending_bytes == 0 and flow.pauses == 1


def test_flow_control_acknowledges_by_chunk_and_the_unacked_tail_stays_below_low_water() -> None:
    flow = FlowControl(FlowPolicy(ack_every_bytes=10, low_water_bytes=30, high_water_bytes=50))
    wants = [flow.written(4)[0] for _ in range(5)]
    assert wants == [False, False, True, False, False]  # 12 bytes acknowledged by the third write's callback
    flow.parsed()
    assert flow.pending_bytes == 8


def test_flow_policy_rejects_an_ack_granularity_that_could_wedge_the_pause() -> None:
    with pytest.raises(ValueError):
        FlowPolicy(ack_every_bytes=200, low_water_bytes=100, high_water_bytes=300)


def test_the_pane_pauses_the_server_and_resumes_it_as_xterm_catches_up() -> None:
    h = Harness(flow_policy=FlowPolicy(ack_every_bytes=10, low_water_bytes=30, high_water_bytes=50))
    sock = h.open()
    for _ in range(6):
        sock.output(b"x" * 10)
    assert sock.sent[-1] == b"2"
    h.terminal.parse_all()
    assert sock.sent[-1] == b"3"
    assert sock.sent.count(b"2") == 1 and sock.sent.count(b"3") == 1


def test_keepalive_frames_are_not_written() -> None:
    h = Harness()
    sock = h.open()
    sock.output(b"")
    assert h.terminal.queue == [(FULL_RESET, "barrier")]


# --------------------------------------------------------------------------------------------------------------------
# Resize


def test_resizes_are_debounced_and_sent_only_when_the_size_changed() -> None:
    h = Harness()
    sock = h.open()
    fits = h.terminal.fits
    for _ in range(5):
        h.pane.request_fit()
        h.timers.advance(30)
    assert h.terminal.fits == fits
    h.timers.advance(100)
    assert h.terminal.fits == fits + 1
    assert len(sock.sent) == 1  # same size as the handshake: nothing to say
    h.terminal.columns = 120
    h.pane.request_fit()
    h.timers.advance(100)
    assert json.loads(sock.sent[-1][1:]) == {"columns": 120, "rows": 24}
    assert sock.sent[-1][:1] == b"1"


# --------------------------------------------------------------------------------------------------------------------
# Title, preferences, end of session, dispose


def test_title_and_keepalive_preferences() -> None:
    h = Harness()
    sock = h.open()
    sock.server_frame("1bash — main".encode())
    sock.server_frame(b'2{"livepane": {"protocol": 1, "keepalive_ms": 1000}}')
    assert h.view.titles == ["bash — main"]
    h.timers.advance(2600)  # 2.5 keepalives of silence: a drop
    assert sock.closed_with is not None and sock.closed_with[0] == 4000
    assert h.pane.status.state is State.CONNECTING


PREFS_V2 = b'2{"livepane": {"protocol": 2, "keepalive_ms": 10000}}'


def test_protocol_2_frames_reach_the_machine_and_nothing_else() -> None:
    h = Harness()
    sock = h.open()
    assert json.loads(sock.sent[0])["livepane"] == {"protocol": 5}  # the handshake declares what the pane speaks
    sock.server_frame(PREFS_V2)
    assert h.pane.machine.server_protocol == 2
    h.pane.on_data("ls")
    assert h.pane.machine.unacked_bytes == 3
    sock.server_frame(b"81")  # ACK 1
    assert h.pane.machine.unacked_bytes == 0
    sock.server_frame(b"91")  # a probe answer: liveness only
    assert h.terminal.queue == [(FULL_RESET, "barrier")] and h.view.titles == []


def test_a_drain_ends_this_connections_input_and_holds_the_keys_after_it() -> None:
    h = Harness()
    sock = h.open()
    sock.server_frame(PREFS_V2)
    h.pane.on_data("a")
    sock.server_frame(b"7")  # DRAIN: a restart is coming
    h.pane.on_data("b")
    h.pane.on_data("\x1b[>0;276;0c")  # this connection's tmux asked: the reply dies with it
    assert sock.sent[1:] == [b"0a", b"7"]
    assert h.pane.status.held_inputs == 1 and h.pane.stats.replies_dropped == 1


def test_output_before_any_preferences_means_a_plain_server() -> None:
    h = Harness()
    sock = h.open()
    sock.output(b"$ ")
    assert h.pane.machine.server_protocol == 0
    h.pane.on_data("ls")
    assert h.pane.machine.unacked_bytes == 0


def test_input_that_may_not_have_arrived_is_shown() -> None:
    h = Harness()
    sock = h.open()
    sock.server_frame(PREFS_V2)
    h.pane.on_data("rm -rf build\r")
    sock.drop(1006)
    assert h.view.notices == [uncertain_notice(b"rm -rf build\r")]
    assert h.pane.stats.input_uncertain_bytes == 13


def test_set_online_reaches_the_machine() -> None:
    h = Harness()
    sock = h.open()
    h.pane.set_online(False)
    assert h.pane.status.offline and sock.closed_with == (4000, "offline")
    h.pane.set_online(True)
    assert len(h.sockets) == 2 and not h.pane.status.offline


@pytest.mark.parametrize(
    ("code", "reason", "panel"),
    [(1000, "session ended", "session ended"), (4404, "no such session", "no such session")],
)
def test_an_ended_session_is_reported_once_and_never_reopened(code: int, reason: str, panel: str) -> None:
    h = Harness()
    h.open().drop(code, reason)
    assert h.ended == []  # not from inside the close handler
    h.timers.advance(0)
    assert h.ended == [panel]  # an unknown session is not "ended": the page offers to create it
    assert h.pane.status.stop_reason in (StopReason.SESSION_ENDED, StopReason.NO_SUCH_SESSION)
    h.pane.dispose()
    h.timers.advance(60_000)
    assert len(h.sockets) == 1 and h.ended == [panel]


@pytest.mark.parametrize(
    ("code", "reason", "caption"),
    [
        (4401, "", "not authorized: reload the page with the token URL"),
        (4401, "ticket invalid: expired", "ticket invalid: expired"),
        (4403, "origin not allowed: set --public-url, or proxy_set_header Host $http_host",
         "origin not allowed: set --public-url, or proxy_set_header Host $http_host"),
    ],
)
def test_a_refusal_shows_the_servers_reason_or_the_fixed_words_and_stops(code: int, reason: str, caption: str) -> None:
    h = Harness()
    h.open().drop(code, reason)
    h.timers.advance(60_000)
    assert h.caption.text == caption
    assert h.caption.tone is Tone.ERROR
    assert h.ended == [] and len(h.sockets) == 1


def test_dispose_closes_the_socket_and_cancels_every_timer() -> None:
    h = Harness()
    sock = h.open()
    sock.drop()
    h.timers.advance(150)
    h.sock.drop()  # waiting, with a countdown tick armed
    h.pane.request_fit()
    assert h.timers.armed >= 2
    h.pane.dispose()
    h.pane.dispose()
    assert h.timers.armed == 0
    assert h.pane.status.state is State.CLOSED


def test_input_that_may_not_have_arrived_is_quoted_in_a_notice() -> None:
    notice = uncertain_notice(b"echo hi\r\x03\t\x1b[A")
    assert notice.text == "may not have arrived: “echo hi⏎^C⇥⎋[A” (check the screen)"
    assert notice.duration_ms > dropped_notice(1, "x").duration_ms  # it asks the user to look and decide
    long = uncertain_notice(("é" * 100).encode())
    assert "é" * 59 + "…”" in long.text
    assert "\ufffd" in uncertain_notice(b"\xff").text  # a split UTF-8 sequence shows, it does not raise


def test_the_pane_shows_uncertain_input_as_a_notice() -> None:
    h = Harness()
    h.pane._on_input_uncertain(b"ls\r")  # the machine's on_input_uncertain (wired by the machine's side)
    assert h.view.notices == [uncertain_notice(b"ls\r")]
    assert h.pane.stats.input_uncertain_bytes == 3


def test_reply_gate_opens_only_when_connected_and_every_barrier_is_parsed() -> None:
    gate = ReplyGate()
    assert not gate.is_open
    gate.opened()
    assert not gate.is_open
    gate.lost()
    gate.opened()  # two opens, two barriers queued
    gate.barrier_parsed()
    assert not gate.is_open
    gate.barrier_parsed()
    assert gate.is_open
    gate.lost()
    assert not gate.is_open


def _texts(captions: list[CaptionView]) -> list[str]:
    """Caption texts as the user sees them change (hidden = ""), consecutive repeats collapsed."""
    seen: list[str] = []
    for caption in captions:
        text = caption.text if caption.visible else ""
        if not seen or text != seen[-1]:
            seen.append(text)
    return seen


def test_a_restart_window_reads_steadily_then_counts_down_once_it_escalates() -> None:
    h = Harness()
    h.open()
    start = len(h.view.captions) - 1  # from the hidden caption of the open pane
    h.sock.drop(1012, "service restart")
    for _ in range(8):  # the server is still down: fast retries fail inside the window
        h.timers.advance(300)
        h.sock.drop(1006)
    assert _texts(h.view.captions[start:]) == ["", "server restarting…"]  # one change so far
    h.timers.advance(300)
    h.sock.answer()
    assert _texts(h.view.captions[start:]) == ["", "server restarting…", ""]  # at most two per window

    # A server that does not come back within the window: the schedule escalates and the countdown shows.
    start = len(h.view.captions) - 1  # from the hidden caption of the open pane
    h.sock.drop(1012, "service restart")
    for _ in range(60):
        h.timers.advance(300)
        if h.pane.status.phase is Phase.ATTEMPTING:
            h.sock.drop(1006)
    texts = _texts(h.view.captions[start:])
    assert texts[:2] == ["", "server restarting…"]
    assert any(text.startswith("reconnecting in") for text in texts[2:]), texts
    assert "server restarting…" not in texts[2:]  # it never comes back to "restarting" once escalated


# --------------------------------------------------------------------------------------------------------------------
# The wheel (pyclient/wheel.py decides; the pane sends)

PREFS_V3 = b'2{"livepane": {"protocol": 3, "keepalive_ms": 10000}}'
WHEEL_UP = Wheel(delta_y=-100, row_height_px=16.0)  # tmux's alternate screen, tmux's mouse off


def scrolls(sock: FakeSocket) -> list[bytes]:
    return [frame for frame in sock.sent if frame[:1] == SCROLL]


def test_the_wheel_becomes_scroll_frames_to_a_protocol_3_server() -> None:
    h = Harness()
    sock = h.open()
    sock.server_frame(PREFS_V3)
    h.terminal.parse_all()  # the new screen is up
    assert h.pane.on_wheel(WHEEL_UP) is False  # the page takes it: xterm sends no arrows
    assert h.pane.on_wheel(dataclasses.replace(WHEEL_UP, delta_y=-4)) is False  # a fraction: kept, nothing sent
    assert h.pane.on_wheel(dataclasses.replace(WHEEL_UP, delta_y=200)) is False
    assert scrolls(sock) == [b"8-6", b"812"]
    assert h.pane.stats.scroll_frames == 2 and h.pane.stats.scrolled_lines == 18
    assert h.pane.on_wheel(dataclasses.replace(WHEEL_UP, mouse_reports=True)) is True  # mouse on: xterm's


@pytest.mark.parametrize(("prefs", "sent"), [(PREFS_V3, b"8-6"), (PREFS_V3.replace(b"3", b"4", 1), b"8-6 12 3")])
def test_the_cell_under_the_wheel_goes_only_to_a_protocol_4_server(prefs: bytes, sent: bytes) -> None:
    """A protocol-3 server closes 4400 on a scroll with a cell: it gets the plain one (and scrolls the active pane)."""
    h = Harness()
    sock = h.open()
    sock.server_frame(prefs)
    h.terminal.parse_all()
    assert h.pane.on_wheel(dataclasses.replace(WHEEL_UP, cell=Cell(12, 3))) is False
    assert scrolls(sock) == [sent]


@pytest.mark.parametrize("prefs", [b'2{"livepane": {"protocol": 2, "keepalive_ms": 10000}}', None])
def test_a_server_below_protocol_3_never_gets_a_scroll_frame(prefs: bytes | None) -> None:
    h = Harness()
    sock = h.open()
    if prefs is None:
        sock.output(b"$ ")  # a plain ttyd: output, no livepane preferences
    else:
        sock.server_frame(prefs)
    h.terminal.parse_all()
    assert h.pane.on_wheel(WHEEL_UP) is True  # xterm's arrows, as before
    assert scrolls(sock) == []


def test_the_wheel_while_down_sends_and_holds_nothing() -> None:
    h = Harness()
    sock = h.open()
    sock.server_frame(PREFS_V3)
    h.terminal.parse_all()
    sock.drop(1006)
    assert h.pane.on_wheel(WHEEL_UP) is False  # taken, so xterm types no arrows into the held input
    assert h.pane.status.held_inputs == 0
    h.timers.advance(150)
    h.sock.answer()
    assert scrolls(h.sock) == [] and scrolls(sock) == []
