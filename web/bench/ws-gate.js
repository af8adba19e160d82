// Bench-only experiment: at most MAX_CONNECTING WebSocket handshakes in flight per page; later sockets wait in a
// queue. Chromium delays each new WebSocket by rand(1..5 s) * 2^min(pending + failed/(succeeded+1), 16) / 65536
// (its per-renderer throttler), so 50 panes reconnecting at once push each other into multi-second delays; keeping
// the pending count small keeps that delay at a few ms. Loaded before the page's scripts by a bench variant of
// index.html; it replaces window.WebSocket with an object of the same interface (what pyclient/browser.py uses).
(() => {
  const Native = window.WebSocket;
  const MAX_CONNECTING = 6;
  const HANDLERS = ["onopen", "onmessage", "onclose", "onerror"];
  let connecting = 0;
  const queue = [];
  const pump = () => {
    while (connecting < MAX_CONNECTING && queue.length) queue.shift()();
  };
  class GatedWebSocket {
    constructor(url, protocols) {
      this._h = {};
      this._binaryType = "blob";
      this._ws = null;
      this._cancelled = false;
      queue.push(() => this._start(url, protocols));
      pump();
    }
    _start(url, protocols) {
      if (this._cancelled) return;
      connecting += 1;
      const ws = (this._ws = protocols === undefined ? new Native(url) : new Native(url, protocols));
      ws.binaryType = this._binaryType;
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        connecting -= 1;
        pump();
      };
      ws.addEventListener("open", release);
      ws.addEventListener("close", release);
      ws.addEventListener("error", release);
      for (const name of HANDLERS) ws[name] = this._h[name] || null;
    }
    get readyState() { return this._ws ? this._ws.readyState : (this._cancelled ? 3 : 0); }
    get binaryType() { return this._ws ? this._ws.binaryType : this._binaryType; }
    set binaryType(value) { this._binaryType = value; if (this._ws) this._ws.binaryType = value; }
    send(data) {
      if (!this._ws) throw new DOMException("still connecting", "InvalidStateError");
      this._ws.send(data);
    }
    close(code, reason) {
      if (this._ws) this._ws.close(code, reason);
      else this._cancelled = true;  // never started: nothing to close (the caller already ignores its events)
    }
  }
  for (const name of HANDLERS) {
    Object.defineProperty(GatedWebSocket.prototype, name, {
      get() { return this._h[name] || null; },
      set(fn) { this._h[name] = fn; if (this._ws) this._ws[name] = fn; },
    });
  }
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) GatedWebSocket[k] = Native[k];
  window.WebSocket = GatedWebSocket;
})();
