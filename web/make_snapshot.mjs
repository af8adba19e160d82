// Makes a Pyodide memory snapshot with pyclient imported, under Node (no browser needed): the browser restores it
// with loadPyodide({_loadSnapshot}) (checked: a Node-made snapshot boots in Chromium 156 with Pyodide 314.0.7).
// Usage: node web/make_snapshot.mjs PYODIDE_DIR PYCLIENT_DIR OUT_FILE [MODULES]
//   MODULES: comma-separated pyclient modules to import (default: every .py in PYCLIENT_DIR). A module imported here
//   must not hold a JS object at import time (the `js` module itself is fine): a snapshot cannot carry one.
// The snapshot is only valid for this Pyodide version and these pyclient sources: name it by their hash.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, pyclientDir, outFile, modulesArg] = process.argv.slice(2);
if (!outFile) {
  console.error("usage: node make_snapshot.mjs PYODIDE_DIR PYCLIENT_DIR OUT_FILE [MODULES]");
  process.exit(2);
}
const modules = modulesArg
  ? modulesArg.split(",")
  : fs.readdirSync(pyclientDir).filter((f) => f.endsWith(".py")).map((f) => f.slice(0, -3)).sort();
// Standard-library modules the page imports at boot besides pyclient's: PyScript's own `import pyscript` pulls in
// `html` (pyscript.display), ~0.15 s to import in the page, nothing once it is in the snapshot.
const STDLIB = "asyncio, json, html";
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const started = performance.now();
const py = await loadPyodide({ indexURL: path.resolve(pyodideDir) + "/", _makeSnapshot: true });
py.FS.mkdirTree("/home/pyodide/pyclient");
for (const m of modules) {
  py.FS.writeFile(`/home/pyodide/pyclient/${m}.py`, fs.readFileSync(path.join(pyclientDir, `${m}.py`), "utf8"));
}
const imports = modules.map((m) => (m === "__init__" ? "pyclient" : `pyclient.${m}`)).join(", ");
py.runPython(`import ${STDLIB}, ${imports}`);
const snapshot = py.makeMemorySnapshot();
fs.writeFileSync(outFile, snapshot);
console.log(`${outFile}: ${snapshot.length} bytes in ${Math.round(performance.now() - started)} ms`);
