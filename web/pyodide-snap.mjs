// PyScript's "interpreter": stands in for pyodide.mjs and boots Pyodide from a memory snapshot taken with pyclient
// imported (`make snapshot`), which skips the interpreter start (~3 s -> ~0.5 s, docs/benchmarks.md).
// PyScript 0.7.31 calls loadPyodide({stdout, stderr, indexURL}) with no way to add options, and derives indexURL
// from this module's folder; so this module restores the real indexURL and adds _loadSnapshot.
// Query (templated by serve.py): ?v=HASH&index=./vendor/pyodide@V/&snap=URL. An empty snap, or a snapshot that fails
// to download or restore, means a plain boot.
// Both are relative to the page, like every URL serve.py templates, so the page works under a proxy's path prefix
// (docs/deploy.md); import() would resolve them against this module's folder instead, so resolve them here.
//
// The boot starts when this module is evaluated, not when PyScript asks for it: index.html's <head> imports this
// module (the same URL as pyscript.json's "interpreter", so one module instance) as soon as the HTML is parsed,
// while PyScript is still loading, reading its config and opening its IndexedDB storage (~0.3 s warm, all in
// series before its loadPyodide call). PyScript's loadPyodide then adopts the boot already under way and plugs
// its stdout/stderr into it; output written before that goes to the console.
//
// The wasm is compiled here too, while the snapshot downloads (Pyodide would start compiling only once the snapshot
// has arrived), from the fetch() web/boot-fetch.js, the page's first script, started; that script also started the
// snapshot's read, which this module takes over (without it, as under bench/'s loader, it starts both itself). The
// compiled module is handed to Pyodide's own fetch and instantiateStreaming of it (handWasmToPyodide). From a
// fetch(), not a <link rel="preload">: Chromium attaches V8's code cache for the wasm to a fetch()'s response and
// never to a preload's (measured, Chromium 156: with the preload no warm load ever had a code cache hit, so each
// compiled ~1,650 functions again on the main thread; tests/e2e/test_boot.py).
const params = new URL(import.meta.url).searchParams;
const pageURL = globalThis.document?.baseURI ?? import.meta.url;
const fromPage = (url) => (url ? new URL(url, pageURL).href : url);
const indexURL = fromPage(params.get("index"));
const snapURL = fromPage(params.get("snap"));
const mark = (name) => globalThis.performance?.mark?.(name);
mark("livepane:boot-start");
// The snapshot's bytes as web/boot-fetch.js started reading them (for this URL), else read from here.
const early = globalThis.livepaneBootFetch ?? {};
const snapshot = snapURL ? (early.snapshot?.url === snapURL ? early.snapshot.bytes : fetch(snapURL).then((r) => {
  if (!r.ok) throw new Error(`snapshot ${snapURL}: HTTP ${r.status}`);
  return r.arrayBuffer();
})).then(expand) : null;
snapshot?.catch(() => {});  // handled in boot(); never an unhandled rejection
// The snapshot as Pyodide made it, from the file web/make_snapshot.mjs (sparse) wrote: its all-zero pages left out
// there are put back here (a new buffer is zero-filled). A file without the magic is a whole snapshot (an older one).
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
const wasmURL = indexURL + "pyodide.asm.wasm";
// web/boot-fetch.js started this fetch as the page's first script; without it (or for another URL), fetch it now.
const wasmResponse = early.wasm?.url === wasmURL ? early.wasm.response : fetch(wasmURL);
const wasmModule = WebAssembly.compileStreaming(wasmResponse);
wasmModule.catch(() => {});  // handWasmToPyodide falls back to Pyodide's own compile
const real = await import(indexURL + "pyodide.mjs");
// Pyodide's factory (pyodide.asm.mjs's default export) from its classic copy, which index.html's <head> loads
// before this module (a classic script reads V8's code cache, a module never does: livepane_server/pyodide_classic.py);
// without that script, or if it failed or defined nothing, from the module, as Pyodide itself would import it.
const asmModuleURL = indexURL + "pyodide.asm.mjs";
globalThis.livepanePyodideAsmURL = asmModuleURL;  // the classic copy's import.meta.url
const asmScript = globalThis.document?.getElementById("livepane-pyodide-asm");
const createPyodideModule = (async () => {
  // web/boot-fetch.js recorded the script's load or error (either may have fired before this module runs).
  if (asmScript && !globalThis.livepaneCreatePyodideModule && early.asm) await early.asm;
  const factory = globalThis.livepaneCreatePyodideModule;
  if (typeof factory === "function") {
    globalThis.livepanePyodideAsm = "classic";  // for tests: which of the two Pyodide ran
    return factory;
  }
  globalThis.livepanePyodideAsm = "module";
  return (await import(asmModuleURL)).default;
})();
export const version = real.version;
// How this page booted, for tests and benchmarks: {snapshot: true} or {snapshot: false, reason}.
globalThis.livepaneBoot = { snapshot: false, reason: snapURL ? "pending" : "no snapshot for this pyclient" };

