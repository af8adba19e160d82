// PyScript's "interpreter": stands in for pyodide.mjs and boots Pyodide from a memory snapshot taken with pyclient
// imported (`make snapshot`), which skips the interpreter start (~3 s -> ~0.5 s, docs/benchmarks.md).
// PyScript 0.7.31 calls loadPyodide({stdout, stderr, indexURL}) with no way to add options, and derives indexURL
// from this module's folder; so this module restores the real indexURL and adds _loadSnapshot.
// Query (templated by serve.py): ?index=./vendor/pyodide@V/&snap=URL. An empty snap, or a snapshot that fails to
// download or restore, means a plain boot.
// Both are relative to the page, like every URL serve.py templates, so the page works under a proxy's path prefix
// (docs/deploy.md); import() would resolve them against this module's folder instead, so resolve them here.
const params = new URL(import.meta.url).searchParams;
const pageURL = globalThis.document?.baseURI ?? import.meta.url;
const fromPage = (url) => (url ? new URL(url, pageURL).href : url);
const indexURL = fromPage(params.get("index"));
const snapURL = fromPage(params.get("snap"));
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
