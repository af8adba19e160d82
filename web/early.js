// livepane's first script (index.html's <head>, before the page's body is parsed): what the screens the page carries as
// HTML (livepane_server/preview_html.py) need before the first paint, and what the user types from then on until a
// terminal exists (web/preboot.js takes it). A script of its own, not inline: the page's CSP allows no inline script.
// Rules: it measures, records and marks, nothing else; it never draws, sends or decides, and never throws out of
// itself. It must stay small: the page's first paint waits for it.
"use strict";
(() => {
  // web/terminal.js's options and stored font size (tests/unit/test_early.py compares them).
  const FONT_FAMILY = "'DejaVu Sans Mono', 'Liberation Mono', ui-monospace, monospace";
  const FONT_SIZE = 14;
  const LINE_HEIGHT = 1.1;
  const FONT_SIZE_KEY = "livepane.fontSize";
  const FONT_SIZE_MIN = 8;
  const FONT_SIZE_MAX = 32;
  // livepane_server/preview_html.py ELEMENT_TIMING: the identifier of every screen in the page.
  const ELEMENT_TIMING = "livepane-screen";
  const SCREEN_MARK = "livepane:screen"; // for bench/: every screen in the page painted (its Element Timing)
  // Keys typed before a terminal exists: far more than anyone types in the second before it does.
  const MAX_KEYS = 4096;

  const api = {
    fontSize: FONT_SIZE,
    cellHeight: 0, // px, as xterm.js will compute it (0: not measured; the stylesheet's fallback applies)
    screensPainted: false, // the mark is set
    recorded: () => keys.length,
    // The keys recorded so far (KeyboardEvent fields, in order); recording stops: a terminal has the focus now.
    take() {
      recording = false;
      return keys.splice(0);
    },
  };
  globalThis.livepaneEarly = api;

  function storedFontSize() {
    try {
      const text = localStorage.getItem(FONT_SIZE_KEY);
      const size = Number(text);
      return text !== null && Number.isInteger(size) && size >= FONT_SIZE_MIN && size <= FONT_SIZE_MAX ? size : FONT_SIZE;
    } catch (error) {
      return FONT_SIZE; // storage refused (a sandboxed frame)
    }
  }

  // xterm.js 6's cell height: CharSizeService (TextMetricsMeasureStrategy: the font bounding box of "W"), then
  // DomRenderer._updateDimensions (device pixels: floor(ceil(height * dpr) * lineHeight)). The cell's width needs
  // no script: it is the font's advance, which the page's text has too (1ch).
  function cellHeight(fontSize) {
    const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(1, 1) : document.createElement("canvas");
    const context = canvas.getContext("2d");
    if (!context) return 0;
    context.font = `${fontSize}px ${FONT_FAMILY}`;
    const metrics = context.measureText("W");
    const height = metrics.fontBoundingBoxAscent + metrics.fontBoundingBoxDescent;
    if (!(height > 0)) return 0;
    const dpr = window.devicePixelRatio || 1;
    return Math.floor(Math.ceil(height * dpr) * LINE_HEIGHT) / dpr;
  }

  try {
    api.fontSize = storedFontSize();
    api.cellHeight = cellHeight(api.fontSize);
    const root = document.documentElement.style;
    root.setProperty("--livepane-font-size", `${api.fontSize}px`);
    if (api.cellHeight) root.setProperty("--livepane-cell-height", `${api.cellHeight}px`);
  } catch (error) {
    console.log(`livepane: the screens in the page keep the stylesheet's metrics (${error})`);
  }

  // Keys: only those aimed at the page itself (the focus is nowhere yet: no terminal exists), only while the page
  // shows a previewed pane. What a terminal would cancel is cancelled here too (Tab must not move the focus, Space
  // must not scroll); a key that makes a character keeps its keydown's default, so the browser makes its keypress
  // (xterm.js reads some keys there: it gets both, as it would have).
  const keys = [];
  let recording = true;
  function record(event) {
    try {
      if (!recording || event.isComposing || keys.length >= MAX_KEYS) return;
      if (event.target !== document.body && event.target !== document.documentElement) return;
      if (!document.querySelector("section.pane.preview")) return;
      const { type, key, code, keyCode, which, charCode, location, repeat } = event;
      const { ctrlKey, altKey, shiftKey, metaKey } = event;
      keys.push({ type, key, code, keyCode, which, charCode, location, repeat, ctrlKey, altKey, shiftKey, metaKey });
      if (type === "keypress" || key.length !== 1 || ctrlKey || metaKey) event.preventDefault();
    } catch (error) {
      console.log(`livepane: a key could not be recorded (${error})`);
    }
  }
  addEventListener("keydown", record, true);
  addEventListener("keypress", record, true);

  // The mark: Element Timing gives each screen's real paint time; livepane:screen is the latest of them, set once the
  // page is parsed (all its screens are known: not at DOMContentLoaded, which waits for the deferred scripts) and
  // every screen with the identifier has painted. (The server leaves it off a screen whose text Element Timing would
  // not report: only blanks, or all of it in blocks. With no screen carrying it, the mark is the animation frame
  // after the parse.)
  let painted = 0;
  let latest = 0;
  let observer = null;
  function mark(startTime) {
    if (api.screensPainted) return;
    api.screensPainted = true;
    if (observer) observer.disconnect();
    performance.mark(SCREEN_MARK, { startTime });
  }
  function check() {
    if (api.screensPainted || document.readyState === "loading") return;
    const screens = document.querySelectorAll("pre.pane-preview-screen").length;
    const expected = document.querySelectorAll(`pre.pane-preview-screen[elementtiming="${ELEMENT_TIMING}"]`).length;
    if (!screens) {
      if (observer) observer.disconnect();
    } else if (!expected || !observer) {
      requestAnimationFrame(() => mark(performance.now()));
    } else if (painted >= expected) {
      mark(latest);
    }
  }
  try {
    if (typeof PerformanceObserver === "function" && PerformanceObserver.supportedEntryTypes.includes("element")) {
      observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          if (entry.identifier !== ELEMENT_TIMING) continue;
          painted += 1;
          latest = Math.max(latest, entry.renderTime || entry.loadTime || 0);
        }
        check();
      });
      observer.observe({ type: "element", buffered: true });
    }
    document.addEventListener("readystatechange", check);
  } catch (error) {
    console.log(`livepane: no livepane:screen mark (${error})`);
  }
})();
