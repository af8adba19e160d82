"""End-to-end helpers: Debian Chromium (one per session) against a real ``serve.py`` and an isolated tmux server.

- One persistent browser context for the whole session, so the 9.6 MB Pyodide wasm and its compiled code are cached
  after the first page (incognito contexts download and compile it again on every load).
- One port for the whole session (the browser cache is keyed by origin); each test module starts its own
  ``serve.py`` on it with its own tmux server (``tmux -L``), and stops both at the end.
- Each test gets a fresh page whose requests are recorded: any request off the server's origin fails the test.
- Nothing sleeps to paper over a race: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from launch import ServeProcess, Tmux
from support import wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-token"
PROMPT_RE = re.compile(r"bash-\d+\.\d+[#$] ")
VIEWPORT = {"width": 1000, "height": 600}

# Deadlines. Pyodide boots in ~3 s warm, ~4-5 s cold on 2 busy cores; a cold boot took 46 s at a load of 50 (many
# suites sharing the 2 cores): a deadline, so a generous one costs nothing when things work.
BOOT_TIMEOUT_S = 90.0
OPEN_TIMEOUT_S = 15.0


# ----------------------------------------------------------------------------------------------------------------------
# serve.py (tmux and the launcher are tests/launch.py's)


Server = ServeProcess  # what the stories call it


def make_server(port: int, tmux: Tmux, workdir: Path) -> ServeProcess:
    """serve.py as the stories run it: a fixed port (the browser cache is keyed by origin), serve.py's own default
    session, and the access log on (``--log-level=debug``): the server-side record of every attempt."""
    return ServeProcess(tmux, workdir, port=port, token=TOKEN, default_session=None, log_level="debug")


DOWN_RESPONSE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndown\n"


class AttemptRecorder:
    """Stands in for the server while it is down: records each HTTP request (monotonic time, request line), answers
    503 and closes. A 503 on the ticket request is a transient failure for the pane: it counts it and retries."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            at = time.monotonic()
            with conn:
                conn.settimeout(1.0)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n" not in data and len(data) < 8192:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                line = data.split(b"\r\n", 1)[0].decode(errors="replace")
                with self._lock:
                    self.requests.append((at, line))
                with contextlib.suppress(OSError):
                    conn.sendall(
                        DOWN_RESPONSE
                    )

    def times(self, prefix: str = "POST /api/ticket") -> list[float]:
        with self._lock:
            return [at for at, line in self.requests if line.startswith(prefix)]

    def close(self) -> None:
        self._stopping = True
        self._thread.join(timeout=2)
        self._sock.close()


# ----------------------------------------------------------------------------------------------------------------------
# Page helpers


@dataclass
class PageRecord:
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def assert_same_origin(record: PageRecord, server: Server) -> None:
    own = urlsplit(server.origin).netloc
    foreign = [
        url
        for url in record.requests + record.websockets
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own
    ]
    assert not foreign, f"requests off the server's origin: {foreign}"


def open_panes(page: Any, server: Server, *sessions: str) -> float:
    """Load the page for ``sessions`` and wait until every pane is open with a prompt; returns seconds taken."""
    started = time.monotonic()
    query = "&".join(f"session={s}" for s in sessions)
    page.goto(f"{server.origin}/?{query}")
    page.wait_for_function(
        "typeof window.livepane !== 'undefined' && window.livepane.ready === true", timeout=BOOT_TIMEOUT_S * 1000
    )
    for session in sessions:
        wait_for_state(page, session, "open")
        wait_for_screen(page, session, PROMPT_RE)
    return time.monotonic() - started


def pane_selector(session: str) -> str:
    return f'section.pane[data-session="{session}"]'


def wait_for_state(page: Any, session: str, state: str, timeout_s: float = OPEN_TIMEOUT_S) -> None:
    page.wait_for_function(
        "([sel, state]) => { const el = document.querySelector(sel); return !!el && el.dataset.state === state; }",
        arg=[pane_selector(session), state],
        timeout=timeout_s * 1000,
    )


def screen(page: Any, session: str) -> str:
    return page.evaluate("s => window.livepane.screen(s)", session)


def stats(page: Any, session: str) -> dict[str, Any]:
    return page.evaluate("s => window.livepane.stats(s)", session)


def wait_for_screen(page: Any, session: str, pattern: re.Pattern[str] | str, timeout_s: float = OPEN_TIMEOUT_S) -> str:
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    return wait_until(
        lambda: (text := screen(page, session)) and regex.search(text) and text,
        timeout_s,
        f"{regex.pattern!r} on the screen of {session}",
    )


def wait_for_tmux(tmux: Tmux, session: str, pattern: str, timeout_s: float = 5.0) -> str:
    regex = re.compile(pattern, re.MULTILINE)
    return wait_until(
        lambda: (text := tmux.capture(session)) and regex.search(text) and text,
        timeout_s,
        f"{pattern!r} in tmux session {session}",
    )


def record_history(page: Any, session: str) -> None:
    """Record every change of the pane's state, counters and caption text in ``window.__history``."""
    page.evaluate(
        """sel => {
            const root = document.querySelector(sel);
            window.__history = [];
            const snap = () => {
                const caption = root.querySelector('.caption');
                window.__history.push({
                    t: performance.now(),
                    state: root.dataset.state,
                    attempts: Number(root.dataset.attempts),
                    failures: Number(root.dataset.failures || 0),
                    caption: caption && !caption.hidden ? caption.querySelector('.caption-text').textContent : '',
                });
            };
            snap();
            new MutationObserver(snap).observe(root, {attributes: true, childList: true, subtree: true,
                                                      characterData: true});
        }""",
        pane_selector(session),
    )


def history(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.__history")
