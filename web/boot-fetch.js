// The page's first script: starts, before the HTML below is parsed, the two big reads of the boot for
// web/pyodide-snap.mjs to take over (as livepaneBootFetch.wasm and livepaneBootFetch.snapshot):
// - Pyodide's wasm (data-wasm): its fetch(), which the module compiles. A fetch(), not a <link rel="preload">:
//   Chromium attaches V8's code cache for the wasm to a fetch()'s response, never to a preload's.
// - Pyodide's memory snapshot (data-snapshot: the sparse file web/make_snapshot.mjs wrote; empty for none), read
//   whole (Response.arrayBuffer()); pyodide-snap.mjs expands it. It used to be preloaded (<link rel="preload">) and
//   read when the module was evaluated, ~0.3-1 s later under load: Chromium held the preload's 17 MB in a buffer of
//   its own, then copied them again for the module's fetch. Read from here, it is read once, as it arrives.
// It runs in the <head>, inline (livepane_server/assets.py puts its text in the page: so it must never hold a
// closing script tag, an HTML comment's opening or a template's braces): both files are immutable, a warm load reads
// them from the cache without a request. It never throws: a failed read is pyodide-snap.mjs's to handle (it boots without the snapshot).
"use strict";
(() => {
  const script = document.currentScript;
  const here = (url) => new URL(url, document.baseURI).href;
  const wasm = script?.dataset.wasm;
  const snapshot = script?.dataset.snapshot;
  const started = (globalThis.livepaneBootFetch = {});
  if (wasm) {
    started.wasm = { url: here(wasm), response: fetch(wasm) };
    started.wasm.response.catch(() => {});
  }
  if (snapshot) {
    started.snapshot = { url: here(snapshot), bytes: fetch(snapshot).then((r) => {
      if (!r.ok) throw new Error(`snapshot ${snapshot}: HTTP ${r.status}`);
      return r.arrayBuffer();
    }) };
    started.snapshot.bytes.catch(() => {});
  }
  // Pyodide's JS as a classic script (index.html's #livepane-pyodide-asm, after this one): whether it loaded or
  // failed, recorded here, before its tag is parsed, so pyodide-snap.mjs never waits for an event that has already
  // fired. A script's load and error events do not bubble, but capturing listeners on the document see them; not on
  // the window: a load event's path ends at the document (DOM, "get the parent"), so there it is never seen.
  started.asm = new Promise((resolve) => {
    const settle = (event) => {
      if (event.target?.id !== "livepane-pyodide-asm") return;
      document.removeEventListener("load", settle, true);
      document.removeEventListener("error", settle, true);
      resolve(event.type);
    };
    document.addEventListener("load", settle, true);
    document.addEventListener("error", settle, true);
  });
})();
