// livepane's first script but one (index.html's <head>, before the page's body is parsed): what the screens the page
// carries as HTML (livepane_server/preview_html.py) need before the first paint, and what the user types from then on
// until a terminal exists (web/preboot.js takes it). The server puts its text in the page (index.html's inline
// placeholder; the page's policy allows exactly this text, by its sha256), so it must hold no end tag of a script,
// no comment opening and no template placeholder (livepane_server/assets.py INLINE_UNSAFE_RE; else it is left out).
// After the first frame it starts the rest of the page: index.html's after-paint template (the terminals' scripts,
// web/preboot.js, PyScript), which, named in the page, ran before that frame and delayed it.
// Rules: it measures, records, marks and starts the page's own scripts, nothing else; it never draws, sends or
// decides, and never throws out of itself. It must stay small: the page's first paint waits for it.
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
  // How long a screen its terminal replaced waits for its Element Timing entry (a busy page's come late) before the
  // terminal's frame counts instead.
  const REPLACED_WAIT_MS = 2000;
  // Keys typed before a terminal exists: far more than anyone types in the second before it does.
  const MAX_KEYS = 4096;
  // index.html's <template> of what is loaded after the first frame.
  const AFTER_PAINT_ID = "livepane-after-paint";

  const api = {
    fontSize: FONT_SIZE,
    cellHeight: 0, // px, as xterm.js will compute it (0: not measured; the stylesheet's fallback applies)
    screens: 0, // the screens the page carries as HTML (counted once it is parsed)
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

  // The mark: livepane:screen is when the last of the page's screens was first painted: by the HTML (its Element
  // Timing entry's renderTime, the real paint time), or, for a screen its terminal replaced before that entry came
  // (a warm page's terminal may take over in the very first frame), by the terminal (the frame it took over in:
  // preboot.js calls replaced()). The screens are known once the page is parsed (readyState "interactive"). The
  // server gives no identifier to a screen whose text Element Timing would not report (only blanks, or all of it in
  // blocks); such a screen counts at the first frame after the parse.
  const done = new Map(); // Element Timing identifier -> when that screen was first painted
  // A screen's identifier (on its rows up to the cursor: the text Element Timing reports is that block's), or null.
  const identifierOf = (screen) => {
    const timed = screen.querySelector("[elementtiming]");
    return timed && timed.getAttribute("elementtiming");
  };
  let pending = null; // identifiers still to be painted, once the page is parsed
  let observer = null;
  function settle(identifier, time) {
    if (waiting.has(identifier)) {
      waiting.get(identifier)[0].remove();
      waiting.delete(identifier);
    }
    if (api.screensPainted || done.has(identifier)) return;
    done.set(identifier, time);
    check();
  }
  function check() {
    if (api.screensPainted || document.readyState === "loading") return;
    if (pending === null) {
      const screens = Array.from(document.querySelectorAll("pre.pane-preview-screen"));
      api.screens = screens.length;
      const named = screens.map(identifierOf).filter(Boolean);
      pending = new Set(observer ? named : []);
      if (named.length < screens.length || !observer) requestAnimationFrame(() => settle("", performance.now()));
      else done.set("", 0);
      if (!screens.length && observer) observer.disconnect();
    }
    if (!api.screens || !done.has("") || [...pending].some((identifier) => !done.has(identifier))) return;
    api.screensPainted = true;
    if (observer) observer.disconnect();
    performance.mark(SCREEN_MARK, { startTime: Math.max(...done.values()) });
  }
  function entries(list) {
    for (const entry of list) {
      if (entry.identifier.startsWith(ELEMENT_TIMING)) settle(entry.identifier, entry.renderTime || entry.loadTime);
    }
  }
  // A screen's terminal took its place (web/preboot.js, in the frame the terminal paints; the screen is hidden).
  // The screen stays in the page until its Element Timing entry came: Chromium drops the entry of text whose layout
  // is gone, and a busy page (Pyodide starting) gets its paint's entry late. Past REPLACED_WAIT_MS without it, the
  // terminal's frame counts.
  const waiting = new Map(); // identifier -> [the screen, the frame its terminal took over in]
  api.replaced = (screen) => {
    const identifier = identifierOf(screen);
    if (observer) entries(observer.takeRecords());
    if (!identifier || !observer || done.has(identifier)) {
      screen.remove();
      if (identifier) settle(identifier, performance.now());
      return;
    }
    waiting.set(identifier, [screen, performance.now()]);
    setTimeout(() => {
      if (waiting.has(identifier)) settle(identifier, waiting.get(identifier)[1]);
    }, REPLACED_WAIT_MS);
  };
  try {
    if (typeof PerformanceObserver === "function" && PerformanceObserver.supportedEntryTypes.includes("element")) {
      observer = new PerformanceObserver((list) => entries(list.getEntries()));
      observer.observe({ type: "element", buffered: true });
    }
    document.addEventListener("readystatechange", check);
  } catch (error) {
    console.log(`livepane: no livepane:screen mark (${error})`);
  }

  // The rest of the page, after the first frame (a requestAnimationFrame callback runs just before that frame's
  // paint; a task queued from it runs after it) and once the page is parsed: the after-paint template's content goes
  // into the <head>, its preloads start and its scripts run in the template's order (async=false: the order of
  // scripts inserted by a script, classic and module alike). A page that is not shown gets no frame: it starts them
  // once it is parsed.
  function startAfterPaint() {
    const template = document.getElementById(AFTER_PAINT_ID);
    if (!template || !template.content) return;
    const content = document.importNode(template.content, true);
    for (const script of content.querySelectorAll("script")) script.async = false;
    template.remove();
    document.head.append(content);
  }
  function whenParsed() {
    try {
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", whenParsed, { once: true });
      else startAfterPaint();
    } catch (error) {
      console.log(`livepane: the page's scripts could not be started (${error})`);
    }
  }
  if (document.visibilityState === "visible") requestAnimationFrame(() => setTimeout(whenParsed, 0));
  else whenParsed();
})();
