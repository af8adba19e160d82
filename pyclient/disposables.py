"""One disposal idiom for the client: register what you own, dispose it all once, in reverse order.

After xterm.js's ``src/common/Lifecycle.ts`` (``register(disposable)``, ``toDisposable(fn)``). Rules:

- An owner (the reconnect machine, a pane, the browser adapter) keeps one :class:`Disposables` and registers every
  resource it creates: a timer, a JS proxy, a DOM listener, a child object with a ``dispose()``.
- ``dispose()`` runs every registered undo in reverse order, exactly once; a second call does nothing. An undo that
  raises does not stop the others (each runs inside ``try/finally``): one broken proxy must not leak the rest.
- :class:`OneShotTimer` is the one "arm, re-arm, cancel a timeout" helper, over injected ``set_timeout`` /
  ``clear_timeout`` (the browser's, or the fake clock's): no module writes that pattern by hand.

Pure Python, no ``js``: tested under CPython.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Disposable", "Disposables", "OneShotTimer"]


class Disposable(Protocol):
    def dispose(self) -> None: ...


class _Undo:
    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn: Callable[[], Any] | None = fn

    def dispose(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            fn()


class Disposables:
    """A stack of undos owned by one object."""

    def __init__(self) -> None:
        self._items: list[Disposable] = []
        self._disposed = False

    @property
    def disposed(self) -> bool:
        return self._disposed

    def add(self, undo: Callable[[], Any]) -> Disposable:
        """Register a function to call on dispose; returns a handle whose ``dispose()`` runs it early (once)."""
        return self.register(_Undo(undo))

    def register(self, item: Disposable) -> Disposable:
        """Register an object with ``dispose()``. Registering after dispose disposes it at once."""
        if self._disposed:
            item.dispose()
            return item
        self._items.append(item)
        return item

    def dispose(self) -> None:
        if self._disposed:
            return
        self._disposed = True
        items, self._items = self._items, []
        self._dispose_from(items, len(items) - 1)

    def _dispose_from(self, items: list[Disposable], index: int) -> None:
        # Recursion through try/finally: every item is disposed even if one raises; the first error propagates.
        if index < 0:
            return
        try:
            items[index].dispose()
        finally:
            self._dispose_from(items, index - 1)


class OneShotTimer:
    """A timeout that can be armed, re-armed (replacing the pending one) and cancelled; fires at most once per arm."""

    def __init__(
        self,
        set_timeout: Callable[[Callable[[], None], float], Any],
        clear_timeout: Callable[[Any], None],
        callback: Callable[[], None],
    ) -> None:
        self._set_timeout = set_timeout
        self._clear_timeout = clear_timeout
        self._callback = callback
        self._handle: Any = None
        self._generation = 0

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, delay_ms: float) -> None:
        self.cancel()
        self._generation += 1
        generation = self._generation
        self._handle = self._set_timeout(lambda: self._fire(generation), max(0.0, delay_ms))

    def cancel(self) -> None:
        handle, self._handle = self._handle, None
        self._generation += 1  # a timer whose clear came too late is recognised and ignored
        if handle is not None:
            self._clear_timeout(handle)

    def dispose(self) -> None:
        self.cancel()

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._handle = None
        self._callback()
