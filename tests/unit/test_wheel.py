"""The wheel's decisions under CPython (pyclient/wheel.py): who scrolls, and how many lines each event is worth."""

from __future__ import annotations

import dataclasses

import pytest

from pyclient.protocol import MAX_SCROLL_LINES, Cell
from pyclient.wheel import DeltaMode, Owner, Wheel, WheelAccumulator, WheelPolicy, pointer_cell, wheel_owner

ROW_PX = 16.0
TMUX_MOUSE_OFF = Wheel(delta_y=-100, row_height_px=ROW_PX)  # over tmux's alternate screen, no mouse reports asked


@pytest.mark.parametrize(
    ("change", "connected", "server_protocol", "owner"),
    [
        ({}, True, 3, Owner.LIVEPANE),
        ({}, True, 4, Owner.LIVEPANE),  # a later protocol still scrolls
        ({"mouse_reports": True}, True, 3, Owner.XTERM),  # mouse on: xterm reports the wheel, tmux scrolls itself
        ({"shift": True}, True, 3, Owner.XTERM),
        ({"ctrl": True}, True, 3, Owner.XTERM),  # the browser's zoom
        ({"meta": True}, True, 3, Owner.XTERM),
        ({"alt": True}, True, 3, Owner.LIVEPANE),  # faster, still tmux's history
        ({"alternate_screen": False}, True, 3, Owner.XTERM),  # xterm's own scrollback
        ({}, False, None, Owner.NOBODY),  # down: no arrows into the held input
        ({}, True, 0, Owner.XTERM),  # a plain ttyd never gets a SCROLL frame
        ({}, True, 2, Owner.XTERM),  # nor a protocol-2 serve.py, which would close 1003 on it
        ({}, True, None, Owner.XTERM),  # open, preferences not read yet
        ({"mouse_reports": True}, False, None, Owner.XTERM),
    ],
)
def test_who_handles_the_wheel(change: dict, connected: bool, server_protocol: int | None, owner: Owner) -> None:
    wheel = dataclasses.replace(TMUX_MOUSE_OFF, **change)
    assert wheel_owner(wheel, connected=connected, server_protocol=server_protocol) is owner


def pixels(delta_y: float, **change: object) -> Wheel:
    return dataclasses.replace(TMUX_MOUSE_OFF, delta_y=delta_y, **change)


def test_pixels_are_lines_of_one_row_height() -> None:
    acc = WheelAccumulator()
    assert acc.lines(pixels(-100)) == -6  # 6.25 rows up; the quarter is kept
    assert acc.lines(pixels(-100)) == -6  # 12.5 in all: 12 sent
    assert acc.lines(pixels(-8)) == -1  # the kept half and this half make a line
    assert acc.lines(pixels(48)) == 3


def test_a_trackpads_small_deltas_add_up_to_lines() -> None:
    acc = WheelAccumulator()
    sent = [acc.lines(pixels(-4)) for _ in range(40)]  # 160 px in 4 px steps: 10 rows
    assert sum(sent) == -10
    assert set(sent) == {0, -1}  # never more than one line per 4 px event, never lost in rounding


def test_a_change_of_direction_forgets_the_fraction_the_other_way() -> None:
    acc = WheelAccumulator()
    assert acc.lines(pixels(-12)) == 0  # 0.75 up, kept
    assert acc.lines(pixels(8)) == 0  # down now: the 0.75 up is not owed; 0.5 down
    assert acc.lines(pixels(8)) == 1


def test_delta_modes_as_browsers_report_them() -> None:
    assert [DeltaMode.of(value) for value in (0, 1, 2, 7)] == [DeltaMode.PIXEL, DeltaMode.LINE, DeltaMode.PAGE,
                                                              DeltaMode.PIXEL]


def test_line_and_page_deltas() -> None:
    acc = WheelAccumulator()
    assert acc.lines(pixels(-3, delta_mode=DeltaMode.LINE)) == -3  # Firefox: three lines a notch
    assert acc.lines(pixels(1, delta_mode=DeltaMode.PAGE, rows=30)) == 30
    assert acc.lines(pixels(-0.5, delta_mode=DeltaMode.PAGE, rows=30)) == -15


def test_alt_scrolls_faster_and_no_row_height_falls_back() -> None:
    acc = WheelAccumulator()
    assert acc.lines(pixels(-32, alt=True)) == -10  # 2 rows × 5
    policy = WheelPolicy()
    acc = WheelAccumulator(policy)
    assert acc.lines(pixels(-10 * policy.fallback_row_height_px, row_height_px=0.0)) == -10


def test_a_huge_delta_is_clamped_to_one_frames_worth() -> None:
    acc = WheelAccumulator()
    assert acc.lines(pixels(-1e9)) == -MAX_SCROLL_LINES
    assert acc.lines(pixels(float("inf"))) == 0
    assert acc.lines(pixels(float("nan"))) == 0
    assert acc.lines(pixels(0)) == 0


def test_the_cell_under_the_pointer() -> None:
    # An 80×24 screen of 8×16 px cells, measured from its top left.
    assert pointer_cell(0, 0, 640, 384, 80, 24) == Cell(0, 0)
    assert pointer_cell(7.9, 15.9, 640, 384, 80, 24) == Cell(0, 0)
    assert pointer_cell(8, 16, 640, 384, 80, 24) == Cell(1, 1)
    assert pointer_cell(323, 200, 640, 384, 80, 24) == Cell(40, 12)
    assert pointer_cell(640, 384, 640, 384, 80, 24) == Cell(79, 23)  # the far edge: the last cell
    assert pointer_cell(-0.5, 390, 640, 384, 80, 24) == Cell(0, 23)  # a hair outside: the nearest cell
    for unmeasured in ((10, 10, 0, 384, 80, 24), (10, 10, 640, 384, 0, 24), (float("nan"), 10, 640, 384, 80, 24)):
        assert pointer_cell(*unmeasured) is None
