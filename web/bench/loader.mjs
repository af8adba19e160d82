// Bench-only: what index.html would do without PyScript. Loads Pyodide directly from the page's memory snapshot
// (web/snapshot, the one PyScript's boot restores), writes pyscript.json's "files" (pyclient) into /home/pyodide,
// and runs web/main.py, as PyScript would. The page gives: <meta name="livepane-pyodide" content="./vendor/pyodide@V">
// and <meta name="livepane-snapshot" content="URL"> (empty: a plain boot). Sets globalThis.livepaneBoot like
// web/pyodide-snap.mjs does. serve.py templates URLs relative to the page, and "files" relative to pyscript.json,
// as PyScript resolves them: resolved here the same way (import() alone would use this module's folder).
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
const fromPage = (url) => new URL(url, document.baseURI).href;
const PYODIDE = fromPage(meta("livepane-pyodide") + "/");
const snapURL = meta("livepane-snapshot") ? fromPage(meta("livepane-snapshot")) : "";
// Every download starts now, side by side with pyodide.mjs and the wasm.
const snapshot = snapURL ? fetch(snapURL).then((r) => {
  if (!r.ok) throw new Error(`snapshot ${snapURL}: HTTP ${r.status}`);
  return r.arrayBuffer().then(expand);
}) : undefined;
// The snapshot from its sparse file (web/make_snapshot.mjs): the same as web/pyodide-snap.mjs's expand.
function expand(buffer) {
  const file = new Uint8Array(buffer);
  const magic = "LPSNAP1\n";
  if (file.length < 16 || [...magic].some((c, i) => file[i] !== c.charCodeAt(0))) return file;
  const view = new DataView(buffer);
  const count = view.getUint32(12, true);
  const snapshot = new Uint8Array(view.getUint32(8, true));
  let at = 16 + 8 * count;
  for (let i = 0; i < count; i++) {
    const offset = view.getUint32(16 + 8 * i, true), length = view.getUint32(20 + 8 * i, true);
    snapshot.set(file.subarray(at, at + length), offset);
    at += length;
  }
  return snapshot;
}
const configURL = fromPage("./static/pyscript.json");
const files = fetch(configURL).then((r) => r.json()).then((config) => Promise.all(
  Object.entries(config.files).map(async ([url, dest]) => [dest, await (await fetch(new URL(url, configURL))).text()])));
const mainPy = fetch(fromPage("./static/main.py")).then((r) => r.text());
const { loadPyodide } = await import(PYODIDE + "pyodide.mjs");
const py = await loadPyodide(snapshot ? { indexURL: PYODIDE, _loadSnapshot: snapshot } : { indexURL: PYODIDE });
globalThis.livepaneBoot = snapshot ? { snapshot: true } : { snapshot: false, reason: "no snapshot for this pyclient" };
py.FS.mkdirTree("/home/pyodide/pyclient");
for (const [dest, text] of await files) py.FS.writeFile("/home/pyodide/" + dest.replace(/^\.\//, ""), text);
await py.runPythonAsync(await mainPy);
