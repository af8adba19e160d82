"""The browser adapter: the only module that imports ``js`` and ``pyodide``.

It turns the browser into what the pure modules are injected with: ``js.WebSocket`` behind a wrapper whose handler
setters own their proxies, ``setTimeout``/``clearTimeout`` with once-callables, ``performance.now``, ``fetch`` for
tickets, xterm.js for :class:`~pyclient.pane.TerminalPort` and the DOM for :class:`~pyclient.pane.ViewPort`. It also
builds the page (one slot per session, the session list, ``window.livepane``).

Rules of this file:

- Decisions belong in ``pane.py``/``reconnect.py``; this file only translates.
- Every PyProxy has an owner that destroys it: a pane's proxies die with the pane (``try/finally``), the page's
  live as long as the page. A Python callable handed to JavaScript is never converted implicitly (that leaks).
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

from . import codecache
from .gate import Admission, HandshakeGate
from .pane import CaptionView, Pane, sessions_from_query
from .protocol import OUTPUT, SESSION_ID_RE, SUBPROTOCOL, Close
from .reconnect import ReconnectPolicy, Status, TicketRefused

__all__ = ["main"]

NOTICE_MS = 6000  # how long a "typing not sent" notice stays up
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


def _xterm_style_sheet() -> Any:
    """xterm.css (loaded by the page) as a constructed sheet that every pane's shadow root adopts."""
    sheet = js.CSSStyleSheet.new()
    link = js.document.querySelector('link[rel="stylesheet"][href$="/css/xterm.css"]')
    rules = link.sheet.cssRules if link is not None and link.sheet is not None else []
    css = [str(rule.cssText) for rule in rules]
    if not css:
        _log("xterm.css is not loaded: the terminals will look wrong")
    css.append(".term-root { position: absolute; inset: 0; }")
    sheet.replaceSync("\n".join(css))
    return sheet


# --------------------------------------------------------------------------------------------------------------------
# Proxies, timers, sockets


class Proxies:
    """Owns PyProxies: ``destroy_all`` in a ``finally`` frees every one still alive."""

    def __init__(self) -> None:
        self._live: list[Any] = []

    def proxy(self, fn: Callable[..., Any]) -> Any:
        proxy = create_proxy(fn)
        self._live.append(proxy)
        return proxy

    def destroy_all(self) -> None:
        live, self._live = self._live, []
        for proxy in live:
            proxy.destroy()


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
        self._proxies: list[Any] = []
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
            proxy = create_proxy(lambda event, name=name: self._dispatch(name, event))
            self._proxies.append(proxy)
            setattr(ws, name, proxy)
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
        if self._admission is not None:
            self._admission.release()
        if self._ws is not None:
            for name in self._HANDLERS:
                setattr(self._ws, name, None)
        proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            proxy.destroy()


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


