"""docs/protocol.md §4's "State × event" table is pyclient.reconnect.TRANSITIONS written out: this test holds the two
together, so a change to the machine that leaves the doc behind fails here.

Read generically: rows are phases, columns events, cells the next phase (— for an illegal event), all by their enum
values; the phase and event enums are taken from TRANSITIONS itself, so every member of each must have its row or
column in the doc.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from pyclient.reconnect import TRANSITIONS

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
NONE = "—"


def transitions_in_code() -> dict[tuple[str, str], str]:
    """TRANSITIONS as {(phase value, event value): next phase value}, whether nested or keyed by pairs."""
    if all(isinstance(key, tuple) for key in TRANSITIONS):
        return {(phase.value, event.value): after.value for (phase, event), after in TRANSITIONS.items()}
    return {
        (phase.value, event.value): after.value for phase, row in TRANSITIONS.items() for event, after in row.items()
    }


def enum_types() -> tuple[type[enum.Enum], type[enum.Enum]]:
    key = next(iter(TRANSITIONS))
    if isinstance(key, tuple):
        return type(key[0]), type(key[1])
    return type(key), type(next(iter(TRANSITIONS[key])))


def table_in_doc() -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """(phases in row order, events in column order, {(phase, event): next phase}) from §4's table."""
    section = PROTOCOL_MD.read_text().split("### State × event", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    lines = lines[: next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))]

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    header, _rule, *rows = lines
    # A column head names its event in backticks first: "`drop` (close/error/…)", "`close()`".
    events = [re.search(r"`([a-z_]+)(?:\(\))?`", head).group(1) for head in cells(header)[1:]]
    phases, table = [], {}
    for line in rows:
        phase, *targets = cells(line)
        assert len(targets) == len(events), f"row {phase!r} has {len(targets)} cells for {len(events)} events"
        phases.append(phase)
        table.update({(phase, event): after for event, after in zip(events, targets, strict=True) if after != NONE})
    return phases, events, table


def test_the_state_table_in_protocol_md_is_transitions() -> None:
    phase_type, event_type = enum_types()
    phases, events, table = table_in_doc()
    assert sorted(phases) == sorted(p.value for p in phase_type), "§4 needs one row per phase"
    assert sorted(events) == sorted(e.value for e in event_type), "§4 needs one column per event"
    code = transitions_in_code()
    only_doc = {k: v for k, v in table.items() if code.get(k) != v}
    only_code = {k: v for k, v in code.items() if table.get(k) != v}
    assert not only_doc and not only_code, f"docs/protocol.md §4 says {only_doc}; TRANSITIONS says {only_code}"
