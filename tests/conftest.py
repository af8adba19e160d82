"""Suite-wide order: the fast headless suites first, the browser stories last.

A unit or server failure then shows within seconds, before a minute of Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: E2E_DIR in Path(str(item.path)).parents)
