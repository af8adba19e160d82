"""The page ships every client module: PyScript's `files` config must list each pyclient/*.py.

A module missing there imports fine under CPython and fails only in the browser, as a dead page.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyscript_files_list_every_pyclient_module() -> None:
    config = json.loads((ROOT / "web" / "pyscript.json").read_text())
    listed = {Path(source).name for source in config["files"].values()}
    on_disk = {path.name for path in (ROOT / "pyclient").glob("*.py")}
    assert "reconnect.py" in on_disk, "the test looks in the wrong folder"
    assert on_disk - listed == set(), "add these to web/pyscript.json 'files'"
