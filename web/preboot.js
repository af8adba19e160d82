// livepane before Python: paints the screens the page carries (livepane_server/preview.py) and records the keys typed
// into them, until pyclient/browser.py adopts each pane (livepanePreboot.take) and its terminal, input and ticket.
// Rules: it only paints and records, in plain JavaScript; every decision (which panes are kept, what the recorded keys
// become, whether the page's ticket is still good) is Python's. It runs once, after the first frame, after
// web/terminal.js (whose livepaneTerminal.create makes each terminal) and before PyScript's core.js (index.html's
// after-paint template, which web/early.js starts); it never throws out of itself.
"use strict";
(() => {
  const PREVIEW_VERSION = 1; // livepane_server/preview.py PREVIEW_VERSION
  const SCREEN_MARK = "livepane:screen"; // for bench/: every previewed screen painted (web/early.js, from the HTML)
  const TERMINAL_MARK = "livepane:screen-terminal"; // every previewed screen painted by its terminal

  // session -> {root, pane} until built, then {root, host, term, fit, input, ticket, listeners}
  const previews = new Map();
  const api = {
    painted: false, // every previewed screen was painted by its terminal (TERMINAL_MARK is set)
    template: null, // the page's placeholder pane (the one pane template), taken out once previews took its place
    ticketTtlMs: 0,
    // The navigation's requestStart: the server minted the page's tickets after it, so they expire no earlier than
    // requestStartMs + ticketTtlMs (performance.now() time).
    requestStartMs: 0,
    sessions: () => Array.from(previews.keys()), // built or still to be built
    // The preview's visible rows as text (for tests and benchmarks).
    screen(session) {
      const preview = previews.get(String(session));
      if (!preview || !preview.term) return "";
      const buffer = preview.term.buffer.active;
      const rows = [];
      for (let y = buffer.viewportY; y < buffer.viewportY + preview.term.rows; y++) {
        const line = buffer.getLine(y);
        rows.push(line ? line.translateToString(true) : "");
      }
      return rows.join("\n").replace(/\n+$/, "");
    },
    recorded(session) {
      const preview = previews.get(String(session));
      return preview && preview.input ? preview.input.length : 0;
    },
    // Python's adoption: the pane's root and terminal, and what was typed into it ([kind, data] in order); the
    // recording stops here. null if the page painted no preview for the session (or it was taken already).
    take(session) {
      build(String(session));
      const preview = previews.get(String(session));
      if (!preview) return null;
      previews.delete(String(session));
      for (const listener of preview.listeners.splice(0)) listener.dispose();
      const { root, host, term, fit, input, ticket } = preview;
      return { root, host, term, fit, input, ticket: typeof ticket === "string" ? ticket : "" };
    },
  };
  globalThis.livepanePreboot = api;

  function blob() {
    const element = document.getElementById("livepane-preview");
    if (!element) return null;
    try {
      const value = JSON.parse(element.textContent);
      return value && value.version === PREVIEW_VERSION && Array.isArray(value.panes) ? value : null;
    } catch (error) {
      console.log(`livepane: the page's preview is unreadable (${error})`);
      return null;
    }
  }

  // One preview's paint is parsed (or it failed); xterm draws it in its next animation frame, and the mark's callback
  // (queued after xterm's) runs after that drawing.
  let unpainted = 0;
  function onePainted() {
    if (--unpainted === 0) {
      requestAnimationFrame(() => {
        api.painted = true;
        performance.mark(TERMINAL_MARK);
        // A page whose previews came without their HTML: the terminals painted the screens.
        if (!performance.getEntriesByName(SCREEN_MARK).length && !(globalThis.livepaneEarly || {}).screens) {
          performance.mark(SCREEN_MARK);
        }
      });
    }
  }

  // The preview's terminal: sized, painted, recording. A preview that cannot be built is taken off the page.
  function build(session) {
    const preview = previews.get(session);
    if (!preview || preview.term) return;
    const { pane, root } = preview;
    try {
      const { host, term, fit } = livepaneTerminal.create(root.querySelector(".pane-body"));
      // The size the live terminal will have (Python fits it to the same place): no jump when it takes over.
      // Without a place to measure, tmux's own size. The paint is written at tmux's size, then the terminal is
      // fitted (paintAtTmuxSize): shrinking cuts what does not fit, as the HTML screen is cut.
      const proposed = fit.proposeDimensions();
      const columns = proposed && proposed.cols > 0 ? proposed.cols : Number(pane.columns) || term.cols;
      const rows = proposed && proposed.rows > 0 ? proposed.rows : Number(pane.rows) || term.rows;
      const fitted = paintAtTmuxSize(term, pane, columns, rows);
      const input = [];
      const listeners = [
        term.onData((data) => input.push(["data", data])),
        term.onBinary((data) => input.push(["binary", data])),
      ];
      Object.assign(preview, { host, term, fit, input, listeners, ticket: pane.ticket });
      delete preview.pane;
      const takeOver = takeOverFromHtml(root, host, term);
      term.write(String(pane.paint || ""), () => {
        fitted();
        takeOver();
        onePainted();
      });
    } catch (error) {
      console.log(`livepane: the preview of ${session} could not be painted (${error})`);
      root.remove();
      previews.delete(session);
      onePainted();
      if (!previews.size && api.template && !api.template.isConnected) {
        const panes = document.getElementById("panes");
        if (panes) panes.prepend(api.template);
      }
    }
  }

  // The HTML screens (livepane_server/preview_html.py) -------------------------------------------------------------

  // The pane the server wrote for a session, its screen in it as HTML (the template's clone, as Python's Slot makes).
  function servedPane(panes, session) {
    for (const root of panes.querySelectorAll("section.pane.preview")) {
      if (root.dataset.session === session && !previews.has(session)) return root;
    }
    return null;
  }

  // The terminal replaces the pane's HTML screen without a visible jump: the terminal is drawn (transparent, still
  // focusable) under it until its paint is parsed; in the animation frame after that, which is the frame xterm draws
  // the paint in (its render was asked for first), the HTML goes and the terminal shows. The keys typed before any
  // terminal existed (web/early.js) go to the first one, through xterm's own key handling: they become exactly the
  // data a live key would. Returns what to call once the paint is parsed.
  let earlyKeysTaken = false;
  function takeOverFromHtml(root, host, term) {
    if (!earlyKeysTaken && globalThis.livepaneEarly) {
      earlyKeysTaken = true;
      try {
        replayKeys(term, globalThis.livepaneEarly.take());
      } catch (error) {
        console.log(`livepane: the keys typed before the terminal could not be given to it (${error})`);
      }
    }
    const screen = root.querySelector(".pane-preview-screen");
    if (!screen) return () => {};
    host.style.opacity = "0";
    return () =>
      requestAnimationFrame(() => {
        screen.style.visibility = "hidden";
        host.style.opacity = "";
        // web/early.js removes it once its paint is timed (livepane:screen); without it, now.
        if (globalThis.livepaneEarly) globalThis.livepaneEarly.replaced(screen);
        else screen.remove();
      });
  }

  // A paint is for a terminal of tmux's size: on a smaller one, autowrap off draws what is past the last column (or
  // row) over it. So the terminal takes tmux's size (if larger) for the paint, and the returned function, called once
  // it is parsed, fits it: xterm cuts the columns past the edge (its reflow, which would wrap them onto the next
  // rows instead, is off for that one resize: windowsMode) and drops rows below the cursor, then from the top, which
  // web/livepane.css copies for the HTML screen.
  function paintAtTmuxSize(term, pane, columns, rows) {
    const wide = Math.max(columns, Number(pane.columns) || 0);
    const tall = Math.max(rows, Number(pane.rows) || 0);
    term.resize(wide, tall);
    return () => {
      if (term.cols === columns && term.rows === rows) return;
      const reflow = !term.options.windowsMode;
      if (reflow) term.options.windowsMode = true;
      try {
        term.resize(columns, rows);
      } finally {
        if (reflow) term.options.windowsMode = false;
      }
    };
  }

  // Recorded KeyboardEvent fields -> the same events on xterm's textarea, in order. A keypress follows its keydown
  // only if xterm did not cancel that keydown, as in the browser (xterm reads A-Z and a few others there).
  function replayKeys(term, keys) {
    const textarea = term.textarea;
    if (!textarea || !keys.length) return;
    let keydownCancelled = false;
    for (const recorded of keys) {
      if (recorded.type === "keypress" && keydownCancelled) continue;
      const { type, keyCode, which, charCode, ...init } = recorded;
      const event = new KeyboardEvent(type, { ...init, bubbles: true, cancelable: true, composed: true });
      // The legacy codes (xterm still reads them) are not KeyboardEventInit members everywhere.
      for (const [name, value] of Object.entries({ keyCode, which, charCode })) {
        Object.defineProperty(event, name, { get: () => value });
      }
      const notCancelled = textarea.dispatchEvent(event);
      if (type === "keydown") keydownCancelled = !notCancelled;
    }
  }

  function paint(data) {
    const panes = document.getElementById("panes");
    const placeholder = panes && panes.querySelector("section.pane.placeholder");
    const wanted = data.panes.filter((pane) => pane && typeof pane.session === "string" && pane.session);
    if (!placeholder || !wanted.length || !globalThis.livepaneTerminal) return;
    api.ticketTtlMs = Number(data.ticket_ttl_ms) || 0;
    const navigation = performance.getEntriesByType("navigation")[0];
    api.requestStartMs = navigation ? navigation.requestStart : 0;
    // Every pane in the grid before any terminal measures its place, so each fits the size it keeps.
    api.template = placeholder;
    placeholder.remove();
    const made = [];
    for (const pane of wanted) {
      if (previews.has(pane.session)) continue;
      const served = servedPane(panes, pane.session);
      if (served) {
        previews.set(pane.session, { root: served, pane });
        made.push(pane.session);
        continue;
      }
      // As pyclient/browser.py's Slot does: the template's clone, its own terminal host instead of the template's.
      const root = placeholder.cloneNode(true);
      root.classList.remove("placeholder");
      root.classList.add("preview");
      root.dataset.session = pane.session;
      root.dataset.state = "connecting";
      root.dataset.stale = "true";
      root.querySelector(".pane-name").textContent = pane.session;
      root.querySelector(".pane-term").remove();
      panes.appendChild(root);
      previews.set(pane.session, { root, pane });
      made.push(pane.session);
    }
    unpainted = made.length;
    // The first pane after the first frame: the screens in the page's HTML paint without waiting for a terminal
    // (warm first paint 304-310 vs 326-348 ms in two A/Bs); each other one in a task of its own, so PyScript (the
    // next script) starts loading Python between them instead of after all of them (a terminal costs
    // ~20-80 ms here). take() builds one not yet built at once.
    const first = () => {
      build(made[0]);
      if (previews.has(made[0])) previews.get(made[0]).term.focus(); // Python focuses the first pane too
      setTimeout(next, 0);
    };
    const rest = made.slice(1);
    const next = () => {
      if (!rest.length) return;
      build(rest.shift());
      setTimeout(next, 0);
    };
    requestAnimationFrame(() => setTimeout(first, 0));
  }

  try {
    const data = blob();
    if (data) paint(data);
  } catch (error) {
    console.log(`livepane: the preview could not be painted (${error})`);
  }
})();
