// PyScript's "interpreter": stands in for pyodide.mjs and boots Pyodide from a memory snapshot taken with pyclient
// imported (`make snapshot`), which skips the interpreter start (~3 s -> ~0.5 s, docs/benchmarks.md).
// PyScript 0.7.31 calls loadPyodide({stdout, stderr, indexURL}) with no way to add options, and derives indexURL
// from this module's folder; so this module restores the real indexURL and adds _loadSnapshot.
// Query (templated by serve.py): ?index=/vendor/pyodide@V/&snap=URL. An empty snap, or a snapshot that fails to
// download or restore, means a plain boot.
const params = new URL(import.meta.url).searchParams;
const indexURL = params.get("index");
const snapURL = params.get("snap");
// Started at module evaluation, side by side with pyodide.mjs and the wasm.
const snapshot = snapURL ? fetch(snapURL).then((r) => {
  if (!r.ok) throw new Error(`snapshot ${snapURL}: HTTP ${r.status}`);
  return r.arrayBuffer();
}) : null;
snapshot?.catch(() => {});  // handled in loadPyodide; never an unhandled rejection
const real = await import(indexURL + "pyodide.mjs");
export const version = real.version;
// How this page booted, for tests and benchmarks: {snapshot: true} or {snapshot: false, reason}.
globalThis.livepaneBoot = { snapshot: false, reason: snapURL ? "pending" : "no snapshot for this pyclient" };
export async function loadPyodide(options = {}) {
  if (snapshot) {
    try {
      const pyodide = await real.loadPyodide({ ...options, indexURL, _loadSnapshot: snapshot });
      globalThis.livepaneBoot = { snapshot: true };
      return pyodide;
    } catch (err) {
      globalThis.livepaneBoot = { snapshot: false, reason: String(err) };
      console.warn("livepane: booting without the snapshot:", err);
    }
  }
  return real.loadPyodide({ ...options, indexURL });
}
