"""Helpers every suite uses (server, e2e; bench/ too): polling with a deadline, free ports, process liveness, and how
this machine's Chromium is launched.

Importable as ``support`` from any test (``pythonpath = ["tests"]`` in pyproject.toml); bench/harness.py puts tests/
on its path for the Chromium settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.02

# Debian's chromium (Playwright cannot download its own here), with what keeps it quiet and offline.
CHROMIUM = os.environ.get("LIVEPANE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until(condition: Callable[[], Any], timeout_s: float = 5.0, what: str = "", interval_s: float = POLL_S) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(interval_s)


async def async_wait_until(
    condition: Callable[[], Any], timeout_s: float = 5.0, what: str = "", interval_s: float = POLL_S
) -> Any:
    """``wait_until`` for a running event loop; ``condition`` may return an awaitable."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        await asyncio.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie. If /proc cannot tell, it counts as alive: a wait for it to exit then
    times out instead of passing by mistake."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True
