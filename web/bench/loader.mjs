// Bench-only: what index.html would do without PyScript. Loads Pyodide directly (from a memory snapshot when the
// page names one), writes pyclient into /home/pyodide, and runs web/main.py, as PyScript would.
// The page gives: <meta name="livepane-pyodide" content="/vendor/pyodide@V"> and optionally
// <meta name="livepane-snapshot" content="URL">.
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
const PYODIDE = meta("livepane-pyodide") + "/";
const snapURL = meta("livepane-snapshot");
const MODULES = ["__init__", "protocol", "reconnect", "pane", "browser"];
// Every download starts now, side by side with pyodide.mjs and the wasm.
const snapshot = snapURL ? fetch(snapURL).then((r) => r.arrayBuffer()) : undefined;
const sources = Promise.all(MODULES.map((m) => fetch(`/pyclient/${m}.py`).then((r) => r.text())));
const mainPy = fetch("/static/main.py").then((r) => r.text());
const { loadPyodide } = await import(PYODIDE + "pyodide.mjs");
const py = await loadPyodide(snapshot ? { indexURL: PYODIDE, _loadSnapshot: snapshot } : { indexURL: PYODIDE });
py.FS.mkdirTree("/home/pyodide/pyclient");
(await sources).forEach((text, i) => py.FS.writeFile(`/home/pyodide/pyclient/${MODULES[i]}.py`, text));
performance.mark("livepane:python-ready");
await py.runPythonAsync(await mainPy);
