"""What the tab says (pyclient/titles.py) under CPython: title, favicon, bell while hidden, which pane it shows."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from pyclient.reconnect import Phase, State, Status
from pyclient.titles import BELL_MARK, FAVICON_COLOURS, Health, TabState, favicon_url, health, tab_title


def test_tab_title() -> None:
    assert tab_title("main", "vim notes.txt") == "main — vim notes.txt"
    assert tab_title("main", "") == "main"
    assert tab_title("main", "main") == "main"  # ttyd's first title frame is the session id itself


@pytest.mark.parametrize(
    ("state", "offline", "expected"),
    [
        (State.OPEN, False, Health.LIVE),
        (State.OPEN, True, Health.WAITING),
        (State.CONNECTING, False, Health.WAITING),
        (State.RECONNECTING, False, Health.WAITING),
        (State.CLOSED, False, Health.ENDED),
    ],
)
def test_health(state: State, offline: bool, expected: Health) -> None:
    assert health(Status(state=state, phase=Phase.IDLE, offline=offline)) is expected


def test_favicon_is_an_inline_svg_with_the_initial_and_health_colour() -> None:
    url = favicon_url("main", Health.LIVE, bell=False)
    assert url.startswith("data:image/svg+xml,")
    svg = unquote(url.removeprefix("data:image/svg+xml,"))
    assert ">M</text>" in svg and FAVICON_COLOURS[Health.LIVE] in svg and "<circle" not in svg
    assert "<circle" in unquote(favicon_url("main", Health.ENDED, bell=True))


def test_the_tab_shows_the_focused_pane_else_the_first() -> None:
    tab = TabState()
    assert tab.look().title == "livepane" and tab.look().icon is None
    tab.mounted("a")
    tab.mounted("b")
    tab.titled("a", "vim")
    tab.titled("b", "htop")
    assert tab.look().title == "a — vim"
    tab.focused("b")
    assert tab.look().title == "b — htop"
    tab.health_is("b", Health.ENDED)
    assert FAVICON_COLOURS[Health.ENDED][1:] in (tab.look().icon or "")
    tab.unmounted("b")
    assert tab.look().title == "a — vim"
    tab.focused("gone")  # never mounted: ignored
    tab.titled("gone", "x")
    assert tab.shown == "a"


def test_a_bell_marks_the_tab_only_while_hidden_until_seen() -> None:
    tab = TabState()
    tab.mounted("a")
    tab.rang(hidden=False)
    assert tab.look().title == "a"  # visible: the pane's header flashes, the tab stays as it is
    tab.rang(hidden=True)
    assert tab.look().title == BELL_MARK + "a" and "circle" in unquote(tab.look().icon or "")
    tab.seen()
    assert tab.look().title == "a"


def test_the_tab_settles_once_a_pane_is_live_or_ended() -> None:
    """Until then the page leaves its tab alone (titles.FIRST_LOOK_MS): a new icon is decoded on the main thread."""
    tab = TabState()
    assert not tab.settled  # nothing mounted
    tab.mounted("a")
    tab.mounted("b")
    assert not tab.settled  # both still connecting
    tab.health_is("b", Health.LIVE)
    assert tab.settled
    tab.health_is("b", Health.WAITING)
    assert not tab.settled  # reconnecting again: nothing settled (the page has written the tab by then anyway)
    tab.health_is("a", Health.ENDED)
    assert tab.settled
    tab.unmounted("a")
    assert not tab.settled
