// Starts the fetch of Pyodide's wasm as the page's first script, before the HTML below is parsed, for
// web/pyodide-snap.mjs to compile (as livepaneBootFetch.wasm). A fetch(), not a <link rel="preload">: Chromium
// attaches V8's code cache for the wasm to a fetch()'s response, never to a preload's. It runs synchronously in the
// <head> (the file is immutable: a warm load reads it from the cache without a request), so the 9.6 MB read starts
// beside the preloads instead of when the module is evaluated, ~0.3-0.6 s later. It only fetches; it never throws.
"use strict";
(() => {
  const url = document.currentScript?.dataset.wasm;
  if (!url) return;
  const wasm = { url: new URL(url, document.baseURI).href, response: fetch(url) };
  wasm.response.catch(() => {}); // pyodide-snap.mjs compiles from its own fetch if this one failed
  globalThis.livepaneBootFetch = { wasm };
})();