async def _fetch(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    options: dict[str, Any] = {"method": method, "credentials": "same-origin"}
    if body is not None:
        options["headers"] = {"Content-Type": "application/json"}
        options["body"] = json.dumps(body)
    response = await js.fetch(path, _js_object(options))
    return int(response.status), str(await response.text())


# --------------------------------------------------------------------------------------------------------------------
# One pane: xterm.js + DOM around the pure Pane


class Slot:
    """A session's place on the page. It outlives its panes: a relaunch mounts a fresh pane into the same slot."""

    def __init__(self, app: App, session: str) -> None:
        self.app = app
        self.session = session
        self.pane: BrowserPane | None = None
        self.root = _element("section", "pane")
        self.root.dataset.session = session
        self.root.dataset.state = "connecting"
        self.root.dataset.opens = "0"
        self.root.dataset.attempts = "0"
        self.header = _element("header", "pane-header")
        self.header.appendChild(_element("span", "pane-name", session))
        self.title = _element("span", "pane-title")
        self.header.appendChild(self.title)
        self.notice = _element("span", "pane-notice")
        self.notice.hidden = True
        self.header.appendChild(self.notice)
        self.relaunch = _element("span", "relaunch")
        self.relaunch.hidden = True
        self.relaunch_text = _element("span", "relaunch-text")
        self.relaunch_button = _element("button", "relaunch-button", "Relaunch")
        self.relaunch.append(self.relaunch_text, self.relaunch_button)
        self.header.appendChild(self.relaunch)
        self.body = _element("div", "pane-body")
        self.root.append(self.header, self.body)
        self._relaunch_click = create_proxy(lambda event: self._start_relaunch())  # lives as long as the page
        self.relaunch_button.addEventListener("click", self._relaunch_click)
        self.opens_before = 0  # opens of this slot's earlier panes (before relaunches)

    def mount(self, *, focus: bool) -> None:
        self.relaunch.hidden = True
        # A notice about input the ended session dropped stays beside the relaunch panel; a fresh pane starts clean.
        self.notice.hidden = True
        self.pane = BrowserPane(self, focus=focus)

    def ended(self, message: str) -> None:
        """The session is gone: swap in the relaunch panel and unmount the pane (its machine never reopens)."""
        self.relaunch_text.textContent = message
        self.relaunch_button.disabled = False
        self.relaunch.hidden = False
        pane, self.pane = self.pane, None
        if pane is not None:
            self.opens_before += pane.pane.stats.opens
            pane.unmount()
        self.root.dataset.state = "closed"

    def _start_relaunch(self) -> None:
        if self.relaunch_button.disabled:
            return
        self.relaunch_button.disabled = True  # now, not in the task: a second click must not mount a second pane
        self.app.spawn(self._relaunch())

    async def _relaunch(self) -> None:
        try:
            status, text = await _fetch("POST", f"/api/sessions/{self.session}")
        except Exception as error:
            status, text = 0, str(error)
        if status in (200, 201):
            self.mount(focus=True)
            return
        self.relaunch_text.textContent = f"relaunch failed ({status}): {text.strip()[:200]}"
        self.relaunch_button.disabled = False


class BrowserPane:
    """xterm.js and the DOM of one mounted pane; implements the pane's TerminalPort and ViewPort."""

    def __init__(self, slot: Slot, *, focus: bool) -> None:
        self.slot = slot
        self.app = slot.app
        self.proxies = Proxies()
        self.timers = BrowserTimers()
        self.disposables: list[Any] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.sockets: list[BrowserSocket] = []
        self._notice_handle: int | None = None
        self._unmounted = False

        # DOM: the terminal and its caption inside the slot's body. xterm lives in a shadow root that PyScript does
        # not watch. PyScript observes every DOM mutation in the document, and in every shadow root made by
        # attachShadow (it wraps that method), to find new <script type="py">: with xterm's DOM renderer rewriting
        # rows, that cost ~20% of the output throughput (docs/benchmarks.md). A shadow root declared in markup is
        # made by the HTML parser, not by attachShadow, so PyScript never sees it.
        self.container, self.term_root = self._terminal_host()
        self.caption = _element("div", "caption")
        self.caption_text = _element("span", "caption-text")
        self.retry_button = _element("button", "retry-now", "retry now")
        self.retry_button.hidden = True
        self.caption.append(self.caption_text, self.retry_button)
        slot.body.replaceChildren(self.container, self.caption)

        self.term = js.Terminal.new(
            _js_object(
                {
                    "cursorBlink": True,
                    "fontFamily": "'DejaVu Sans Mono', 'Liberation Mono', ui-monospace, monospace",
                    "fontSize": 14,
                    # At 1.0 the DOM renderer clips DejaVu's underscore at the bottom of the cell: "__init__" reads
                    # "  init  ".
                    "lineHeight": 1.1,
                    "scrollback": 1000,
                    "theme": {"background": "#000000"},
                }
            )
        )
        self._term_write = self.term.write  # looked up once: it is called for every output frame
        self.fit_addon = js.FitAddon.FitAddon.new()
        self.term.loadAddon(self.fit_addon)
        self.term.loadAddon(js.WebLinksAddon.WebLinksAddon.new())
        self.term.open(self.term_root)
        if self.app.renderer == "webgl":
            try:
                self.term.loadAddon(js.WebglAddon.WebglAddon.new())
            except Exception as error:  # no WebGL2 context here: xterm keeps its DOM renderer
                _log(f"webgl renderer unavailable ({error}); using the DOM renderer")

        self.pane = Pane(
            session=slot.session,
            terminal=self,
            view=self,
            split_frame=split_frame,
            open_socket=self._open_socket,
            set_timeout=self.timers.set_timeout,
            clear_timeout=self.timers.clear_timeout,
            now_ms=now_ms,
            get_ticket=self._get_ticket,
            policy=self.app.policy,
            on_ended=lambda pane, message: self.slot.ended(message),
            log=_log,
        )
        self._parsed = self.proxies.proxy(self.pane.on_parsed)
        self._barrier = self.proxies.proxy(self.pane.on_barrier)
        self._listen(self.term.onData, self.pane.on_data)
        self._listen(self.term.onBinary, self.pane.on_binary)
        self._listen(self.term.onResize, lambda size: self.pane.on_resize(size.cols, size.rows))
        self._retry_click = self.proxies.proxy(lambda event: self.pane.retry_now())
        self.retry_button.addEventListener("click", self._retry_click)
        self.observer = js.ResizeObserver.new(self.proxies.proxy(lambda entries, observer: self.pane.request_fit()))
        self.observer.observe(self.container)

        self.fit()
        if focus:
            self.term.focus()
        self.pane.start()

    def _terminal_host(self) -> tuple[Any, Any]:
        """(the pane-term element, the element xterm opens in): a declarative shadow root when the browser can parse
        one (Chromium 124, Firefox 123, Safari 17.4), else the pane-term element itself (PyScript then watches it)."""
        parser = _element("div")  # the parsed template's parent becomes the host (not the element parsed into)
        if hasattr(parser, "setHTMLUnsafe"):
            parser.setHTMLUnsafe('<div class="pane-term"><template shadowrootmode="open"><div class="term-root">')
            host = parser.firstElementChild
            shadow = host.shadowRoot
            if shadow is not None:
                shadow.adoptedStyleSheets = to_js([self.app.xterm_sheet])
                return host, shadow.firstElementChild
        _log("no declarative shadow DOM here: the terminal shares the document with PyScript's observer (slower)")
        host = _element("div", "pane-term")
        return host, host

    def _listen(self, event: Any, handler: Callable[..., Any]) -> None:
        self.disposables.append(event(self.proxies.proxy(handler)))

    # ----------------------------------------------------------------------------------------------------------------
    # Injected into the reconnect machine

    def _open_socket(self, ticket: str | None) -> BrowserSocket:
        location = js.window.location
        scheme = "wss:" if location.protocol == "https:" else "ws:"
        query = f"?ticket={js.encodeURIComponent(ticket)}" if ticket is not None else ""
        url = f"{scheme}//{location.host}/ws/{self.slot.session}{query}"
        sock = BrowserSocket(url, SUBPROTOCOL, self.app.handshake_gate)
        self.sockets = [s for s in self.sockets if not s._disposed] + [sock]
        return sock

    def _get_ticket(self, resolve: Callable[[str], None], reject: Callable[[BaseException], None]) -> None:
        async def fetch_ticket() -> None:
            try:
                status, text = await _fetch("POST", "/api/ticket", {"session": self.slot.session})
            except Exception as error:  # network error: transient (CancelledError is not an Exception)
                reject(TicketRefused(f"network error: {error}", fatal=False))
                return
            if status in (401, 403):
                reject(TicketRefused(f"HTTP {status}: {text.strip()[:200]}", fatal=True, status=status))
                return
            try:
                ticket = json.loads(text)["ticket"] if status == 200 else None
            except (ValueError, KeyError, TypeError):
                ticket = None
            if not isinstance(ticket, str):
                reject(TicketRefused(f"HTTP {status}: no ticket", fatal=False, status=status))
                return
            resolve(ticket)

        task = asyncio.ensure_future(fetch_ticket())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ----------------------------------------------------------------------------------------------------------------
    # TerminalPort

    def write(self, payload: Any, with_callback: bool) -> None:
        if with_callback:
            self._term_write(payload, self._parsed)
        else:
            self._term_write(payload)

    def write_barrier(self, data: str) -> None:
        self.term.write(data, self._barrier)

    def fit(self) -> tuple[int, int]:
        if self.container.isConnected and self.container.clientWidth > 0:
            self.fit_addon.fit()
        return int(self.term.cols), int(self.term.rows)

    # ----------------------------------------------------------------------------------------------------------------
    # ViewPort

    def show_status(self, status: Status, opens: int) -> None:
        if self._unmounted:
            return
        dataset = self.slot.root.dataset
        dataset.state = status.state.value
        dataset.opens = str(opens)
        dataset.attempts = str(status.attempts)
        dataset.failures = str(status.failures)

    def show_caption(self, caption: CaptionView) -> None:
        if self._unmounted:
            return
        self.caption.hidden = not caption.visible
        self.caption.dataset.tone = caption.tone.value
        self.caption_text.textContent = caption.text
        self.retry_button.hidden = not caption.retry_button

    def show_title(self, title: str) -> None:
        self.slot.title.textContent = "" if title == self.slot.session else title

    def show_notice(self, text: str) -> None:
        notice = self.slot.notice
        notice.textContent = text
        notice.hidden = False
        if self._notice_handle is not None:
            self.timers.clear_timeout(self._notice_handle)

        def hide() -> None:
            self._notice_handle = None
            notice.hidden = True

        self._notice_handle = self.timers.set_timeout(hide, NOTICE_MS)

    # ----------------------------------------------------------------------------------------------------------------
    # Page-facing

    def screen(self) -> str:
        buffer = self.term.buffer.active
        top = int(buffer.viewportY)
        lines = []
        for y in range(top, top + int(self.term.rows)):
            line = buffer.getLine(y)
            lines.append("" if line is None else str(line.translateToString(True)))
        return "\n".join(lines)

    def stats(self) -> dict[str, Any]:
        pane, status = self.pane, self.pane.status
        return {
            "state": status.state.value,
            "phase": status.phase.value,
            "attempts": status.attempts,
            "failures": status.failures,
            "retry_at_ms": status.retry_at_ms,
            "close_code": status.close_code,
            "opens": pane.stats.opens,
            "columns": int(self.term.cols),
            "rows": int(self.term.rows),
            "replies_sent": pane.stats.replies_sent,
            "replies_dropped": pane.stats.replies_dropped,
            "output_bytes": pane.stats.output_bytes,
            "input_dropped_bytes": pane.stats.input_dropped_bytes,
            "held_bytes": pane.machine.held_bytes,
            "keepalive_ms": pane.machine.keepalive_ms,
            "pending_write_bytes": pane.flow.pending_bytes,
            "pauses": pane.flow.pauses,
            "timers": self.timers.pending,
            "sockets": len([s for s in self.sockets if not s._disposed]),
        }

    def unmount(self) -> None:
        """Close the machine for good and free everything this pane created. Safe to call twice."""
        if self._unmounted:
            return
        self._unmounted = True
        try:
            self.pane.dispose()
            for task in self.tasks:
                task.cancel()
            self.observer.disconnect()
            self.retry_button.removeEventListener("click", self._retry_click)
            for disposable in self.disposables:
                disposable.dispose()
            self.term.dispose()
        finally:
            for sock in self.sockets:
                sock.dispose()
            self.timers.dispose()
            self.proxies.destroy_all()
            self.container.remove()
            self.caption.remove()


# --------------------------------------------------------------------------------------------------------------------
# The page


class App:
    """The page: one slot per requested session, side by side, on one Pyodide runtime."""

    def __init__(self) -> None:
        params = js.URLSearchParams.new(js.window.location.search)
        self.renderer = str(params.get("renderer") or "dom")
        self.slots: dict[str, Slot] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.page_proxies = Proxies()  # live as long as the page
        self.policy = ReconnectPolicy()
        self.handshake_gate = HandshakeGate(self.policy.handshakes_in_flight)  # one for the page: see gate.py
        self.panes_el = js.document.getElementById("panes")
        self.xterm_sheet = _xterm_style_sheet()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        self._expose()
        if self.renderer == "webgl":
            try:
                await self._load_script(js.document.querySelector('meta[name="livepane-webgl-addon"]').content)
            except Exception as error:
                _log(f"cannot load the webgl addon ({error}); using the DOM renderer")
                self.renderer = js.window.livepane.renderer = "dom"
        sessions = sessions_from_query(str(js.window.location.search))
        if not sessions:
            sessions = await self._list_sessions()
        self.panes_el.replaceChildren()
        for index, session in enumerate(sessions):
            slot = Slot(self, session)
            self.slots[session] = slot
            self.panes_el.appendChild(slot.root)
            slot.mount(focus=index == 0)
        self._listen_to_the_browser()
        js.window.livepane.ready = True

    async def _list_sessions(self) -> list[str]:
        """No ``?session=``: list the server's sessions above the panes and open the default one."""
        try:
            status, text = await _fetch("GET", "/api/sessions")
            listing = json.loads(text) if status == 200 else {}
        except Exception as error:
            status, listing = 0, {}
            _log(f"listing sessions failed: {error}")
        if status != 200:
            self._placeholder_message(
                "not authorized: reload the page with the token URL" if status == 401 else f"no sessions ({status})"
            )
            return []
        default = str(listing.get("default") or "main")
        ids = [str(s.get("id")) for s in listing.get("sessions", []) if SESSION_ID_RE.match(str(s.get("id", "")))]
        nav = js.document.getElementById("sessions")
        for session in dict.fromkeys([default, *ids]):
            link = _element("a", "", session)
            link.href = f"?session={js.encodeURIComponent(session)}"
            if session == default:
                link.setAttribute("aria-current", "page")
            nav.appendChild(link)
        nav.hidden = False
        return [default] if SESSION_ID_RE.match(default) else []

    def _placeholder_message(self, text: str) -> None:
        caption = js.document.querySelector(".placeholder .caption-text")
        if caption is not None:
            caption.textContent = text
            caption.parentElement.dataset.tone = "error"

    async def _load_script(self, src: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        element = js.document.createElement("script")
        proxies = Proxies()
        element.onload = proxies.proxy(lambda event: done.done() or done.set_result(None))
        element.onerror = proxies.proxy(lambda event: done.done() or done.set_exception(RuntimeError(src)))
        element.src = src
        js.document.head.appendChild(element)
        try:
            await done
        finally:
            element.onload = element.onerror = None
            proxies.destroy_all()

    def _listen_to_the_browser(self) -> None:
        """Back online, tab visible again, page restored from the back/forward cache: retry every pane at once."""

        def retry_all(event: Any = None) -> None:
            if event is not None and event.type == "visibilitychange" and js.document.visibilityState != "visible":
                return
            for slot in self.slots.values():
                if slot.pane is not None:
                    slot.pane.pane.retry_now()

        handler = self.page_proxies.proxy(retry_all)
        js.window.addEventListener("online", handler)
        js.window.addEventListener("pageshow", handler)
        js.document.addEventListener("visibilitychange", handler)

    def _pane(self, session: Any) -> BrowserPane | None:
        slot = self.slots.get(str(session))
        return None if slot is None else slot.pane

    def _expose(self) -> None:
        """``window.livepane``: what tests and benchmarks read."""

        def screen(session: Any) -> str:
            pane = self._pane(session)
            return "" if pane is None else pane.screen()

        def stats(session: Any) -> Any:
            slot = self.slots.get(str(session))
            if slot is None:
                return None
            values: dict[str, Any] = {"state": str(slot.root.dataset.state), "mounted": slot.pane is not None}
            if slot.pane is not None:
                values.update(slot.pane.stats())
            values["opens_total"] = slot.opens_before + values.get("opens", 0)
            return _js_object(values)

        def retry_now(session: Any) -> None:
            pane = self._pane(session)
            if pane is not None:
                pane.pane.retry_now()

        def sessions() -> Any:
            return to_js(list(self.slots))

        def proxies_live() -> int:
            return BrowserSocket.live

        def code_cache() -> Any:
            cache = codecache.installed()
            counts = {"entries": len(cache), "hits": cache.hits, "misses": cache.misses} if cache else {"entries": 0}
            return _js_object(counts)

        api = js.Object.new()
        api.ready = False
        api.renderer = self.renderer
        api.screen = self.page_proxies.proxy(screen)
        api.stats = self.page_proxies.proxy(stats)
        api.retryNow = self.page_proxies.proxy(retry_now)
        api.sessions = self.page_proxies.proxy(sessions)
        api.liveSockets = self.page_proxies.proxy(proxies_live)
        api.codeCache = self.page_proxies.proxy(code_cache)
        js.window.livepane = api


async def main() -> None:
    await App().run()
