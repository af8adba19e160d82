"""docs/protocol.md §3 against the code: every row's "client does" is what ``classify`` decides.

The doc's tables are the contract a reader trusts; the code's tables are what runs. This test reads the doc's rows
(code, example reason, "(not clean)" for a close whose handshake did not complete, the action word in backticks that
starts "client does", the message a `stop` reports, whether unacked input "goes again") and asks the code,
so the two cannot drift. It also checks that every row of the code's tables has a row in the doc.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyclient.reconnect import CLOSE_TABLE, STOP_MESSAGES, TICKET_TABLE, Action, classify

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def section(title_prefix: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title_prefix}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table in ``text``, as rows of {header: cell}; ``\\|`` inside a cell is a literal bar."""
    found: list[list[dict[str, str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s\-|]+\|$", lines[i + 1]):
            header = cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, cells(lines[i]), strict=True)))
                i += 1
            found.append(rows)
        else:
            i += 1
    return found


def cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_with(header: str) -> list[dict[str, str]]:
    matches = [t for t in tables(section("3.")) if t and header in t[0]]
    assert len(matches) == 1, f"expected one table with a {header!r} column in §3"
    return matches[0]


def expected(client_does: str) -> tuple[Action, str | None]:
    """The action word in backticks at the start of the cell, and for `stop` the message it reports."""
    match = re.match(r"`([a-z ]+)`", client_does)
    assert match, f"'client does' must start with the action in backticks: {client_does!r}"
    action = Action(match.group(1))
    message = re.search(r'report "([^"]+)"', client_does)
    return action, message.group(1) if message else None


def example_reason(cell: str) -> str:
    quoted = re.match(r"`([^`]*)`", cell)
    return quoted.group(1) if quoted else "any other reason"


CLOSE_ROWS = table_with("code")
TICKET_ROWS = table_with("ticket answer")


@pytest.mark.parametrize("row", CLOSE_ROWS, ids=lambda r: f"{r['code']} {r['reason (example)']}")
def test_each_close_row_is_what_classify_decides(row: dict[str, str]) -> None:
    action, message = expected(row["client does"])
    clean = "(not clean)" not in row["reason (example)"]
    verdict = classify(int(row["code"]), example_reason(row["reason (example)"]), clean=clean)
    assert verdict.action is action
    assert verdict.resend is ("goes again" in row["client does"])
    if action is Action.STOP:
        assert verdict.stop is not None and STOP_MESSAGES[verdict.stop] == message


@pytest.mark.parametrize("row", TICKET_ROWS, ids=lambda r: r["ticket answer"])
def test_each_ticket_row_is_what_classify_decides(row: dict[str, str]) -> None:
    action, message = expected(row["client does"])
    status = re.match(r"HTTP (\d{3})$", row["ticket answer"])
    verdict = classify(ticket_status=int(status.group(1)) if status else 502)
    assert verdict.action is action
    if action is Action.STOP:
        assert verdict.stop is not None and STOP_MESSAGES[verdict.stop] == message


def test_every_row_of_the_code_tables_is_in_the_doc() -> None:
    doc_codes = {int(row["code"]) for row in CLOSE_ROWS}
    assert {int(code) for code, *_ in CLOSE_TABLE} <= doc_codes
    doc_statuses = {int(m.group(1)) for row in TICKET_ROWS if (m := re.match(r"HTTP (\d{3})$", row["ticket answer"]))}
    assert set(TICKET_TABLE) == doc_statuses
