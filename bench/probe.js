// Injected by bench/harness.py (Stack.browser) before any page script (Playwright add_init_script, so the page's CSP
// does not apply). It observes, it never steers: every WebSocket's open/close/first frame/bytes, every xterm Terminal
// and its parse events, PyScript's lifecycle events, all in the page's clock (performance.now()).
//
// window.__bench:
//   sockets[]       {url, created, open, firstMessage, firstOutput, closed, code, messages, bytes, outputBytes,
//                    session}
//   terms[]         {term, session, parsed: count}
//   events{}        name -> first performance.now() (py:ready, py:done, ...)
//   watch(fn)       fn(termRecord, now) runs after every parse of every terminal until it returns true
(() => {
  const B = (window.__bench = { sockets: [], terms: [], events: {}, watchers: [], keys: [] });
  const now = () => performance.now();
  B.mark = (name) => { if (!(name in B.events)) B.events[name] = now(); };

  // ---- WebSocket: wrap the constructor, keep the prototype so instanceof and constants still work.
  const NativeWS = window.WebSocket;
  const handlers = new WeakMap();  // socket record -> the page's onmessage handler (for B.replay)
  function BenchWS(url, protocols) {
    const ws = protocols === undefined ? new NativeWS(url) : new NativeWS(url, protocols);
    const rec = { url: String(url), created: now(), open: null, firstMessage: null, firstOutput: null, closed: null,
      code: null, messages: 0, bytes: 0, outputBytes: 0, session: decodeURIComponent(String(url).split("/ws/")[1]?.split("?")[0] || window.__benchSession || "") };
    B.sockets.push(rec);
    // Keep the page's own onmessage handler, so B.replay can feed it frames without tmux or the network.
    const desc = Object.getOwnPropertyDescriptor(NativeWS.prototype, "onmessage");
    Object.defineProperty(ws, "onmessage", {
      configurable: true,
      get() { return desc.get.call(ws); },
      set(fn) { handlers.set(rec, fn); desc.set.call(ws, fn); },  // kept apart: recs must stay serializable
    });
    ws.addEventListener("open", () => { rec.open = now(); });
    ws.addEventListener("close", (e) => { rec.closed = now(); rec.code = e.code; });
    ws.addEventListener("message", (e) => {
      const t = now();
      if (rec.firstMessage === null) rec.firstMessage = t;
      const d = e.data;
      const n = d instanceof ArrayBuffer ? d.byteLength : (typeof d === "string" ? d.length : (d && d.size) || 0);
      rec.messages += 1;
      rec.bytes += n;
      let isOutput = false;
      if (d instanceof ArrayBuffer && n > 1) isOutput = new Uint8Array(d, 0, 1)[0] === 0x30;  // "0" + bytes
      // WeTTY speaks socket.io: text frames, its terminal output an event ("42" + ["data", ...]).
      else if (typeof d === "string") isOutput = d.startsWith("42");
      if (isOutput) {
        rec.outputBytes += n - 1;
        if (rec.firstOutput === null) rec.firstOutput = t;
      }
    });
    return ws;
  }
  BenchWS.prototype = NativeWS.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) BenchWS[k] = NativeWS[k];
  window.WebSocket = BenchWS;

  // ---- fetch: every request's start, end and status (or error): failed ticket fetches are failed attempts.
  B.fetches = [];
  const nativeFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const rec = { url: String(input && input.url || input), start: now(), end: null, status: null, error: null };
    B.fetches.push(rec);
    return nativeFetch(input, init).then(
      (r) => { rec.end = now(); rec.status = r.status; return r; },
      (e) => { rec.end = now(); rec.error = String(e); throw e; });
  };

  // ---- xterm: catch the global Terminal class as the UMD bundle assigns it, and hook open().
  // adopt(term, session): watch a terminal the page did not create through the global class (peers bundle xterm).
  const adopt = (B.adopt = (term, session) => {
    if (term.__benchAdopted) return;
    term.__benchAdopted = true;
    const rec = { term, session, parsed: 0, opened: now() };
    B.terms.push(rec);
    term.onWriteParsed(() => {
        rec.parsed += 1;
        // The live prompt: parsed once the session's socket has delivered output (a preview painted from the page,
        // web/preboot.js, shows the prompt before any socket: that is the "screen", not the prompt).
        if (rec.prompt === undefined && window.__benchPrompt && B.sockets.some((s) => s.session === rec.session &&
            s.firstOutput !== null) && B.cursorLine(term).includes(window.__benchPrompt)) {
          rec.prompt = now();
          B.mark("prompt:" + rec.session);
          requestAnimationFrame(() => B.mark("prompt-frame:" + rec.session));
        }
        if (B.watchers.length) {
          const t = now();
          B.watchers = B.watchers.filter((w) => { try { return !w(rec, t); } catch (err) { return false; } });
        }
      });
  });
  const hookTerminal = (T) => {
    if (!T || !T.prototype || T.prototype.__benchHooked) return;
    const open = T.prototype.open;
    T.prototype.open = function (parent) {
      const r = open.apply(this, arguments);
      // livepane opens xterm inside a shadow root (pyclient/browser.py): climb out of it to the pane.
      let holder = null;
      for (let node = parent; node && !holder; node = node.getRootNode && node.getRootNode().host) {
        holder = node.closest ? node.closest("[data-session]") : null;
      }
      adopt(this, holder ? holder.dataset.session : (window.__benchSession || ""));
      return r;
    };
    T.prototype.__benchHooked = true;
  };
  let TerminalClass;
  Object.defineProperty(window, "Terminal", {
    configurable: true,
    get() { return TerminalClass; },
    set(v) { TerminalClass = v; hookTerminal(v); },
  });

  // Peers expose their terminal as a global (ttyd: window.term, WeTTY: window.wetty_term): adopt it when assigned.
  for (const name of ["term", "wetty_term"]) {
    let value;
    Object.defineProperty(window, name, {
      configurable: true,
      get() { return value; },
      set(v) {
        value = v;
        if (v && typeof v.onWriteParsed === "function") adopt(v, window.__benchSession || "");
      },
    });
  }

  B.watch = (fn) => { B.watchers.push(fn); };
  B.term = (session) => {
    for (let i = B.terms.length - 1; i >= 0; i--) if (B.terms[i].session === session) return B.terms[i].term;
    return null;
  };
  // The screen as logical lines: a line xterm wrapped (narrow panes: 50 side by side) is joined back together.
  B.lines = (term) => {
    const buf = term.buffer.active, out = [];
    let y = buf.viewportY;
    while (y > 0 && buf.getLine(y)?.isWrapped) y--;
    let cur = null;
    for (; y < buf.viewportY + term.rows; y++) {
      const line = buf.getLine(y);
      if (!line) break;
      if (line.isWrapped && cur !== null) cur += line.translateToString(false);
      else { if (cur !== null) out.push(cur.trimEnd()); cur = line.translateToString(false); }
    }
    if (cur !== null) out.push(cur.trimEnd());
    return out;
  };
  B.screen = (session) => { const t = B.term(session); return t ? B.lines(t).join("\n") : ""; };
  // The line the cursor is on: where an echo or a fresh prompt lands.
  B.cursorLine = (term) => {
    const buf = term.buffer.active;
    let y = buf.baseY + buf.cursorY, text = buf.getLine(y)?.translateToString(false) ?? "";
    while (y > 0 && buf.getLine(y)?.isWrapped) { y--; text = (buf.getLine(y)?.translateToString(false) ?? "") + text; }
    return text.trimEnd();
  };

  // replay(session, totalBytes, frameBytes): hands the page's message handler output frames ("0" + text lines) as
  // fast as it takes them, then waits until xterm has parsed everything. Measures the client path (handler +
  // xterm) without tmux's redraw decisions or the network. Resolves to {ms, bytes, frames, handlerMs}.
  B.replay = (session, totalBytes, frameBytes) => new Promise((resolve) => {
    const rec = [...B.sockets].reverse().find((x) => x.session === session && handlers.get(x) && x.closed === null);
    const handler = handlers.get(rec);
    const term = B.term(session);
    const line = "0001234 the quick brown fox jumps over the lazy dog ====================\r\n";
    const text = line.repeat(Math.ceil(frameBytes / line.length)).slice(0, frameBytes);
    const frame = new Uint8Array(frameBytes + 1);
    frame[0] = 0x30;
    frame.set(new TextEncoder().encode(text), 1);
    const frames = Math.ceil(totalBytes / frameBytes);
    const t0 = now();
    let i = 0;
    let handlerMs = 0;  // time inside the page's own handler: the client path's cost apart from xterm's parsing
    const feed = () => {
      const sliceEnd = now() + 8;  // yield to the event loop like a socket delivering frames would
      while (i < frames && now() < sliceEnd) {
        const event = new MessageEvent("message", { data: frame.buffer.slice(0) });
        const h0 = now();
        handler(event);
        handlerMs += now() - h0;
        i += 1;
      }
      if (i < frames) { setTimeout(feed, 0); return; }
      term.write("", () => resolve({ ms: now() - t0, bytes: frames * frameBytes, frames, handlerMs }));
    };
    feed();
  });

  // ---- key presses: trusted keydown timestamps (the input event's own time, in the page clock).
  window.addEventListener("keydown", (e) => { B.keys.push({ key: e.key, t: e.timeStamp }); }, true);

  // ---- PyScript / polyscript lifecycle.
  for (const name of ["py:ready", "py:done", "py:all-done", "mpy:ready"]) {
    document.addEventListener(name, () => B.mark(name), true);
    window.addEventListener(name, () => B.mark(name), true);
  }
  document.addEventListener("DOMContentLoaded", () => B.mark("dom-content-loaded"));
})();
