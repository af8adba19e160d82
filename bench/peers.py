"""Peers: ttyd and WeTTY against the same tmux, measured the same way where their pages allow (stub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def run(workdir: Path, ttyd: str | None, wetty: str | None, quick: bool, log: Any) -> dict[str, Any]:
    return {"ttyd": {"skipped": "not implemented yet"}, "wetty": {"skipped": "not implemented yet"}}
