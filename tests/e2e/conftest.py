"""End-to-end fixtures: Debian Chromium (one per session) against a real ``serve.py`` and an isolated tmux server.

- One persistent browser context for the whole session, so the 9.6 MB Pyodide wasm and its compiled code are cached
  after the first page (incognito contexts download and compile it again on every load).
- One port for the whole session (the browser cache is keyed by origin); each test module starts its own
  ``serve.py`` on it with its own tmux server (``tmux -L``), and stops both at the end.
- Each test gets a fresh page whose requests are recorded: any request off the server's origin fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livepane_e2e import TOKEN, VIEWPORT, PageRecord, Server, Tmux, assert_same_origin, make_server
from support import CHROMIUM, CHROMIUM_ARGS, free_port

# ----------------------------------------------------------------------------------------------------------------------
# Fixtures


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def browser_context(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("tmux") is None:
        # In CI a missing browser is a broken install, not a reason to go green without the stories.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"needs {CHROMIUM} and tmux (make system)")
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=VIEWPORT,
    )
    yield context
    context.close()


@pytest.fixture(scope="module")
def server(e2e_port: int, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    name = re.sub(r"\W", "_", request.module.__name__)
    tmux = Tmux(f"livepane-e2e-{os.getpid()}-{name}")
    srv = make_server(e2e_port, tmux, tmp_path_factory.mktemp(name))
    try:
        yield srv.start()
    finally:
        srv.close()
        tmux.kill_server()


@pytest.fixture
def page(browser_context: Any, server: Server) -> Iterator[Any]:
    """A fresh tab with the auth cookie; every request and WebSocket it opens is recorded and checked at the end."""
    browser_context.request.get(f"{server.origin}/?token={TOKEN}", max_redirects=0)
    tab = browser_context.new_page()
    record = PageRecord()
    tab.on("request", lambda r: record.requests.append(r.url))
    tab.on("websocket", lambda ws: record.websockets.append(ws.url))
    tab.on("pageerror", lambda error: record.errors.append(str(error)))
    tab.on("console", lambda message: record.console.append(f"{message.type}: {message.text}"))
    tab.livepane_record = record
    try:
        yield tab
    finally:
        tab.close()
    assert_same_origin(record, server)
    assert not record.errors, f"uncaught errors in the page: {record.errors}"
    # Python errors surface as console messages (a destroyed proxy called late, a traceback in a callback).
    python_errors = [m for m in record.console if any(w in m for w in ("Traceback", "PythonError", "destroyed"))]
    assert not python_errors, python_errors
