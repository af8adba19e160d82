"""bench/report.py renders tables from a results.json (a small fixture here) and rewrites only the results block of
docs/benchmarks.md; the hand-kept rest of that file survives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import report  # noqa: E402

RESULTS = json.loads((Path(__file__).parent / "fixtures" / "bench_results.json").read_text())


def rows_named(table: str, name: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith(f"| {name}")]


def test_figures_are_medians_with_their_spread_and_target() -> None:
    table = report.render(RESULTS)
    [warm] = rows_named(table, "first prompt, warm: baseline")
    assert warm[1:4] == ["1,200 ms", "1,100-1,300", "2"]
    assert warm[5] == "<= 1500 (met)"
    [plain] = rows_named(table, "first prompt, warm: no snapshot")
    assert plain[4] == "2.17x baseline"
    assert "(else: stale key)" in plain[6]


def test_outage_counts_the_gaps_outside_the_envelope_and_a_failed_section_is_a_row() -> None:
    table = report.render(RESULTS)
    [gaps] = rows_named(table, "outage: gaps between attempts outside")
    assert gaps[1].strip() == "1" and gaps[5] == "<= 0 (NOT met)"  # 2,000 ms is past 800-1,600 ms + 300 ms slack
    [term] = rows_named(table, "SIGTERM: signal to serve.py exited")
    assert term[1] == "147 ms"
    [error] = rows_named(table, "herd: FAILED")
    assert "did not come back" in error[6]


def test_targets_name_each_goal_and_say_what_was_not_measured() -> None:
    targets = report.targets(RESULTS)
    assert "- Ctrl-C under flood, median: 50.00 ms (target <= 1000): met" in targets
    assert any(line.startswith("- echo median") and line.endswith("not measured") for line in targets)


def test_only_the_marked_block_of_the_doc_is_rewritten() -> None:
    doc = f"# title\n\nhand-kept before\n\n{report.BEGIN}\nold table\n{report.END}\n\nhand-kept after\n"
    new = report.update_doc(doc, report.results_block(RESULTS))
    assert "old table" not in new
    assert new.startswith("# title\n\nhand-kept before\n\n") and new.endswith("\n\nhand-kept after\n")
    assert "commit abc1234" in new and "### Boot variants" in new
    with pytest.raises(ValueError, match="no <!-- bench:results:begin -->"):
        report.update_doc("# no markers\n", "x")


def test_docs_benchmarks_md_has_the_block_the_bench_rewrites() -> None:
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    assert doc.count(report.BEGIN) == 1 and doc.count(report.END) == 1
    new = report.update_doc(doc, "BLOCK")
    assert new.split(report.BEGIN)[0] == doc.split(report.BEGIN)[0]
    assert new.split(report.END)[1] == doc.split(report.END)[1]


def test_screen_and_live_sit_beside_the_peers_of_the_same_run_with_their_ratios() -> None:
    res = json.loads(json.dumps(RESULTS))
    for runs in res["boot"]["baseline"].values():
        for r in runs:
            r["live"] = r["painted"] + 20  # no "screen": a page without web/preboot.js's mark
    res["boot"]["ttyd"] = {"peer": True, "cold": [{"painted": 1000, "screen": 1000, "live": 1030}],
                           "warm": [{"painted": 800, "screen": 800, "live": 830}]}
    res["boot"]["wetty"] = {"peer": True, "skipped": "no --wetty command given"}
    res["boot"]["dashboard"] = {"panes": 12, "warm": [{"screen": None, "first_painted": 900, "painted": 1500,
                                                       "live": 1700}]}
    table = report.render(res)
    [warm] = rows_named(table, "livepane | warm")
    assert warm[2:] == ["n/a", "1,220", "n/a", "1.52x"]  # screen absent: n/a, not a failure
    ttyd = rows_named(report.live_table(res), "ttyd | warm")[0]
    assert ttyd[2:] == ["800", "830", "1.00x", "1.04x"]
    [breakdown] = rows_named(report.boot_breakdown(res), "ttyd | warm")  # the peer's own row beside the variants
    assert breakdown[report.BOOT_PHASES.index("screen") + 2] == "800"
    assert rows_named(table, "wetty |")[0][2] == "skipped: no --wetty command given"
    [live12] = rows_named(table, "all 12 live")
    assert live12[1:] == ["1,700", "", "1"]
    assert "peer" not in report.boot_cuts(res) and "dashboard" not in report.boot_cuts(res)
    assert "- live, warm, vs ttyd's first prompt warm (same run): 1.52 x (target <= 1): NOT met" in report.targets(res)
    assert "- screen visible, warm, vs ttyd's first prompt warm (same run): not measured" in report.targets(res)
