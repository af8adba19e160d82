"""Pyodide's pyodide.asm.mjs rewritten as a classic script, so that Chromium's code cache applies to it.

Measured (Chromium 156, bench/trace_boot.py): no ES module here ever consumes V8's code cache (modules produce one,
no load reads it back), while a classic script's cache is written on its 2nd load and read from its 3rd. With V8's
compile hint on the first line (`//# allFunctionsCalledOnLoad`) the whole file is compiled eagerly by the end of its
top-level run, so the cache (~1.9 MB) holds the functions the boot calls later, and a warm load does not compile them
again (JS lazy compiles on the main thread ~170 -> ~30-65 ms).

The rewrite, of the pinned npm file, served at `{{vendor:pyodide}}/pyodide.asm.classic.js` (immutable with the rest of
the versioned folder): its 3 `import.meta.url` read `globalThis.livepanePyodideAsmURL` (web/pyodide-snap.mjs sets it
to the real pyodide.asm.mjs's URL, so Pyodide finds its files as before), and `export default _createPyodideModule`
becomes a global, which pyodide-snap.mjs hands to loadPyodide's `createPyodideModule` option. If Pyodide's file no
longer has that shape the page names no copy (`{{pyodide-classic}}` is then empty), its URL is a 404 (logged), and
pyodide-snap.mjs imports pyodide.asm.mjs as before.
"""

from __future__ import annotations

CLASSIC_NAME = "pyodide.asm.classic.js"
MODULE_NAME = "pyodide.asm.mjs"
URL_GLOBAL = "globalThis.livepanePyodideAsmURL"
FACTORY_GLOBAL = "globalThis.livepaneCreatePyodideModule"
EXPORT_TAIL = "export default _createPyodideModule;"
IMPORT_META_URLS = 3  # Pyodide 314.0.7: the Node branch's createRequire, _scriptName, the wasm's default URL
COMPILE_HINT = "//# allFunctionsCalledOnLoad\n"


def classic_asm(module_text: str) -> str | None:
    """pyodide.asm.mjs's text as the classic script above, or None if the rewrite does not apply exactly."""
    body = module_text.rstrip()
    if (not body.endswith(EXPORT_TAIL) or module_text.count("import.meta") != IMPORT_META_URLS
            or module_text.count("import.meta.url") != IMPORT_META_URLS or module_text.count("export default") != 1
            or module_text.startswith("import ")):
        return None
    body = body[: -len(EXPORT_TAIL)].replace("import.meta.url", URL_GLOBAL)
    return f"{COMPILE_HINT}{body}{FACTORY_GLOBAL}=_createPyodideModule;\n"
