"""The classic copy of pyodide.asm.mjs (livepane_server/pyodide_classic.py): the rewrite fits the pinned npm file
exactly, and a file it no longer fits gives None (the server's 404, the page's module fallback), never half a
rewrite."""

from __future__ import annotations

from pathlib import Path

from livepane_server import pyodide_classic as P

PINNED = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "pyodide" / "pyodide.asm.mjs"


def test_the_rewrite_fits_the_pinned_pyodide() -> None:
    text = P.classic_asm(PINNED.read_text())
    assert text is not None, "pyodide.asm.mjs changed: livepane_server/pyodide_classic.py's rewrite no longer applies"
    assert text.startswith("//# allFunctionsCalledOnLoad\n")
    assert "import.meta" not in text and "export default" not in text
    assert text.count(P.URL_GLOBAL) == P.IMPORT_META_URLS
    assert text.rstrip().endswith("globalThis.livepaneCreatePyodideModule=_createPyodideModule;")


def test_a_file_of_another_shape_is_not_rewritten() -> None:
    text = PINNED.read_text()
    other_export = text.replace("export default _createPyodideModule;", "export { _createPyodideModule };")
    assert P.classic_asm(other_export) is None
    assert P.classic_asm(text + "\nconsole.log(import.meta.url);") is None
    assert P.classic_asm(text.replace("import.meta.url", "location.href", 1)) is None
