"""Where the boot goes between the interpreter ready and the socket open, by performance marks (no trace overhead).

    python bench/boot_marks.py [--warm N]

Serves a variant tree (boot.make_variant) whose main.py wraps pyclient.browser's mount path in marks and whose
preboot.js adds marks at PyScript's hooks (onReady, onBeforeRunAsync, the end of its codeBeforeRunAsync prelude) and
around its fetch of main.py; prints each warm load's marks relative to livepane:pyodide-ready. A probe only: the
wrappers cost a little, so compare its stretches with each other, not with bench/boot.py's figures. Helper
h-pyscript, 2026-12-02 (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import boot
import harness as H

# The functions of pyclient's mount path the probe marks (module, class, method): each one's start and end.
WRAPPED = (
    ("browser", "App", "_expose"), ("browser", "App", "show"), ("browser", "Slot", "__init__"),
    ("browser", "Mount", "__init__"), ("browser", "XtermTerminal", "__init__"), ("browser", "XtermTerminal", "attach"),
    ("browser", "XtermTerminal", "fit"), ("pane", "Pane", "start"), ("browser", "BrowserSocket", "_start"),
    ("browser", "SessionBar", "show_listing"), ("browser", "App", "_listen_to_the_browser"),
)

# web/main.py for the probe: marks around the mount path, then the real main().
MAIN_PY = f"WRAPPED = {WRAPPED!r}\n" + '''
import functools
import js
js.performance.mark("p:main.py")
from pyclient import browser as B
from pyclient import pane as P

def wrap(owner, name):
    f = getattr(owner, name)
    label = f"{owner.__name__}.{name}"
    @functools.wraps(f)
    def g(*a, **k):
        js.performance.mark(f"p:{label}")
        try:
            return f(*a, **k)
        finally:
            js.performance.mark(f"p:{label}:end")
    setattr(owner, name, g)

for module, owner, name in WRAPPED:
    wrap(getattr({"browser": B, "pane": P}[module], owner), name)
await B.main()
'''

# Appended to web/preboot.js: PyScript's hooks (core.js is the same module instance the page runs).
HOOKS_JS = '''
(() => {
  const link = document.querySelector('link[rel="modulepreload"][href*="dist/core.js"]');
  import(link.href).then(({ hooks }) => {
    hooks.main.onReady.add(() => performance.mark("h:onReady"));
    hooks.main.onBeforeRunAsync.add(() => performance.mark("h:onBeforeRunAsync"));
    hooks.main.codeBeforeRunAsync.add('import js\\njs.performance.mark("h:prelude-end")');
  });
  const nativeFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = String(input?.url ?? input), mainPy = url.includes("/main.py");
    if (mainPy) performance.mark("h:fetch-main.py");
    const p = nativeFetch.call(this, input, init);
    if (mainPy) p.then(() => performance.mark("h:fetched-main.py"));
    return p;
  };
})();
'''

COLLECT_JS = """() => { const m = {}; for (const e of performance.getEntriesByType('mark')) if (!(e.name in m))
  m[e.name] = e.startTime; const B = window.__bench, s = B.sockets[0];
  return {...m, 'py:ready': B.events['py:ready'], 'socket:created': s.created, 'socket:open': s.open,
          painted: B.events['prompt-frame:boot'], live: B.events['live-frame:boot']}; }"""


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warm", type=int, default=4)
    a = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="boot-marks-"))
    preboot = (H.ROOT / "web" / "preboot.js").read_bytes() + HOOKS_JS.encode()
    root = boot.make_variant(workdir, "marks", files={"web/main.py": MAIN_PY.encode(), "web/preboot.js": preboot})
    stack = H.Stack(workdir / "stack", root=root)
    stack.workdir.mkdir(parents=True, exist_ok=True)
    stack.new_session("boot")
    await stack.start_server()
    try:
        for i in range(a.warm + 1):  # the first load primes the profile
            ctx = await stack.browser(profile=stack.workdir / "warm")
            try:
                page = await H.page_for(ctx)
                await page.goto(f"{stack.base}/?session=boot", wait_until="commit")
                await boot.type_when_prompted(page, ["boot"])
                marks = await page.evaluate(COLLECT_JS)
            finally:
                await stack.close_browser(ctx)
                stack.send_keys("boot", "C-u")
            if i:
                base = marks[boot.PYODIDE_MARK]
                items = sorted((t - base, k) for k, t in marks.items() if t is not None and t >= base)
                print(f"warm #{i}: " + "  ".join(f"{k} {t:+.0f}" for t, k in items))
    finally:
        await stack.aclose()


if __name__ == "__main__":
    asyncio.run(main())
