"""bench/trace_boot.py reads a Chrome trace: which thread is the page's, its CPU samples, its busy and CPU time, and the
split of that time by phase. Synthetic traces here, shaped as Chromium 156 writes them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import trace_boot as T  # noqa: E402

PAGE, OTHER = 10, 20  # renderer processes: the page's, and another (a WebUI tab) that profiles too
MAIN, WORKER = 10, 11  # the page renderer's main thread and a worker thread


def thread(pid: int, tid: int, name: str) -> dict:
    return {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}


def task(ts: float, dur: float, tdur: float, tid: int = MAIN, name: str = "ThreadControllerImpl::RunTask") -> dict:
    return {"ph": "X", "name": name, "pid": PAGE, "tid": tid, "ts": ts, "dur": dur, "tdur": tdur}


def mark(name: str, ts: float) -> dict:
    return {"ph": "I", "name": name, "cat": "blink.user_timing", "pid": PAGE, "tid": MAIN, "ts": ts}


def node(node_id: int, function: str, url: str, children: list[int] = ()) -> dict:
    return {"id": node_id, "callFrame": {"functionName": function, "url": url, "lineNumber": 0},
            "children": list(children)}


def profile(pid: int, start: float, nodes: list[dict], samples: list[int], deltas: list[float]) -> list[dict]:
    return [{"ph": "P", "name": "Profile", "pid": pid, "tid": pid, "id": "0x1", "args": {"data": {"startTime": start}}},
            {"ph": "P", "name": "ProfileChunk", "pid": pid, "tid": pid + 5, "id": "0x1",
             "args": {"data": {"cpuProfile": {"nodes": nodes, "samples": samples}, "timeDeltas": deltas}}}]


SNAP = "http://x/static/pyodide-snap.mjs?v=1&snap=./static/snapshot/pyclient.bin?key=2"
ASM = "http://x/vendor/pyodide@1/pyodide.asm.mjs"
# Navigation at ts 1,000,000 us: boot-start at 100 ms, pyodide-ready at 110 ms.
NAV = 1_000_000
MARKS = {"livepane:boot-start": 100.0, "livepane:pyodide-ready": 110.0}
EVENTS = [
    thread(PAGE, MAIN, "CrRendererMain"), thread(PAGE, WORKER, "DedicatedWorker thread"),
    thread(OTHER, OTHER, "CrRendererMain"),
    mark("livepane:boot-start", NAV + 100_000), mark("livepane:pyodide-ready", NAV + 110_000),
    # The window: a task of 10 ms wall and 5 ms CPU on the main thread, with a GC of 2 ms inside.
    task(NAV + 100_000, 10_000, 5_000),
    {"ph": "X", "name": "MajorGC", "pid": PAGE, "tid": MAIN, "ts": NAV + 108_000, "dur": 2_000, "tdur": 1_000},
    task(NAV + 100_000, 4_000, 4_000, tid=WORKER, name="ThreadPool_RunTask"),
    # The page's samples: 4 ms in expand (pyodide-snap.mjs), then 4 ms in restoreSnapshot under an anonymous frame of
    # pyodide.asm.mjs: the function rule names it, not the file's.
    *profile(PAGE, NAV + 100_000,
             [node(1, "(root)", "", [2, 3]), node(2, "expand", SNAP), node(3, "(anonymous)", ASM, [4]),
              node(4, "API.restoreSnapshot", ASM, [5]), node(5, "(anonymous)", ASM)],
             [2, 2, 5, 5], [0, 2_000, 2_000, 2_000]),
    # Another renderer's profile with the same id: none of its samples are the page's.
    *profile(OTHER, NAV, [node(1, "(root)", "", [2]), node(2, "lit", "http://ntp/lit.js")], [2, 2], [0, 1]),
]


def test_the_page_is_the_renderer_that_marked_the_boot_and_navigation_start_comes_from_its_marks() -> None:
    assert T.renderer_main(EVENTS) == (PAGE, MAIN)
    assert T.nav_start_us(EVENTS, MARKS) == NAV


def test_samples_are_the_pages_own_even_when_another_renderer_uses_the_same_profile_id() -> None:
    samples = T.cpu_profile_samples(EVENTS, PAGE, MAIN)
    assert [ts - NAV for ts, _ in samples] == [100_000, 102_000, 104_000, 106_000]
    assert samples[0][1] == ["(root) :1", "expand pyodide-snap.mjs:1"]
    assert samples[-1][1][-2:] == ["API.restoreSnapshot pyodide.asm.mjs:1", "(anonymous) pyodide.asm.mjs:1"]


def test_a_function_rule_names_the_phase_before_a_file_rule_does() -> None:
    assert T.sample_phase(["(root) :1", "(anonymous) pyodide.asm.mjs:1", "API.restoreSnapshot pyodide.asm.mjs:1",
                           "(anonymous) pyodide.asm.mjs:1"]) == "snapshot: restore (copy into the heap)"
    assert T.sample_phase(["(root) :1", "grow pyodide.asm.mjs:1"]) == "Pyodide: other (preRun, FS, stdlib, API)"
    assert T.sample_phase(["(root) :1", "(program) :0"]) is None


def test_top_level_events_are_those_no_other_event_of_their_thread_encloses() -> None:
    names = [(e["tid"], e["name"]) for e in T.top_level(EVENTS, PAGE)]
    assert names == [(MAIN, "ThreadControllerImpl::RunTask"), (WORKER, "ThreadPool_RunTask")]


def test_cpu_summary_counts_the_main_threads_busy_and_cpu_time_and_the_other_threads_cpu() -> None:
    summary = T.cpu_summary({"marks": MARKS}, EVENTS)
    assert summary == {"interpreter": 110.0, "boot_start": 100.0, "main_busy": 10.0, "main_cpu": 5.0,
                       "other_threads_cpu": 4.0}


def test_phases_weigh_each_slice_of_the_window_by_its_tasks_cpu_share() -> None:
    split = T.phases(EVENTS, (PAGE, MAIN), NAV + 100_000, NAV + 110_000)
    # Half of the task's wall time was CPU: expand's 4 ms of samples count 2, restoreSnapshot's 4 ms before the GC 2,
    # the GC's 2 ms (a trace event: it wins over the sample under it) 1. Together the main thread's 5 ms of CPU.
    assert {k: round(v, 1) for k, v in split.items()} == {
        "snapshot: expand (sparse -> full)": 2.0, "snapshot: restore (copy into the heap)": 2.0, "GC": 1.0,
    }


def test_the_classic_copy_of_pyodides_js_gets_the_modules_phases() -> None:
    assert T.sample_phase(["(root) :1", "receiveInstance pyodide.asm.classic.js:1"]) == \
        "Pyodide: dynamic linking (GOT, table)"
    assert T.sample_phase(["(root) :1", "grow pyodide.asm.classic.js:1"]) == "Pyodide: other (preRun, FS, stdlib, API)"