// PyScript's streams once it has called loadPyodide (null: the console's).
const io = { stdout: null, stderr: null };
const streams = {
  stdout: (...args) => (io.stdout ?? console.log)(...args),
  stderr: (...args) => (io.stderr ?? console.error)(...args),
};

// While `load` runs, Pyodide's fetch of the wasm gets a stand-in and its instantiateStreaming of that stand-in gets
// an instance of the module compiled above (Pyodide 314 makes exactly these two calls, and no option replaces them);
// every other call goes through. If the early compile failed, Pyodide fetches and compiles the wasm itself.
async function handWasmToPyodide(load) {
  const nativeFetch = globalThis.fetch;
  const nativeInstantiate = WebAssembly.instantiateStreaming;
  const standIn = Promise.resolve(null);
  let handed = false; // once: a wrapper someone installs meanwhile keeps calling this one after `load`
  function fetch(input, init) {
    if (handed || String(input?.url ?? input) !== wasmURL) return nativeFetch.call(this, input, init);
    handed = true;
    return standIn;
  }
  async function instantiateStreaming(source, imports) {
    if (source !== standIn) return nativeInstantiate.call(WebAssembly, source, imports);
    let module;
    try {
      module = await wasmModule;
    } catch {
      return nativeInstantiate.call(WebAssembly, nativeFetch(wasmURL), imports);
    }
    return { module, instance: await WebAssembly.instantiate(module, imports) };
  }
  globalThis.fetch = fetch;
  WebAssembly.instantiateStreaming = instantiateStreaming;
  try {
    return await load();
  } finally {
    if (globalThis.fetch === fetch) globalThis.fetch = nativeFetch;
    if (WebAssembly.instantiateStreaming === instantiateStreaming) WebAssembly.instantiateStreaming = nativeInstantiate;
  }
}

async function boot() {
  if (snapshot) {
    try {
      const pyodide = await handWasmToPyodide(() => real.loadPyodide({ ...streams, createPyodideModule, indexURL, _loadSnapshot: snapshot }));
      globalThis.livepaneBoot = { snapshot: true };
      return pyodide;
    } catch (err) {
      globalThis.livepaneBoot = { snapshot: false, reason: String(err) };
      console.warn("livepane: booting without the snapshot:", err);
    }
  }
  return handWasmToPyodide(() => real.loadPyodide({ ...streams, createPyodideModule, indexURL }));
}

const booting = boot().finally(() => mark("livepane:pyodide-ready"));
booting.catch(() => {});  // PyScript's loadPyodide call gets the rejection; none goes unhandled before it

// The options PyScript passes, beyond its streams: indexURL (this module's folder: wrong, see above) and, only for a
// config with "packages" (pyscript.json has none), package options a snapshot boot could not honour anyway.
const ADOPTED_OPTIONS = new Set(["stdout", "stderr", "indexURL"]);

export function loadPyodide(options = {}) {
  mark("livepane:pyscript-adopts");
  const ignored = Object.keys(options).filter((key) => !ADOPTED_OPTIONS.has(key));
  if (ignored.length) console.warn("livepane: loadPyodide options ignored by the early boot:", ignored.join(", "));
  io.stdout = options.stdout ?? null;
  io.stderr = options.stderr ?? null;
  return booting;
}
