"""The browser adapter: the only module that imports ``js`` and ``pyodide``.

It turns the browser into what the pure modules are injected with: ``js.WebSocket`` behind a wrapper whose handler
setters own their proxies, ``setTimeout``/``clearTimeout`` with once-callables, ``performance.now``, ``fetch`` for
tickets, xterm.js for :class:`~pyclient.pane.TerminalPort` (:class:`XtermTerminal`) and the DOM for
:class:`~pyclient.pane.ViewPort` (:class:`SlotView`). It also builds the page: one :class:`Slot` per session (cloned
from the one pane template in ``web/index.html``), the session list, ``window.livepane``.

Rules of this file:

- Decisions belong in ``page.py``/``pane.py``/``reconnect.py``; this file only translates (what a ticket answer
  means, which URL to open, what to mount: ``pyclient/page.py``).
- Every URL is built by ``pyclient/page.py`` against ``document.baseURI``: nothing here knows the origin's root.
- Every PyProxy, listener and timer has an owner that registers its undo in a
  :class:`~pyclient.disposables.Disposables`: a mount's die with the mount (in reverse order, each in
  ``try/finally``), the page's live as long as the page. A Python callable handed to JavaScript is never converted
  implicitly (that leaks).
- Output goes from the socket to ``term.write`` as a ``Uint8Array`` view of the message's buffer: no copy into Python.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import js
from pyodide.ffi import create_once_callable, create_proxy, to_js

from . import codecache, fontsize, keybar, keys, page, sessionbar, titles
from .disposables import Disposables, OneShotTimer
from .gate import Admission, HandshakeGate
from .pane import CaptionView, EndedPanel, Notice, Pane
from .protocol import OUTPUT, SUBPROTOCOL, Close
from .reconnect import ReconnectPolicy, Status
from .wheel import SCROLL_HINT, DeltaMode, Wheel, pointer_cell

__all__ = ["main"]

WS_CONNECTING, WS_CLOSED = 0, 3  # WebSocket.readyState values


def _log(message: str) -> None:
    js.console.log(f"livepane: {message}")


def _js_object(value: dict[str, Any]) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def _element(tag: str, class_name: str = "", text: str = "") -> Any:
    el = js.document.createElement(tag)
    if class_name:
        el.className = class_name
    if text:
        el.textContent = text
    return el


# --------------------------------------------------------------------------------------------------------------------
# Proxies, listeners, timers, sockets


class LiveProxies:
    """Page-wide count of PyProxies made by :func:`proxy` and not yet destroyed (``window.livepane.liveProxies``)."""

    count = 0


def proxy(owner: Disposables, fn: Callable[..., Any]) -> Any:
    """A PyProxy of ``fn`` whose ``destroy()`` ``owner`` runs on dispose."""
    made = create_proxy(fn)
    LiveProxies.count += 1

    def destroy() -> None:
        LiveProxies.count -= 1
        made.destroy()

    owner.add(destroy)
    return made


def listen(owner: Disposables, target: Any, event: str, fn: Callable[..., Any]) -> None:
    """``target.addEventListener(event, fn)``; ``owner`` removes it (then destroys its proxy) on dispose."""
    handler = proxy(owner, fn)
    target.addEventListener(event, handler)
    owner.add(lambda: target.removeEventListener(event, handler))


def _dispose_each(items: list[Any]) -> None:
    """Dispose every item, each even if another raises (the registry's own guarantee)."""
    batch = Disposables()
    for item in items:
        batch.register(item)
    batch.dispose()


def subscribe(owner: Disposables, event: Any, fn: Callable[..., Any]) -> None:
    """An xterm.js event (``term.onData`` &c.): its IDisposable is disposed, then the proxy destroyed."""
    owner.register(event(proxy(owner, fn)))


class BrowserTimers:
    """``setTimeout``/``clearTimeout`` for Python callbacks: a once-callable per timer, destroyed if never fired."""

    def __init__(self) -> None:
        self._pending: dict[int, Any] = {}

    def set_timeout(self, callback: Callable[[], None], ms: float) -> int:
        handle = 0

        def fire() -> None:
            self._pending.pop(handle, None)  # a once-callable destroys itself after this call
            callback()

        once = create_once_callable(fire)
        handle = int(js.setTimeout(once, max(0.0, float(ms))))
        self._pending[handle] = once
        return handle

    def clear_timeout(self, handle: int) -> None:
        once = self._pending.pop(handle, None)
        if once is not None:
            js.clearTimeout(handle)
            once.destroy()

    def dispose(self) -> None:
        for handle in list(self._pending):
            self.clear_timeout(handle)

    @property
    def pending(self) -> int:
        return len(self._pending)


def now_ms() -> float:
    # Pyodide's monotonic clock is performance.now() reached from wasm: no JS proxy per call, and the output path
    # asks for the time on every message (the keepalive watchdog).
    return time.monotonic() * 1000.0


class BrowserSocket:
    """A ``js.WebSocket`` behind the interface the reconnect machine uses, started only when the page's gate admits it.

    - The native socket is created once :class:`~pyclient.gate.HandshakeGate` has a slot (at once, unless a herd of
      panes is reconnecting); until then ``readyState`` is CONNECTING and the handlers wait. The slot is given back
      when the handshake ends (open, close, error) or the socket is abandoned.
    - The machine assigns Python callables to ``onopen`` &c. and later sets them to ``None``. Assigning a callable to
      a JS attribute directly would leak a proxy each time, so the native socket gets one proxy per event for its
      whole life, dispatching to whatever handler is current; ``dispose`` destroys them.
    """

    _HANDLERS = ("onopen", "onmessage", "onclose", "onerror")
    _ENDS_HANDSHAKE = ("onopen", "onclose", "onerror")
    live = 0  # sockets not yet closed or disposed, over the page (for tests)

    def __init__(self, url: str, protocol: str, gate: HandshakeGate) -> None:
        self._url = url
        self._protocol = protocol
        self._ws: Any = None
        self._binary_type = "blob"
        self._owned = Disposables()  # the native socket's handler proxies
        self._handlers: dict[str, Any] = {}
        self._disposed = False
        self._admission: Admission | None = None
        BrowserSocket.live += 1
        self._starting = True  # inside gate.request: a failure to start can still be raised to the caller
        try:
            self._admission = gate.request(self._start)
        except Exception:
            self.dispose()
            raise  # the reconnect machine counts a factory that raises as a failed attempt
        finally:
            self._starting = False

    def _start(self, admission: Admission) -> None:
        self._admission = admission  # may run inside gate.request, before it returns
        if self._disposed:
            admission.release()
            return
        try:
            ws = js.WebSocket.new(self._url, self._protocol)
        except Exception as error:  # a malformed URL
            if self._starting:
                raise  # the gate gives the slot back
            # Started later from the queue: the machine's handlers are attached, fail like a broken connection.
            admission.release()
            _log(f"socket: {error}")
            self._dispatch("onclose", SimpleNamespace(code=Close.ABNORMAL, reason=str(error), wasClean=False))
            return
        ws.binaryType = self._binary_type
        for name in self._HANDLERS:
            setattr(ws, name, proxy(self._owned, lambda event, name=name: self._dispatch(name, event)))
            self._owned.add(lambda name=name: setattr(ws, name, None))  # unhooked before its proxy is destroyed
        self._ws = ws

    def _dispatch(self, name: str, event: Any) -> None:
        if name in self._ENDS_HANDSHAKE and self._admission is not None:
            self._admission.release()
        handler = self._handlers.get(name)
        if handler is not None and not self._disposed:
            handler(event)

    def _set(self, name: str, handler: Any) -> None:
        self._handlers[name] = handler
        if handler is None and not any(self._handlers.values()):
            self.dispose()  # the machine unhooked every handler: it is done with this socket

    onopen = property(lambda self: self._handlers.get("onopen"), lambda self, h: self._set("onopen", h))
    onmessage = property(lambda self: self._handlers.get("onmessage"), lambda self, h: self._set("onmessage", h))
    onclose = property(lambda self: self._handlers.get("onclose"), lambda self, h: self._set("onclose", h))
    onerror = property(lambda self: self._handlers.get("onerror"), lambda self, h: self._set("onerror", h))

    @property
    def readyState(self) -> int:  # the browser's camelCase names
        if self._ws is None:
            return WS_CLOSED if self._disposed else WS_CONNECTING
        return int(self._ws.readyState)

    @property
    def binaryType(self) -> str:
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:
        self._binary_type = value
        if self._ws is not None:
            self._ws.binaryType = value

    def send(self, data: bytes) -> None:
        self._ws.send(to_js(data))  # the machine sends only once readyState is OPEN

    def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            if self._ws is not None:
                self._ws.close(code, reason)
        finally:
            self.dispose()

    def dispose(self) -> None:
        """Leave the gate, unhook and destroy every proxy; later events from this socket go nowhere."""
        if self._disposed:
            return
        self._disposed = True
        BrowserSocket.live -= 1
        try:
            if self._admission is not None:
                self._admission.release()
        finally:
            self._owned.dispose()


@functools.cache
def _uint8array() -> Any:
    """The Uint8Array constructor, looked up once (not at import: the memory snapshot cannot hold a JS object)."""
    return js.Uint8Array


def split_frame(data: Any) -> tuple[int, Any, int]:
    """A server message → (kind, payload, nbytes). Output stays a view on the message's buffer.

    Every output frame comes through here: four calls into JS, each a measurable share of the client path."""
    nbytes = int(data.byteLength) - 1
    if nbytes < 0:
        return -1, None, 0
    uint8array = _uint8array()
    kind = int(uint8array.new(data, 0, 1)[0])
    payload = uint8array.new(data, 1)
    if kind == OUTPUT:
        return kind, payload, nbytes
    # Control frames are short; decoded in Python (as TextDecoder would: bad bytes become U+FFFD), so the module
    # holds no JS object and can be imported into the memory snapshot.
    return kind, payload.to_bytes().decode("utf-8", "replace"), nbytes


async def _fetch(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    options: dict[str, Any] = {"method": method, "credentials": "same-origin"}
    if body is not None:
        options["headers"] = {"Content-Type": "application/json"}
        options["body"] = json.dumps(body)
    response = await js.fetch(url, _js_object(options))
    return int(response.status), str(await response.text())


def _base_url() -> str:
    """The page's URL, against which ``pyclient/page.py`` builds every other (a path prefix stays in it)."""
    return str(js.document.baseURI)


# --------------------------------------------------------------------------------------------------------------------
# One session on the page: a Slot (the DOM, cloned from the template) and, while connected, a Mount in it


# When its client exits, tmux clears the screen (ED 2) and leaves the alternate screen (DECRST 1049), and xterm.js
# clears the alternate buffer as it leaves it: the last screen of an ended session would be gone. So the terminal keeps
# the alternate screen's text as it was before its last full erase, and as it was when left.
LEAVE_ALTERNATE_SCREEN = frozenset({47, 1047, 1049})  # DECRST parameters
ERASE_DISPLAY = frozenset({2, 3})  # ED parameters: the whole screen (3: and the scrollback)

def _buffer_text(buffer: Any, top: int, rows: int) -> str:
    lines = []
    for y in range(top, top + rows):
        line = buffer.getLine(y)
        lines.append("" if line is None else str(line.translateToString(True)))
    return "\n".join(lines).rstrip("\n")


class XtermTerminal:
    """The pane's :class:`~pyclient.pane.TerminalPort` over xterm.js: one terminal at the top of its slot's body."""

    def __init__(self, slot: Slot, owned: Disposables) -> None:
        app = slot.app
        # The page's preview of this session (web/preboot.js), if the slot adopted one: its terminal becomes this one,
        # so the live screen replaces the preview in place. Else web/terminal.js makes one (it makes every terminal).
        preview, slot.preview = slot.preview, None
        made = preview if preview is not None else js.livepaneTerminal.create(slot.body)
        self.host, self.term, self.fit_addon = made.host, made.term, made.fit
        # What was typed into the preview ([kind, data], in order), for Mount to replay once; the page's ticket.
        self.recorded: list[tuple[str, str]] = (
            [(str(kind), str(data)) for kind, data in preview.input.to_py()] if preview is not None else []
        )
        self.page_ticket = (str(preview.ticket) or None) if preview is not None else None
        self.adopted = preview is not None  # it shows the preview: the pane hands over from it (Pane preview_shown)
        owned.add(self.host.remove)
        self._pane: Pane | None = None
        self._typed = app.modifiers.typed
        self._left_screen = ""  # the alternate screen as it was when tmux left it (see LEAVE_ALTERNATE_SCREEN)
        self._erased_screen = ""  # the alternate screen as it was before its last full erase
        self._screen_element: Any = None  # xterm's .xterm-screen (rows × row height): the wheel's pixels per line
        header = slot.root.querySelector(".pane-header")
        if header is not None:
            header.title = SCROLL_HINT  # how to scroll back and select, where a hovering user finds it
        # Write callbacks: one proxy each for the mount's life, dispatching to the pane attached below.
        self._parsed = proxy(owned, lambda: self._pane is not None and self._pane.on_parsed())
        self._barrier = proxy(owned, lambda: self._pane is not None and self._pane.on_barrier())
        self._key_handler = proxy(owned, self._on_key)  # destroyed after the terminal that calls it
        owned.add(self.term.dispose)  # before the callbacks' proxies are destroyed (disposal runs in reverse)
        self._term_write = self.term.write  # looked up once: it is called for every output frame
        if app.renderer == page.Renderer.WEBGL:
            try:
                self.term.loadAddon(js.WebglAddon.WebglAddon.new())
            except Exception as error:  # no WebGL2 context here: xterm keeps its DOM renderer
                _log(f"webgl renderer unavailable ({error}); using the DOM renderer")
        leave, erase = _js_object({"prefix": "?", "final": "l"}), _js_object({"final": "J"})
        owned.register(self.term.parser.registerCsiHandler(leave, proxy(owned, self._on_reset_mode)))
        owned.register(self.term.parser.registerCsiHandler(erase, proxy(owned, self._on_erase_display)))
        # The bell (tmux passes a pane's BEL on, per bell-action) flashes the slot; the focused pane is the tab's.
        subscribe(owned, self.term.onBell, lambda *args: slot.ring())
        listen(owned, self.term.textarea, "focus", lambda event: app.tab.focused(slot.session))
        self._spawn = app.spawn  # the clipboard's promise, awaited off the key handler
        self.term.attachCustomKeyEventHandler(self._key_handler)  # copy and paste keys: pyclient/keys.py

    def attach(self, pane: Pane, owned: Disposables) -> None:
        """Route xterm's events and the container's size to ``pane``; ``owned`` undoes it all."""
        self._pane = pane
        typed = self._typed  # the touch key bar's sticky Ctrl/Alt (pyclient/keybar.py); idle, data passes as it is
        subscribe(owned, self.term.onData, lambda data: pane.on_data(typed(str(data))))
        subscribe(owned, self.term.onBinary, pane.on_binary)
        subscribe(owned, self.term.onResize, lambda size: pane.on_resize(size.cols, size.rows))
        observer = js.ResizeObserver.new(proxy(owned, lambda entries, observer: pane.request_fit()))
        observer.observe(self.host)
        owned.add(observer.disconnect)
        self.term.attachCustomWheelEventHandler(proxy(owned, self._on_wheel))
        owned.add(lambda: self.term.attachCustomWheelEventHandler(None))  # unhooked before its proxy is destroyed

    def _on_wheel(self, event: Any) -> bool:
        """xterm's custom wheel handler: the pane decides (pyclient/wheel.py); False means the page took the event."""
        pane = self._pane
        if pane is None:
            return True
        term = self.term
        if self._screen_element is None:
            self._screen_element = term.element.querySelector(".xterm-screen")
        rows = int(term.rows)
        width = height = 0.0
        cell = None
        if self._screen_element:
            box = self._screen_element.getBoundingClientRect()
            width, height = float(box.width), float(box.height)
            x, y = float(event.clientX) - float(box.left), float(event.clientY) - float(box.top)
            cell = pointer_cell(x, y, width, height, int(term.cols), rows)  # the server scrolls the pane under it
        wheel = Wheel(
            delta_y=float(event.deltaY),
            delta_mode=DeltaMode.of(int(event.deltaMode)),
            shift=bool(event.shiftKey),
            ctrl=bool(event.ctrlKey),
            alt=bool(event.altKey),
            meta=bool(event.metaKey),
            mouse_reports=str(term.modes.mouseTrackingMode) != "none",
            alternate_screen=str(term.buffer.active.type) == "alternate",
            row_height_px=height / rows if rows > 0 else 0.0,
            rows=rows,
            cell=cell,
        )
        if pane.on_wheel(wheel):
            return True
        event.preventDefault()  # xterm.js leaves a refused event alone: the page must not scroll either
        return False

    def _on_key(self, event: Any) -> bool:
        """xterm's custom key handler (keydown, keypress, keyup): False keeps the key from xterm. The decision is
        pyclient/keys.py's; a paste is left to the browser, whose paste event goes through xterm to the pane."""
        if not event.ctrlKey:
            return True  # plain typing: one property read
        decision = keys.key_action(
            str(event.key), ctrl=True, shift=bool(event.shiftKey), alt=bool(event.altKey), meta=bool(event.metaKey)
        )
        action = decision.action
        if action is keys.KeyAction.TERMINAL:
            return True
        if event.type == "keydown":
            if action is keys.KeyAction.COPY:
                event.preventDefault()
                self._copy_selection()
            elif action is keys.KeyAction.SEND and self._pane is not None:
                event.preventDefault()
                self._pane.on_data(decision.data)
        return False

    def _copy_selection(self) -> None:
        text = str(self.term.getSelection())
        if not text:
            return
        clipboard = getattr(js.navigator, "clipboard", None)
        if clipboard is None:  # not a secure context (plain http off localhost): xterm's own copy event handler
            js.document.execCommand("copy")
            return

        async def write() -> None:
            try:
                await clipboard.writeText(text)
            except Exception as error:  # no permission, or the page lost focus
                _log(f"copy failed: {error}")

        self._spawn(write())

    def _in_alternate_screen(self, params: Any, wanted: frozenset[int]) -> bool:
        # The parameters first: tmux sends these sequences (e.g. ?25l) on most redraws, and asking xterm for the
        # buffer's type is three calls into JS.
        if not any(isinstance(p, int | float) and int(p) in wanted for p in params):
            return False
        return self.term.buffer.active.type == "alternate"

    def _on_reset_mode(self, params: Any) -> bool:
        """A DECRST: if it leaves the alternate screen, keep its text. Returns False: xterm then handles it as usual."""
        if self._in_alternate_screen(params, LEAVE_ALTERNATE_SCREEN):
            text = self.screen()
            self._left_screen = text if text.strip() else self._erased_screen
        return False

    def _on_erase_display(self, params: Any) -> bool:
        """An ED: before a full erase of the alternate screen, keep its text (tmux's exit erases, then leaves)."""
        if self._in_alternate_screen(params, ERASE_DISPLAY):
            text = self.screen()
            if text.strip():
                self._erased_screen = text
        return False

    # TerminalPort

    def write(self, payload: Any, with_callback: bool) -> None:
        if with_callback:
            self._term_write(payload, self._parsed)
        else:
            self._term_write(payload)

    def write_barrier(self, data: str) -> None:
        self.term.write(data, self._barrier)

    def write_together(self, chunks: list[tuple[Any, bool]]) -> None:
        # One Uint8Array for all (xterm draws between two writes when parsing takes more than its slice), then an
        # empty write per further callback: each one fires once everything before it is parsed.
        sizes = [int(payload.byteLength) for payload, _ in chunks]
        joined, offset = _uint8array().new(sum(sizes)), 0
        for (payload, _), size in zip(chunks, sizes, strict=True):
            joined.set(payload, offset)
            offset += size
        callbacks = sum(1 for _, with_callback in chunks if with_callback)
        if not callbacks:
            self._term_write(joined)
            return
        self._term_write(joined, self._parsed)
        for _ in range(callbacks - 1):
            self._term_write("", self._parsed)

    def fit(self) -> tuple[int, int]:
        if self.host.isConnected and self.host.clientWidth > 0:
            self.fit_addon.fit()
        return int(self.term.cols), int(self.term.rows)

    # For the page

    def screen(self) -> str:
        """The visible rows as text (trailing blanks trimmed)."""
        buffer = self.term.buffer.active
        return _buffer_text(buffer, int(buffer.viewportY), int(self.term.rows))

    def selection(self) -> str:
        """The text selected in xterm.js (what a copy takes)."""
        return str(self.term.getSelection())

    def last_screen(self) -> str:
        """What the user last saw of the session: tmux's screen, even once tmux has left it (its client exited)."""
        if self.term.buffer.active.type == "normal" and self._left_screen:
            return self._left_screen
        return self.screen()


class SlotView:
    """The pane's :class:`~pyclient.pane.ViewPort` over its slot's DOM. Writes nothing once the mount is gone."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.attached = True

    def detach(self) -> None:
        self.attached = False

    def show_status(self, status: Status, opens: int) -> None:
        if not self.attached:
            return
        dataset = self.slot.root.dataset
        dataset.state = status.state.value
        dataset.opens = str(opens)
        dataset.attempts = str(status.attempts)
        dataset.failures = str(status.failures)
        dataset.offline = "true" if status.offline else "false"
        self.slot.app.tab.health_is(self.slot.session, titles.health(status))

    def show_caption(self, caption: CaptionView) -> None:
        if not self.attached:
            return
        slot = self.slot
        slot.root.dataset.stale = "true" if caption.stale else "false"
        slot.caption.hidden = not caption.visible
        slot.caption.dataset.tone = caption.tone.value
        slot.caption_text.textContent = caption.text
        slot.retry_button.hidden = not caption.retry_button

    def show_title(self, title: str) -> None:
        if self.attached:
            self.slot.title.textContent = "" if title == self.slot.session else title
            self.slot.app.tab.titled(self.slot.session, title)

    def show_notice(self, notice: Notice) -> None:
        if self.attached:
            self.slot.show_notice(notice)


class TabView:
    """The browser tab's title and icon, as :class:`~pyclient.titles.TabState` decides them for the page's panes."""

    def __init__(self, owned: Disposables, timers: BrowserTimers) -> None:
        self.state = titles.TabState()
        self._icon = js.document.querySelector('link[rel~="icon"]')
        self._written = False  # nothing is written before a pane settles or titles.FIRST_LOOK_MS passed
        self._first_look = OneShotTimer(timers.set_timeout, timers.clear_timeout, self._first_look_due)
        owned.register(self._first_look)

        def visibility(event: Any) -> None:
            if js.document.visibilityState == "visible":
                self.state.seen()
                self.show()

        listen(owned, js.document, "visibilitychange", visibility)

    def mounted(self, session: str) -> None:
        self.state.mounted(session)
        self.show()

    def unmounted(self, session: str) -> None:
        self.state.unmounted(session)
        self.show()

    def focused(self, session: str) -> None:
        self.state.focused(session)
        self.show()

    def titled(self, session: str, title: str) -> None:
        self.state.titled(session, title)
        self.show()

    def health_is(self, session: str, value: titles.Health) -> None:
        self.state.health_is(session, value)
        self.show()

    def rang(self, *, hidden: bool) -> None:
        self.state.rang(hidden=hidden)
        self.show()

    def _first_look_due(self) -> None:
        self._written = True
        self.show()

    def show(self) -> None:
        if not self._written:
            if not self.state.settled:
                if self.state.shown is not None and not self._first_look.armed:
                    self._first_look.arm(titles.FIRST_LOOK_MS)
                return
            self._written = True
            self._first_look.cancel()
        look = self.state.look()
        if str(js.document.title) != look.title:
            js.document.title = look.title
        if look.icon is not None and self._icon is not None and str(self._icon.href) != look.icon:
            self._icon.href = look.icon


class Mount:
    """One :class:`~pyclient.pane.Pane` mounted in a slot: the pane, its two ports, and everything they own.

    Every proxy, listener, timer, task and socket is registered in ``owned`` as it is made; ``unmount`` disposes them
    all in reverse order (the pane's one intentional close first, the timers last).
    """

    def __init__(self, slot: Slot, *, focus: bool) -> None:
        self.slot = slot
        self.app = app = slot.app
        self.owned = owned = Disposables()
        self.timers = BrowserTimers()
        owned.register(self.timers)
        self.sockets: list[BrowserSocket] = []
        owned.add(lambda: _dispose_each(self.sockets))
        self.tasks: set[asyncio.Task[Any]] = set()
        owned.add(lambda: [task.cancel() for task in list(self.tasks)])
        self.terminal = XtermTerminal(slot, owned)
        self.view = SlotView(slot)
        owned.add(self.view.detach)
        self.pane = Pane(
            session=slot.session,
            terminal=self.terminal,
            view=self.view,
            split_frame=split_frame,
            open_socket=self._open_socket,
            set_timeout=self.timers.set_timeout,
            clear_timeout=self.timers.clear_timeout,
            now_ms=now_ms,
            get_ticket=self._get_ticket,
            policy=app.policy,
            on_ended=lambda pane, panel: slot.ended(panel),
            log=_log,
            first_ticket=app.page_ticket(self.terminal.page_ticket),
            preview_shown=self.terminal.adopted,
            payload_bytes=lambda payload: payload.to_bytes(),
        )
        self.terminal.attach(self.pane, owned)
        owned.register(self.pane)  # disposed first: the machine's close, then the listeners, the terminal, ...
        self.terminal.fit()
        if focus:
            self.terminal.term.focus()
        self.pane.start()
        # Keys typed into the preview, before anything typed from now on (this runs before any other JS event).
        recorded, self.terminal.recorded = self.terminal.recorded, []
        if recorded:
            _log(f"[{slot.session}] {self.pane.replay(recorded)} input events typed before Python was up")
        if not app.online:
            self.pane.set_online(False)

    # Injected into the reconnect machine

    def _open_socket(self, ticket: str | None) -> BrowserSocket:
        url = page.socket_url(_base_url(), self.slot.session, ticket)
        sock = BrowserSocket(url, SUBPROTOCOL, self.app.handshake_gate)
        self.sockets = [s for s in self.sockets if not s._disposed] + [sock]
        return sock

    def _get_ticket(self, resolve: Callable[[str], None], reject: Callable[[BaseException], None]) -> None:
        session = self.slot.session

        async def fetch_ticket() -> None:
            try:
                status, text = await _fetch("POST", page.ticket_url(_base_url()), {"session": session})
            except Exception as error:  # network error (CancelledError is not an Exception)
                reject(page.ticket_network_error(error))
                return
            try:
                ticket = page.ticket(status, text)
            except Exception as refused:
                reject(refused)
                return
            resolve(ticket)

        task = asyncio.ensure_future(fetch_ticket())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # For the page

    def stats(self) -> dict[str, Any]:
        pane, status = self.pane, self.pane.status
        return {
            "state": status.state.value,
            "phase": status.phase.value,
            "attempts": status.attempts,
            "failures": status.failures,
            "retry_at_ms": status.retry_at_ms,
            "close_code": status.close_code,
            "offline": status.offline,
            "restarting": status.restarting,
            "held_inputs": status.held_inputs,
            "opens": pane.stats.opens,
            "columns": int(self.terminal.term.cols),
            "rows": int(self.terminal.term.rows),
            "font_size": int(self.terminal.term.options.fontSize),
            "cursor_x": int(self.terminal.term.buffer.active.cursorX),
            "cursor_y": int(self.terminal.term.buffer.active.cursorY),
            "replies_sent": pane.stats.replies_sent,
            "replies_dropped": pane.stats.replies_dropped,
            "output_bytes": pane.stats.output_bytes,
            "input_dropped_bytes": pane.stats.input_dropped_bytes,
            "input_uncertain_bytes": pane.stats.input_uncertain_bytes,
            "scroll_frames": pane.stats.scroll_frames,
            "scrolled_lines": pane.stats.scrolled_lines,
            "held_bytes": pane.machine.held_bytes,
            "keepalive_ms": pane.machine.keepalive_ms,
            "pending_write_bytes": pane.flow.pending_bytes,
            "pauses": pane.flow.pauses,
            "timers": self.timers.pending,
            "sockets": len([s for s in self.sockets if not s._disposed]),
        }

    def unmount(self) -> None:
        """Close the machine for good and free everything this mount made. Safe to call twice."""
        self.owned.dispose()


class Slot:
    """A session's place on the page, cloned from the pane template. It outlives its mounts: a relaunch (or creating
    an unknown session) mounts a fresh pane into the same slot, and an ended one leaves its last screen there."""

    def __init__(self, app: App, session: str, preview: Any = None) -> None:
        self.app = app
        self.session = session
        self.mount: Mount | None = None
        # A preview (web/preboot.js's take()): its pane is this slot's, its terminal the first mount's.
        self.preview = preview
        self.root = app.pane_template.cloneNode(True) if preview is None else preview.root
        part = self.root.querySelector
        self.root.dataset.session = session
        part(".pane-name").textContent = session
        self.title = part(".pane-title")
        self.notice = part(".pane-notice")
        self.body = part(".pane-body")
        if preview is None:
            part(".pane-term").remove()  # each mount brings its own terminal host
        else:
            self.root.classList.remove("preview")  # Python's pane now: its state and caption say what it is
        self.last_screen = part(".pane-last-screen")
        self.caption = part(".caption")
        self.caption_text = part(".caption-text")
        self.retry_button = part(".retry-now")
        self.relaunch = part(".relaunch")
        self.relaunch_text = part(".relaunch-text")
        self.relaunch_button = part(".relaunch-button")
        # Slot-lifetime: the slot's buttons outlive its mounts; the session bar closes slots (Slot.dispose).
        self.owned = Disposables()
        listen(self.owned, self.relaunch_button, "click", lambda event: self._start_relaunch())
        listen(self.owned, self.retry_button, "click", lambda event: self.mount and self.mount.pane.retry_now())
        self.notice_timer = OneShotTimer(app.timers.set_timeout, app.timers.clear_timeout, self._hide_notice)
        self.owned.register(self.notice_timer)
        self.bells = 0  # rung over the page's life (data-bells); data-bell="true" while the header flashes
        self.bell_timer = OneShotTimer(app.timers.set_timeout, app.timers.clear_timeout, self._bell_done)
        self.owned.register(self.bell_timer)
        app.tab.mounted(session)
        self.owned.add(lambda: app.tab.unmounted(session))  # a pane the session bar closed leaves the tab's title
        self.opens_before = 0  # opens of this slot's earlier mounts (before relaunches)

    def dispose(self) -> None:
        """The pane is closed (the session bar): unmount, free the slot's listeners, leave the page. Safe twice."""
        try:
            if self.mount is not None:
                mount, self.mount = self.mount, None
                mount.unmount()
        finally:
            try:
                self.owned.dispose()
            finally:
                self.root.remove()

    def focus(self) -> None:
        if self.mount is not None:
            self.mount.terminal.term.focus()

    def mount_pane(self, *, focus: bool) -> None:
        self.relaunch.hidden = True
        # A notice about input the ended session dropped stays beside the relaunch panel; a fresh pane starts clean.
        self._hide_notice()
        self.last_screen.hidden = True
        self.last_screen.textContent = ""
        self.mount = Mount(self, focus=focus)

    def ended(self, panel: EndedPanel) -> None:
        """The session is gone: keep its last screen (dimmed), offer the panel's action, unmount the pane."""
        mount, self.mount = self.mount, None
        last = ""
        if mount is not None:
            try:
                last = mount.terminal.last_screen()
            finally:
                self.opens_before += mount.pane.stats.opens
                mount.unmount()
        self.last_screen.textContent = last
        self.last_screen.hidden = not last
        self.caption.hidden = True
        self.relaunch_text.textContent = panel.text
        self.relaunch_button.textContent = panel.action
        self.relaunch_button.disabled = False
        self.relaunch.hidden = False
        self.root.dataset.state = "closed"
        self.root.dataset.stale = "true"

    def show_notice(self, notice: Notice) -> None:
        self.notice.textContent = notice.text
        self.notice.hidden = False
        self.notice_timer.arm(notice.duration_ms)

    def ring(self) -> None:
        """The pane's terminal rang its bell: flash the header; a hidden tab keeps it in its title and icon."""
        self.bells += 1
        self.root.dataset.bells = str(self.bells)
        self.root.dataset.bell = "true"
        self.bell_timer.arm(titles.BELL_FLASH_MS)
        self.app.tab.rang(hidden=js.document.visibilityState != "visible")

    def _bell_done(self) -> None:
        self.root.dataset.bell = "false"

    def _hide_notice(self) -> None:
        self.notice_timer.cancel()
        self.notice.hidden = True

    def _start_relaunch(self) -> None:
        if self.relaunch_button.disabled:
            return
        self.relaunch_button.disabled = True  # now, not in the task: a second click must not mount a second pane
        self.app.spawn(self._relaunch())

    async def _relaunch(self) -> None:
        try:
            status, text = await _fetch("POST", page.session_url(_base_url(), self.session))
        except Exception as error:
            status, text = 0, str(error)
        if self.owned.disposed:
            return  # the pane was closed meanwhile
        if page.created(status):
            self.mount_pane(focus=True)
            return
        reason = page.refusal_reason(text)
        self.relaunch_text.textContent = f"{self.relaunch_button.textContent} failed ({status}): {reason}"
        self.relaunch_button.disabled = False


# --------------------------------------------------------------------------------------------------------------------
# The session bar, its watch on the list, the font size, the touch key bar (decisions: sessionbar.py, fontsize.py,
# keybar.py)


# Each entry button's look: (class, label, title); which an entry has is sessionbar.bar_entries'.
BAR_BUTTONS = {
    sessionbar.Action.BESIDE: ("bar-beside", "+", "open {} beside"),
    sessionbar.Action.CLOSE: ("bar-close", "×", "close the {} pane"),
}


class SessionBar:
    """``<nav id="sessions">``: one entry per session (``sessionbar.bar_entries``), a "new session" field, A−/A+.

    One delegated listener per event for the whole bar (entries are rebuilt on every change, and own nothing)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.nav = js.document.getElementById("sessions")
        bar_part = self.nav.querySelector  # each in index.html's #sessions (tests/unit/test_pane_template.py)
        self.list_el = bar_part(".bar-list")
        self.form = bar_part(".bar-new")
        self.name_input = bar_part(".bar-new-name")
        self.message = bar_part(".bar-message")
        self.listing: sessionbar.Listing | None = None
        self._shown: tuple[tuple[sessionbar.BarEntry, ...], str] | None = None
        listen(app.owned, self.nav, "click", self._on_click)
        listen(app.owned, self.form, "submit", self._on_submit)
        self.nav.hidden = False

    def show_listing(self, listing: sessionbar.Listing | None) -> None:
        if listing is not None:
            self.listing = listing
            self.app.default = listing.default
            self.form.hidden = False  # a server with a session API: new sessions can be made
        self.render()

    def say(self, text: str) -> None:
        self.message.textContent = text
        self.message.hidden = not text

    def render(self) -> None:
        """Rebuild the entries, only when they changed (a click on an entry being replaced would be lost)."""
        search = str(js.window.location.search)
        entries = sessionbar.bar_entries(self.listing, self.app.open_sessions())
        if (entries, search) == self._shown:
            return
        self._shown = (entries, search)
        items = []
        for entry in entries:
            item = _element("span", "bar-entry")
            item.dataset.session = entry.session
            item.dataset.listed = "true" if entry.listed else "false"
            link = _element("a", "bar-open", entry.session)
            link.href = sessionbar.page_search(search, (entry.session,))  # a new tab keeps ?renderer= &c.
            if entry.open:
                link.setAttribute("aria-current", "page")
            if entry.attached:
                link.title = f"{entry.session}: {entry.attached} attached"
            item.appendChild(link)
            for action in entry.actions:
                class_name, label, title = BAR_BUTTONS[action]
                button = _element("button", class_name, label)
                button.type = "button"
                button.dataset.action = action.value
                button.title = title.format(entry.session)
                item.appendChild(button)
            items.append(item)
        self.list_el.replaceChildren(*items)

    def _on_click(self, event: Any) -> None:
        target = event.target
        # A lookup that finds nothing is JavaScript's null (Pyodide's falsy ``jsnull``, not None): tested by truth.
        font = target.closest("[data-font]")
        if font:
            self.app.font.step(int(font.dataset.font))
            return
        entry = target.closest(".bar-entry")
        if not entry:
            return
        session = str(entry.dataset.session)
        button = target.closest("[data-action]")
        if button:
            action = sessionbar.Action(str(button.dataset.action))
        elif target.closest("a"):
            modifiers = {"ctrl": event.ctrlKey, "meta": event.metaKey, "shift": event.shiftKey, "alt": event.altKey}
            if not sessionbar.intercepts_click(int(event.button), **{k: bool(v) for k, v in modifiers.items()}):
                return  # a new tab or window: the browser opens the link
            action = sessionbar.Action.SWITCH
        else:
            return
        event.preventDefault()
        self.app.show(sessionbar.after_action(self.app.open_sessions(), session, action), focus=session)

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        check = sessionbar.check_new_name(str(self.name_input.value))
        if check.error:
            self.say(check.error)
            return
        self.say("")
        self.app.spawn(self._create(check.name))

    async def _create(self, name: str) -> None:
        try:
            status, text = await _fetch("POST", page.session_url(_base_url(), name))
        except Exception as error:
            status, text = 0, str(error)
        if not page.created(status):
            self.say(f"could not create {name} ({status}): {page.refusal_reason(text)}")
            return
        self.name_input.value = ""
        self.app.show(sessionbar.after_action(self.app.open_sessions(), name, sessionbar.Action.SWITCH), focus=name)


class SessionWatcher:
    """Keeps the bar current: ``GET api/sessions?since=<etag>``, held by the server until the list changes
    (``sessionbar.watch_answer`` says what next). Only while the tab is visible: a hidden tab's request is aborted,
    which frees its connection (a browser has 6 per host over HTTP/1.1, shared by every tab)."""

    def __init__(self, app: App, since: str | None) -> None:
        self.app = app
        self.since = since
        self.policy = sessionbar.WatchPolicy()
        self.failures = 0
        self.state = "starting"  # for tests: asking (a request out, held) | waiting | hidden | stopped
        self.requests = 0
        self._controller: Any = None
        self._visible = asyncio.Event()
        self._update_visibility()
        listen(app.owned, js.document, "visibilitychange", lambda event: self._update_visibility())
        app.owned.add(self._abort)
        app.spawn(self._run())

    def _update_visibility(self) -> None:
        if js.document.visibilityState == "visible":
            self._visible.set()
        else:
            self._visible.clear()
            self._abort()

    def _abort(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.abort()

    async def _run(self) -> None:
        while not self.app.owned.disposed:
            if not self._visible.is_set():
                self.state = "hidden"
                await self._visible.wait()
            self.state = "asking"
            self.requests += 1
            url = page.sessions_url(_base_url())
            if self.since is not None:
                url += f"?since={self.since}"
            started = now_ms()
            controller = self._controller = js.AbortController.new()
            try:
                options = {"method": "GET", "credentials": "same-origin", "signal": controller.signal}
                response = await js.fetch(url, _js_object(options))
                status, text = int(response.status), str(await response.text())
            except Exception:  # the network, or aborted because the tab was hidden
                status, text = 0, ""
            finally:
                if self._controller is controller:
                    self._controller = None
            if bool(controller.signal.aborted):
                continue  # hidden: wait until it is visible again, then ask at once
            answer = sessionbar.watch_answer(
                status, text, since=self.since, elapsed_ms=now_ms() - started, failures=self.failures,
                policy=self.policy,
            )
            self.since, self.failures = answer.since, answer.failures
            if answer.listing is not None:
                self.app.bar.show_listing(answer.listing)
            self.app.bar.say(answer.message)
            if answer.next_ms is None:
                self.state = "stopped"
                return
            if answer.next_ms > 0:
                self.state = "waiting"
                await asyncio.sleep(answer.next_ms / 1000.0)


class FontControl:
    """The terminals' font size: the bar's A−/A+, kept in ``localStorage`` (``web/terminal.js`` reads it for every
    new terminal); a change applies to every pane, which refits and sends its new size through the resize path."""

    def __init__(self, app: App) -> None:
        self.app = app
        try:
            self.size = fontsize.stored(js.localStorage.getItem(fontsize.STORAGE_KEY))
        except Exception:  # storage refused (a sandboxed frame)
            self.size = fontsize.DEFAULT_PX
        self._show_as_text()

    def step(self, direction: int) -> None:
        self.size = fontsize.step(self.size, direction)
        try:
            js.localStorage.setItem(fontsize.STORAGE_KEY, str(self.size))
        except Exception as error:
            _log(f"cannot keep the font size: {error}")
        self._show_as_text()
        for mount in self.app.mounts():
            mount.terminal.term.options.fontSize = self.size
            mount.pane.request_fit()

    def _show_as_text(self) -> None:
        """The size for what shows a screen as text (a pane's last screen): web/livepane.css reads the variable."""
        js.document.documentElement.style.setProperty(fontsize.CSS_VARIABLE, fontsize.css_value(self.size))


class KeyBarView:
    """``#keybar`` on touch screens: Ctrl/Alt (sticky, ``keybar.Modifiers``) and the keys of ``keybar.KEYS``, typed
    into the focused pane's input path. A press keeps the focus (and the soft keyboard) on the terminal."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.el = js.document.getElementById("keybar")
        app.modifiers.on_change = self._show_state
        coarse = bool(js.window.matchMedia("(pointer: coarse)").matches)
        if not self.el or not keybar.shows_key_bar(coarse_pointer=coarse):
            return
        buttons = []
        for modifier in keybar.Modifier:
            button = _element("button", "key key-mod", modifier.value.capitalize())
            button.dataset.mod = modifier.value
            button.setAttribute("aria-pressed", "false")
            buttons.append(button)
        for key in keybar.KEYS.values():
            button = _element("button", "key", key.label)
            button.dataset.key = key.name
            buttons.append(button)
        for button in buttons:
            button.type = "button"
        self.el.replaceChildren(*buttons)
        keep_focus = lambda event: event.preventDefault()  # noqa: E731 - the terminal keeps the focus
        listen(app.owned, self.el, "pointerdown", keep_focus)
        listen(app.owned, self.el, "mousedown", keep_focus)
        listen(app.owned, self.el, "click", self._on_click)
        self.el.hidden = False

    def _on_click(self, event: Any) -> None:
        button = event.target.closest("button")
        if not button:
            return
        modifiers = self.app.modifiers
        modifier, key = button.getAttribute("data-mod"), button.getAttribute("data-key")  # jsnull when absent
        if modifier:
            modifiers.tap(keybar.Modifier(str(modifier)))
            return
        if not key:
            return
        mount = self.app.input_mount()
        if mount is None:
            return
        application = bool(mount.terminal.term.modes.applicationCursorKeysMode)
        mount.pane.on_data(modifiers.press(str(key), application_cursor=application))
        mount.terminal.term.focus()

    def _show_state(self, state: keybar.ModState) -> None:
        if not self.el:
            return
        for button in self.el.querySelectorAll("[data-mod]"):
            armed = (str(button.dataset.mod) == "ctrl" and state in keybar.CTRL_STATES) or (
                str(button.dataset.mod) == "alt" and state in keybar.ALT_STATES
            )
            button.setAttribute("aria-pressed", "true" if armed else "false")


# --------------------------------------------------------------------------------------------------------------------
# The page


def _pane_template(placeholder: Any) -> Any:
    """The one pane template: index.html's placeholder (drawn before Python is up) is its first instance."""
    template = placeholder.cloneNode(True)
    template.classList.remove("placeholder")
    return template


class App:
    """The page: one slot per open session, side by side, on one Pyodide runtime; the session bar above them."""

    def __init__(self) -> None:
        self.query = page.page_query(str(js.window.location.search))
        self.renderer = self.query.renderer
        self.slots: dict[str, Slot] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.owned = Disposables()  # the page's own proxies, listeners and timers: live as long as the page
        self.owned.add(lambda: _dispose_each(list(self.slots.values())))
        self.timers = BrowserTimers()
        self.owned.register(self.timers)
        self.policy = ReconnectPolicy()
        self.handshake_gate = HandshakeGate()  # one for the page (GatePolicy): see gate.py
        self.tab = TabView(self.owned, self.timers)  # the tab's title and icon (pyclient/titles.py)
        self.online = bool(js.navigator.onLine)
        self.panes_el = js.document.getElementById("panes")
        # web/preboot.js takes the placeholder out of the page while previews stand in its place, and keeps it.
        preboot = getattr(js.globalThis, "livepanePreboot", None)
        self.placeholder = self.panes_el.querySelector("section.pane.placeholder") or (
            preboot.template if preboot is not None else None
        )
        self.pane_template = _pane_template(self.placeholder)
        self.modifiers = keybar.Modifiers()  # the touch key bar's Ctrl/Alt, applied to what every pane types
        self.default: str | None = None  # the server's default session (what `/` opens), once a listing said it
        self.active: str | None = None  # the pane last focused: where the key bar types
        self._page_tickets = (0.0, 0.0)  # the page's tickets' (ttl_ms, requestStart ms): see _take_previews

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def mounts(self) -> list[Mount]:
        return [slot.mount for slot in self.slots.values() if slot.mount is not None]

    def open_sessions(self) -> tuple[str, ...]:
        return tuple(self.slots)

    def input_mount(self) -> Mount | None:
        target = sessionbar.input_target(self.active, self.open_sessions())
        return None if target is None else self.slots[target].mount

    async def run(self) -> None:
        self._expose()
        if self.renderer == page.Renderer.WEBGL:
            try:
                await self._load_script(js.document.querySelector('meta[name="livepane-webgl-addon"]').content)
            except Exception as error:
                _log(f"cannot load the webgl addon ({error}); using the DOM renderer")
                self.renderer = js.window.livepane.renderer = page.Renderer.DOM
        self.font = FontControl(self)
        self.bar = SessionBar(self)
        self.key_bar = KeyBarView(self)
        listing = None
        preboot = getattr(js.globalThis, "livepanePreboot", None)
        previewed = tuple(str(s) for s in preboot.sessions()) if preboot is not None else ()
        sessions, wait_for_list = page.mount_at_once(self.query.sessions, previewed)
        listed = None
        if wait_for_list:
            sessions, listing = await self._list_sessions()
        elif not self.query.sessions:
            listed = asyncio.ensure_future(self._list_sessions())  # while the previewed panes connect
        previews = self._take_previews(list(sessions))
        self.show(sessions, focus=sessions[0] if sessions else None, push=False, previews=previews)
        if listed is not None:
            wanted, listing = await listed
            if wanted and wanted != sessions:  # the server's default changed since it served the page
                self.show(wanted, focus=wanted[0], push=False)
        self.bar.show_listing(listing)
        # A `/` page already has the list: its watch waits for a change; a `?session=` page asks at once.
        self.watcher = SessionWatcher(self, since=listing.etag if listing is not None else None)
        self._listen_to_the_browser()
        js.window.livepane.ready = True

    def show(
        self, wanted: tuple[str, ...], *, focus: str | None, push: bool = True, previews: dict[str, Any] | None = None
    ) -> None:
        """Make the page's panes ``wanted`` (closing the others, opening the new ones after the kept ones), focus
        ``focus``, and (``push``) record it in the URL and the history, so it is shareable and Back returns.
        ``previews``: the panes web/preboot.js painted before Python (``_take_previews``), adopted by their slots."""
        if not wanted:
            return  # else the placeholder stays, saying why
        closing, opening = sessionbar.plan(self.open_sessions(), wanted)
        previews = previews or {}
        if not self.slots:
            # The placeholder goes with the first pane. An adopted preview stays where preboot put it: taking a
            # terminal's element out of the page and back makes xterm lay out and draw all of it again.
            kept = [preview.root for preview in previews.values()]
            for child in list(self.panes_el.children):
                if not any(child.isSameNode(root) for root in kept):
                    child.remove()
        for session in closing:
            self.slots.pop(session).dispose()
        for session in opening:
            slot = Slot(self, session, previews.get(session))
            self.slots[session] = slot
            self._place(slot.root, len(self.slots) - 1)
            slot.mount_pane(focus=session == focus)
        if focus in self.slots:
            self.active = focus
            if focus not in opening:
                self.slots[focus].focus()
        if push:
            search = sessionbar.page_search(str(js.window.location.search), self.open_sessions())
            if search != str(js.window.location.search):
                js.window.history.pushState(None, "", search)
        self.bar.render()

    def _place(self, root: Any, index: int) -> None:
        """Put a slot's root at ``index`` among the panes; one already there (an adopted preview) is not moved."""
        current = self.panes_el.children.item(index)
        if not current or not current.isSameNode(root):
            self.panes_el.insertBefore(root, current or None)

    def _take_previews(self, sessions: list[str]) -> dict[str, Any]:
        """The previews web/preboot.js painted: the mounted sessions' are adopted (returned), the others removed
        (pyclient/page.py ``preview_plan``); every recorder stops here."""
        preboot = getattr(js.globalThis, "livepanePreboot", None)
        if preboot is None:
            return {}
        plan = page.preview_plan([str(s) for s in preboot.sessions()], sessions)
        self._page_tickets = (float(preboot.ticketTtlMs), float(preboot.requestStartMs))
        taken = {session: preboot.take(session) for session in (*plan.adopt, *plan.discard)}
        for session in plan.discard:
            preview = taken.pop(session)
            if preview is None:
                continue
            _log(f"[{session}] preview dropped: the page does not open it ({len(preview.input)} input events)")
            preview.term.dispose()
            preview.root.remove()
        if plan.show_placeholder and not self.placeholder.isConnected:
            self.panes_el.prepend(self.placeholder)
        return {session: preview for session, preview in taken.items() if preview is not None}

    def page_ticket(self, ticket: str | None) -> str | None:
        """A ticket the page carried, if a first socket may still use it (pyclient/page.py ``page_ticket``)."""
        if ticket is None:
            return None
        ttl_ms, request_start_ms = self._page_tickets
        return page.page_ticket(ticket, ttl_ms, request_start_ms, float(js.performance.now()))

    async def _list_sessions(self) -> tuple[tuple[str, ...], sessionbar.Listing | None]:
        """No ``?session=``: the server's list decides what opens (``page.session_list``) and fills the bar."""
        try:
            status, text = await _fetch("GET", page.sessions_url(_base_url()))
        except Exception as error:
            status, text = 0, ""
            _log(f"listing sessions failed: {error}")
        listed = page.session_list(status, text)
        if listed.message:
            self._placeholder_message(listed.message)
        return listed.mount, sessionbar.listing_of(status, text)

    def _placeholder_message(self, text: str) -> None:
        caption = self.placeholder.querySelector(".caption")
        caption.querySelector(".caption-text").textContent = text
        caption.dataset.tone = "error"

    async def _load_script(self, src: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        element = js.document.createElement("script")
        owned = Disposables()
        element.onload = proxy(owned, lambda event: done.done() or done.set_result(None))
        element.onerror = proxy(owned, lambda event: done.done() or done.set_exception(RuntimeError(src)))
        owned.add(lambda: setattr(element, "onload", None))  # unhooked before their proxies are destroyed
        owned.add(lambda: setattr(element, "onerror", None))
        element.src = src
        js.document.head.appendChild(element)
        try:
            await done
        finally:
            owned.dispose()

    def _listen_to_the_browser(self) -> None:
        """Online/offline go to every pane; tab visible again or page restored from the back/forward cache: retry
        every pane at once."""

        def set_online(event: Any) -> None:
            self.online = event.type == "online"
            for mount in self.mounts():
                mount.pane.set_online(self.online)
                if self.online:
                    mount.pane.retry_now()  # the network came back, whether or not we saw it leave: try at once

        def retry_all(event: Any) -> None:
            if event.type == "visibilitychange" and js.document.visibilityState != "visible":
                return
            for mount in self.mounts():
                mount.pane.retry_now()

        def back_or_forward(event: Any) -> None:
            wanted = sessionbar.wanted_from_search(str(js.window.location.search), self.default)
            self.show(wanted, focus=wanted[0] if wanted else None, push=False)

        def focused(event: Any) -> None:
            pane = event.target.closest("section.pane")
            session = pane.getAttribute("data-session") if pane else None
            if session:
                self.active = str(session)

        listen(self.owned, js.window, "popstate", back_or_forward)
        listen(self.owned, self.panes_el, "focusin", focused)
        listen(self.owned, js.window, "online", set_online)
        listen(self.owned, js.window, "offline", set_online)
        listen(self.owned, js.window, "pageshow", retry_all)
        listen(self.owned, js.document, "visibilitychange", retry_all)

    def _expose(self) -> None:
        """``window.livepane``: what tests and benchmarks read."""

        def mount_of(session: Any) -> Mount | None:
            slot = self.slots.get(str(session))
            return None if slot is None else slot.mount

        def screen(session: Any) -> str:
            mount = mount_of(session)
            return "" if mount is None else mount.terminal.screen()

        def selection(session: Any) -> str:
            mount = mount_of(session)
            return "" if mount is None else mount.terminal.selection()

        def stats(session: Any) -> Any:
            slot = self.slots.get(str(session))
            if slot is None:
                return None
            dataset = slot.root.dataset
            values: dict[str, Any] = {
                "state": str(dataset.state),
                "mounted": slot.mount is not None,
                "stale": str(dataset.stale) == "true",
            }
            if slot.mount is not None:
                values.update(slot.mount.stats())
            values["opens_total"] = slot.opens_before + values.get("opens", 0)
            return _js_object(values)

        def retry_now(session: Any) -> None:
            mount = mount_of(session)
            if mount is not None:
                mount.pane.retry_now()

        def sessions() -> Any:
            return to_js(list(self.slots))

        def live_sockets() -> int:
            return BrowserSocket.live

        def live_proxies() -> int:
            return LiveProxies.count

        def session_watch() -> Any:
            watcher = getattr(self, "watcher", None)
            if watcher is None:
                return _js_object({"state": "none", "requests": 0})
            return _js_object({"state": watcher.state, "requests": watcher.requests})

        def code_cache() -> Any:
            cache = codecache.installed()
            if cache is None:
                return _js_object({"entries": 0})
            counts = {"entries": len(cache), "hits": cache.hits, "misses": cache.misses, "unused": cache.unused()}
            return _js_object(counts)

        api = js.Object.new()
        api.ready = False
        api.renderer = self.renderer
        api.screen = proxy(self.owned, screen)
        api.stats = proxy(self.owned, stats)
        api.selection = proxy(self.owned, selection)
        api.retryNow = proxy(self.owned, retry_now)
        api.sessions = proxy(self.owned, sessions)
        api.liveSockets = proxy(self.owned, live_sockets)
        api.liveProxies = proxy(self.owned, live_proxies)
        api.codeCache = proxy(self.owned, code_cache)
        api.sessionWatch = proxy(self.owned, session_watch)
        js.window.livepane = api


async def main() -> None:
    await App().run()
