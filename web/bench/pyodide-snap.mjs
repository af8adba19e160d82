// Bench-only: stands in for pyodide.mjs as PyScript's "interpreter" and passes a memory snapshot to loadPyodide.
// PyScript 0.7.31 calls loadPyodide({stdout, stderr, indexURL}) with no way to add options, and takes indexURL
// from the interpreter module's own directory; this module restores the real indexURL and adds _loadSnapshot.
// Query: ?index=/vendor/pyodide@V/ (required) &snap=URL (optional: without it, a plain boot through the wrapper).
const params = new URL(import.meta.url).searchParams;
const indexURL = params.get("index");
const snapURL = params.get("snap");
// Start the snapshot download at module evaluation, in parallel with pyodide.mjs and the wasm.
const snapshot = snapURL ? fetch(snapURL).then((r) => {
  if (!r.ok) throw new Error(`snapshot ${snapURL}: HTTP ${r.status}`);
  return r.arrayBuffer();
}) : undefined;
const real = await import(indexURL + "pyodide.mjs");
export const version = real.version;
export async function loadPyodide(options = {}) {
  const opts = { ...options, indexURL };
  if (snapshot) opts._loadSnapshot = snapshot;
  return real.loadPyodide(opts);
}
