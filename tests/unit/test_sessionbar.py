"""The session bar's decisions (pyclient/sessionbar.py), under CPython."""

from __future__ import annotations

import json

import pytest

from pyclient.sessionbar import (
    Action,
    BarEntry,
    Listing,
    WatchPolicy,
    after_action,
    bar_entries,
    check_new_name,
    input_target,
    intercepts_click,
    listing_of,
    page_search,
    plan,
    wanted_from_search,
    watch_answer,
)

POLICY = WatchPolicy()
ETAG = "0123456789abcdef"


def body(sessions: list[object], default: str = "main", etag: str | None = ETAG) -> str:
    listing: dict[str, object] = {"default": default, "sessions": sessions}
    if etag is not None:
        listing["etag"] = etag
    return json.dumps(listing)


def test_a_listing_keeps_valid_ids_in_order_with_their_attached_counts() -> None:
    text = body([{"id": "b", "attached": 2}, {"id": "bad id"}, {"id": "a", "attached": True}, "junk", {"id": "b"}])
    assert listing_of(200, text) == Listing("main", ("b", "a"), (2, 0), ETAG)
    assert listing_of(200, body([], etag=None)).etag is None
    for status, text in ((500, body([])), (200, "not json"), (200, "[]"), (200, '{"sessions": 3}')):
        assert listing_of(status, text) is None


def test_the_bar_lists_the_servers_sessions_then_the_open_ones_it_does_not_list() -> None:
    listing = Listing("main", ("main", "b"), (1, 0), ETAG)
    assert bar_entries(listing, ("b", "new")) == (
        BarEntry("main", False, True, 1, (Action.BESIDE,)),
        BarEntry("b", True, True, 0, (Action.CLOSE,)),
        BarEntry("new", True, False, 0, (Action.CLOSE,)),
    )
    # One pane open: it cannot be closed (a page shows at least one).
    assert bar_entries(None, ("x",)) == (BarEntry("x", True, False, 0, ()),)


@pytest.mark.parametrize(
    ("before", "session", "action", "after"),
    [
        (("a", "b"), "c", Action.SWITCH, ("c",)),
        (("a",), "a", Action.SWITCH, ("a",)),
        (("a",), "b", Action.BESIDE, ("a", "b")),
        (("a", "b"), "b", Action.BESIDE, ("a", "b")),
        (("a", "b"), "a", Action.CLOSE, ("b",)),
        (("a",), "a", Action.CLOSE, ("a",)),  # a page keeps one pane
        (("a", "b"), "c", Action.CLOSE, ("a", "b")),
    ],
)
def test_each_action_maps_the_open_panes_to_the_next(before, session, action, after) -> None:
    assert after_action(before, session, action) == after


def test_only_a_plain_left_click_is_the_pages_the_others_are_the_browsers() -> None:
    plain = {"ctrl": False, "meta": False, "shift": False, "alt": False}
    assert intercepts_click(0, **plain)
    assert not intercepts_click(1, **plain)  # middle: a new tab
    for key in plain:
        assert not intercepts_click(0, **{**plain, key: True})


def test_a_plan_keeps_what_stays_and_adds_after_it() -> None:
    assert plan(("a", "b"), ("b", "c")) == (("a",), ("c",))
    assert plan((), ("a",)) == ((), ("a",))


def test_the_url_is_the_open_panes_and_keeps_other_parameters() -> None:
    assert page_search("", ("a",)) == "?session=a"
    assert page_search("?session=x&renderer=webgl", ("a", "b")) == "?session=a&session=b&renderer=webgl"
    assert wanted_from_search("?session=a&session=b&session=a", "main") == ("a", "b")
    assert wanted_from_search("", "main") == ("main",)
    assert wanted_from_search("?session=bad%20id", None) == ()


def test_input_goes_to_the_focused_pane_or_the_first() -> None:
    assert input_target("b", ("a", "b")) == "b"
    assert input_target("gone", ("a", "b")) == "a"
    assert input_target(None, ()) is None


def test_a_new_name_is_checked_as_the_server_does() -> None:
    assert check_new_name("  work-2 ").name == "work-2"
    assert check_new_name("").error
    for bad in ("a b", "x" * 65, "dot.ted", "é"):
        check = check_new_name(bad)
        assert check.name == "" and "session name" in check.error


def test_a_changed_listing_is_shown_and_watched_again_at_once() -> None:
    answer = watch_answer(200, body([{"id": "a"}]), since="f" * 16, elapsed_ms=10, failures=3, policy=POLICY)
    assert answer.listing is not None and answer.listing.sessions == ("a",)
    assert (answer.next_ms, answer.since, answer.failures, answer.message) == (0.0, ETAG, 0, "")


def test_an_unchanged_answer_that_was_not_held_waits_instead_of_spinning() -> None:
    held = watch_answer(200, body([]), since=ETAG, elapsed_ms=25_000, failures=0, policy=POLICY)
    quick = watch_answer(200, body([]), since=ETAG, elapsed_ms=5, failures=0, policy=POLICY)
    plain = watch_answer(200, body([], etag=None), since=None, elapsed_ms=5, failures=0, policy=POLICY)
    assert held.next_ms == 0.0
    assert quick.next_ms == POLICY.plain_poll_ms
    assert (plain.next_ms, plain.since) == (POLICY.plain_poll_ms, None)


def test_failures_wait_on_a_growing_schedule_and_401_or_501_stop() -> None:
    delays = []
    failures = 0
    for _ in range(7):
        answer = watch_answer(503, "down", since=ETAG, elapsed_ms=1, failures=failures, policy=POLICY)
        delays.append(answer.next_ms)
        failures = answer.failures
        assert answer.listing is None and answer.since == ETAG and "(503)" in answer.message
    assert delays == [1_000, 2_000, 5_000, 10_000, 30_000, 30_000, 30_000]
    assert watch_answer(0, "", since=None, elapsed_ms=1, failures=0, policy=POLICY).message == (
        "session list unavailable"
    )
    assert watch_answer(400, "bad", since=ETAG, elapsed_ms=1, failures=0, policy=POLICY).since is None
    unauthorized = watch_answer(401, "no", since=ETAG, elapsed_ms=1, failures=0, policy=POLICY)
    assert unauthorized.next_ms is None and "not authorized" in unauthorized.message
    assert watch_answer(501, "", since=None, elapsed_ms=1, failures=0, policy=POLICY).next_ms is None
