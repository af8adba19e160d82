"""The one disposal idiom: reverse order, exactly once, errors do not leak the rest; the one-shot timer."""

from __future__ import annotations

import pytest
from reconnect_fakes import FakeTimers

from pyclient.disposables import Disposables, OneShotTimer


def test_dispose_runs_undos_in_reverse_order_once() -> None:
    calls: list[str] = []
    bag = Disposables()
    bag.add(lambda: calls.append("first"))
    bag.add(lambda: calls.append("second"))
    bag.dispose()
    bag.dispose()
    assert calls == ["second", "first"]
    assert bag.disposed


def test_an_undo_that_raises_does_not_stop_the_others() -> None:
    calls: list[str] = []
    bag = Disposables()
    bag.add(lambda: calls.append("first"))
    bag.add(lambda: 1 / 0)
    bag.add(lambda: calls.append("third"))
    with pytest.raises(ZeroDivisionError):
        bag.dispose()
    assert calls == ["third", "first"]


def test_a_handle_disposes_early_and_only_once() -> None:
    calls: list[str] = []
    bag = Disposables()
    handle = bag.add(lambda: calls.append("x"))
    handle.dispose()
    bag.dispose()
    assert calls == ["x"]


def test_registering_after_dispose_disposes_at_once() -> None:
    calls: list[str] = []
    bag = Disposables()
    bag.dispose()
    bag.add(lambda: calls.append("late"))
    assert calls == ["late"]


def test_one_shot_timer_fires_once_and_rearming_replaces_it() -> None:
    clock = FakeTimers()
    fired: list[float] = []
    timer = OneShotTimer(clock.set_timeout, clock.clear_timeout, lambda: fired.append(clock.now))
    timer.arm(100)
    timer.arm(300)  # replaces the first
    assert clock.armed == 1
    clock.advance(1000)
    assert fired == [300]
    assert not timer.armed


def test_one_shot_timer_cancel_and_dispose_leave_nothing_armed() -> None:
    clock = FakeTimers()
    fired: list[float] = []
    timer = OneShotTimer(clock.set_timeout, clock.clear_timeout, lambda: fired.append(clock.now))
    timer.arm(100)
    timer.cancel()
    timer.arm(50)
    timer.dispose()
    clock.advance(1000)
    assert fired == []
    assert clock.armed == 0
