"""The title watcher (livepane_server/titles.py) on the shared session poll (livepane_server/poll.py): one poll for
every watcher, only while watched."""

from __future__ import annotations

import asyncio

from support import async_wait_until

from livepane_server.poll import SessionPoll, SessionRow
from livepane_server.titles import TitleWatcher


class FakeTmux:
    """`tmux list-sessions -F SESSIONS_FORMAT`, answered from a dict of titles."""

    def __init__(self) -> None:
        self.titles = {"a": "bash", "b": "vim"}
        self.calls = 0

    async def session_rows(self) -> list[SessionRow]:
        self.calls += 1
        return [SessionRow(name, 0, 80, 24, True, title) for name, title in self.titles.items()]


async def collect(watcher: TitleWatcher, session: str, into: list[str]) -> None:
    async for title in watcher.titles(session):
        into.append(title)


async def test_watchers_get_the_title_then_each_change_and_polling_stops_with_them() -> None:
    tmux = FakeTmux()
    poll = SessionPoll(tmux.session_rows, interval_s=0.01)
    watcher = TitleWatcher(poll)
    a1: list[str] = []
    a2: list[str] = []
    b: list[str] = []
    tasks = [asyncio.create_task(collect(watcher, s, into)) for s, into in (("a", a1), ("a", a2), ("b", b))]
    await async_wait_until(lambda: a1 == ["bash"] and a2 == ["bash"] and b == ["vim"], what="the first titles")
    tmux.titles["a"] = "my title"
    await async_wait_until(lambda: a1 == ["bash", "my title"] == a2, what="the change, once, to both")
    assert b == ["vim"]  # nothing new for b
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    calls = tmux.calls
    await async_wait_until(lambda: poll._poller is not None and poll._poller.done(), what="the poll to end")
    assert tmux.calls <= calls + 1  # at most the poll already under way when the last watcher left


async def test_a_watcher_joining_a_running_poll_gets_the_title_at_once() -> None:
    """The poll runs for someone else (the session bar): a new watcher's first title is the poll's last, not one
    interval later."""
    tmux = FakeTmux()
    poll = SessionPoll(tmux.session_rows, interval_s=30.0)
    bar: list[int] = []
    first = poll.listen(lambda rows: bar.append(len(rows)))
    await first
    assert bar == [2] and tmux.calls == 1
    titles: list[str] = []
    task = asyncio.create_task(collect(TitleWatcher(poll), "b", titles))
    await async_wait_until(lambda: titles == ["vim"], what="the title from the last poll")
    assert tmux.calls == 1  # no command of its own
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await poll.close()
    assert poll._poller is not None and poll._poller.done()


async def test_the_poll_runs_while_the_bar_or_a_title_listens_and_stops_when_neither_does() -> None:
    tmux = FakeTmux()
    poll = SessionPoll(tmux.session_rows, interval_s=0.01)
    bar: list[int] = []

    def on_bar(rows: list[SessionRow]) -> None:
        bar.append(len(rows))

    await poll.listen(on_bar)
    titles: list[str] = []
    task = asyncio.create_task(collect(TitleWatcher(poll), "a", titles))
    await async_wait_until(lambda: titles == ["bash"], what="the title")
    poll.unlisten(on_bar)  # the bar's last watcher left: the titles keep the poll going
    calls = tmux.calls
    await async_wait_until(lambda: tmux.calls >= calls + 3, what="polls for the titles alone")
    heard = len(bar)
    tmux.titles["a"] = "later"
    await async_wait_until(lambda: titles == ["bash", "later"], what="a change with the bar gone")
    assert len(bar) == heard  # nothing more handed to a listener that left
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await async_wait_until(lambda: poll._poller is not None and poll._poller.done(), what="the poll to end")
    calls = tmux.calls
    await poll.listen(on_bar)  # a new listener starts it again, and is polled for at once
    assert tmux.calls == calls + 1
    poll.unlisten(on_bar)
    await poll.close()
