// Makes a Pyodide memory snapshot with pyclient imported, under Node (no browser needed): the browser restores it
// with loadPyodide({_loadSnapshot}) (checked: a Node-made snapshot boots in Chromium 156 with Pyodide 314.0.7).
// Usage: node web/make_snapshot.mjs PYODIDE_DIR PYCLIENT_DIR OUT_FILE [MODULES]
//   MODULES: comma-separated pyclient modules to import (default: every .py in PYCLIENT_DIR). A module imported here
//   must not hold a JS object at import time (the `js` module itself is fine): a snapshot cannot carry one.
// The snapshot is only valid for this Pyodide version and these pyclient sources: name it by their hash.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

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

// PyScript's own Python package, which it writes into the file system and imports on every page load (it binds to the
// page's DOM at import, so it cannot be imported here). pyclient/codecache.py keeps it compiled in the snapshot. The
// sources are a JS object literal in PyScript's bundle, `{pyscript:{"__init__.py":"…",…}}`: found by that opening,
// cut out by brace matching, read with vm. Not found (another PyScript): the page compiles them as before.
function pyscriptSources(distDir) {
  const opening = '{pyscript:{"__init__.py":';
  for (const name of fs.readdirSync(distDir).filter((f) => f.endsWith(".js")).sort()) {
    const text = fs.readFileSync(path.join(distDir, name), "utf8");
    const start = text.indexOf(opening);
    if (start < 0) continue;
    let depth = 0, quote = null, end = start;
    for (; end < text.length; end++) {
      const c = text[end];
      if (quote) {
        if (c === "\\") end++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'" || c === "`") quote = c;
      else if (c === "{") depth++;
      else if (c === "}" && --depth === 0) break;
    }
    const files = {};
    const walk = (tree, dir) => {
      for (const [key, value] of Object.entries(tree)) {
        if (typeof value === "string") files[`/home/pyodide/${dir}${key}`] = value;
        else walk(value, `${dir}${key}/`);
      }
    };
    walk(vm.runInNewContext(`(${text.slice(start, end + 1)})`), "");
    return files;
  }
  return {};
}
// The file leaves out the snapshot's all-zero 64 KiB pages (the heap's unused space: 31.5 MB -> 17.1 MB for Pyodide
// 314.0.7), which every warm page load would otherwise read out of the browser's cache (and every cold one download);
// web/pyodide-snap.mjs (expand) puts them back. Format, integers u32 little-endian:
//   SPARSE_MAGIC, the snapshot's length, the number N of runs kept, N x (offset, length), then the runs' bytes in order.
const SPARSE_MAGIC = "LPSNAP1\n";
const SPARSE_PAGE = 65536;
function sparse(bytes) {
  const runs = [];
  for (let at = 0; at < bytes.length; at += SPARSE_PAGE) {
    const page = bytes.subarray(at, at + SPARSE_PAGE);
    if (page.every((b) => b === 0)) continue;
    const last = runs.at(-1);
    if (last && last.offset + last.length === at) last.length += page.length;
    else runs.push({ offset: at, length: page.length });
  }
  const headerLength = SPARSE_MAGIC.length + 8 + 8 * runs.length;
  const out = Buffer.alloc(headerLength + runs.reduce((sum, run) => sum + run.length, 0));
  out.write(SPARSE_MAGIC, 0, "latin1");
  out.writeUInt32LE(bytes.length, 8);
  out.writeUInt32LE(runs.length, 12);
  let at = headerLength;
  runs.forEach(({ offset, length }, i) => {
    out.writeUInt32LE(offset, 16 + 8 * i);
    out.writeUInt32LE(length, 20 + 8 * i);
    out.set(bytes.subarray(offset, offset + length), at);
    at += length;
  });
  return out;
}

const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const started = performance.now();
const py = await loadPyodide({ indexURL: path.resolve(pyodideDir) + "/", _makeSnapshot: true });
py.FS.mkdirTree("/home/pyodide/pyclient");
for (const m of modules) {
  py.FS.writeFile(`/home/pyodide/pyclient/${m}.py`, fs.readFileSync(path.join(pyclientDir, `${m}.py`), "utf8"));
}
const imports = modules.map((m) => (m === "__init__" ? "pyclient" : `pyclient.${m}`)).join(", ");
py.runPython(`import ${STDLIB}, ${imports}`);
const pyscript = pyscriptSources(path.join(pyodideDir, "..", "@pyscript", "core", "dist"));
py.globals.set("pyscript_sources", py.toPy(pyscript));
const cached = py.runPython("import pyclient.codecache\nlen(pyclient.codecache.install(pyscript_sources))");
py.globals.delete("pyscript_sources");
if (!cached) console.warn("make_snapshot: PyScript's Python sources not found; the page will compile them at boot");
const snapshot = py.makeMemorySnapshot();
const file = sparse(snapshot);
fs.writeFileSync(outFile, file);
console.log(`${outFile}: ${file.length} bytes (a snapshot of ${snapshot.length}) in ` +
  `${Math.round(performance.now() - started)} ms; ${cached} PyScript modules precompiled`);
