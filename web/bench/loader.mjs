// Bench-only: what index.html would do without PyScript. Boots Pyodide through the page's interpreter module
// (web/pyodide-snap.mjs, which sets globalThis.livepaneBoot), writes pyscript.json's "files" (pyclient) into
// /home/pyodide, and runs web/main.py, as PyScript would. The page gives: <meta name="livepane-pyodide"
// content="./vendor/pyodide@V"> and <meta name="livepane-snapshot" content="URL"> (empty: a plain boot). serve.py
// templates URLs relative to the page, and "files" relative to pyscript.json, as PyScript resolves them: resolved
// here the same way (import() alone would use this module's folder).
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
const fromPage = (url) => new URL(url, document.baseURI).href;
const configURL = fromPage("./static/pyscript.json");
const files = fetch(configURL).then((r) => r.json()).then((config) => Promise.all(
  Object.entries(config.files).map(async ([url, dest]) => [dest, await (await fetch(new URL(url, configURL))).text()])));
const mainPy = fetch(fromPage("./static/main.py")).then((r) => r.text());
// The page's own interpreter module (web/pyodide-snap.mjs: the snapshot, the wasm from V8's code cache, its
// livepaneBoot), given the query serve.py templates for PyScript: only PyScript is left out.
const query = new URLSearchParams({ index: meta("livepane-pyodide") + "/", snap: meta("livepane-snapshot") || "" });
const { loadPyodide } = await import(fromPage("./static/pyodide-snap.mjs") + "?" + query);
const py = await loadPyodide();
py.FS.mkdirTree("/home/pyodide/pyclient");
for (const [dest, text] of await files) py.FS.writeFile("/home/pyodide/" + dest.replace(/^\.\//, ""), text);
await py.runPythonAsync(await mainPy);
