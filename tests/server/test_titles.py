"""The title watcher (livepane_server/titles.py): one tmux command for every watcher, only while watched."""

from __future__ import annotations

import asyncio

from support import async_wait_until

from livepane_server.titles import TITLE_FORMAT, TitleWatcher


class FakeTmux:
    """`tmux list-sessions -F TITLE_FORMAT`, answered from a dict."""

    def __init__(self) -> None:
        self.titles = {"a": "bash", "b": "vim"}
        self.calls = 0

    async def run(self, *args: str) -> tuple[int, str]:
        assert args == ("list-sessions", "-F", TITLE_FORMAT)
        self.calls += 1
        return 0, "".join(f"{name}\t{title}\n" for name, title in self.titles.items())


async def collect(watcher: TitleWatcher, session: str, into: list[str]) -> None:
    async for title in watcher.titles(session):
        into.append(title)


async def test_watchers_get_the_title_then_each_change_and_polling_stops_with_them() -> None:
    tmux = FakeTmux()
    watcher = TitleWatcher(tmux.run, interval_s=0.01)
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
    await async_wait_until(lambda: watcher._poller is not None and watcher._poller.done(), what="the poller to end")
    assert tmux.calls <= calls + 1  # at most the poll already under way when the last watcher left
