// Bench-only pure-JS pane: see purejs.html. One socket per attempt; reconnects at once on any close (the bench
// measures throughput and echo with it, not recovery).
const q = new URLSearchParams(location.search);
const session = q.get("session") || "main";
const ACK_EVERY_BYTES = 32 * 1024;    // pyclient.pane.FlowPolicy
const HIGH_WATER_BYTES = 512 * 1024;
const LOW_WATER_BYTES = 128 * 1024;
const enc = new TextEncoder();

function load(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src; s.onload = resolve; s.onerror = () => reject(new Error(src));
    document.head.append(s);
  });
}
function css(href) {
  const l = document.createElement("link"); l.rel = "stylesheet"; l.href = href; document.head.append(l);
}

css(q.get("xterm") + "/css/xterm.css");
await load(q.get("xterm") + "/lib/xterm.js");
await load(q.get("fit") + "/lib/addon-fit.js");
const pane = document.getElementById("pane");
pane.dataset.session = session;
window.__benchSession = session;
// The same options as pyclient/browser.py's terminal, so the ratio measures the Python path, not the options.
const term = new Terminal({ cursorBlink: true, lineHeight: 1.1,
  fontFamily: "'DejaVu Sans Mono', 'Liberation Mono', ui-monospace, monospace",
  fontSize: 14, scrollback: 1000, theme: { background: "#000000" } });
const fit = new FitAddon.FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("term"));
if (q.get("renderer") === "webgl") {
  await load(q.get("webgl") + "/lib/addon-webgl.js");
  term.loadAddon(new WebglAddon.WebglAddon());
}
const fixed = q.get("cols") && q.get("rows");  // the bench gives the livepane pane's size: same bytes from tmux
if (fixed) term.resize(Number(q.get("cols")), Number(q.get("rows"))); else fit.fit();
term.focus();

let ws = null, pending = 0, tail = 0, paused = false, chunks = [], opens = 0;
const send = (s) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(s)); };
term.onData((d) => send("0" + d));
term.onBinary((d) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from("0" + d, (c) => c.charCodeAt(0))); });
term.onResize(({ cols, rows }) => send("1" + JSON.stringify({ columns: cols, rows })));
if (!fixed) window.addEventListener("resize", () => fit.fit());

function parsed() {
  pending -= chunks.shift() || 0;
  if (paused && pending < LOW_WATER_BYTES) { paused = false; send("3"); }
}

async function connect() {
  pane.dataset.state = opens ? "reconnecting" : "connecting";
  let ticket;
  try {
    const r = await fetch("/api/ticket", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session }) });
    ticket = (await r.json()).ticket;
  } catch (err) { setTimeout(connect, 250); return; }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws/${encodeURIComponent(session)}?ticket=${encodeURIComponent(ticket)}`, "tty");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    opens += 1;
    paused = false;
    ws.send(enc.encode(JSON.stringify({ AuthToken: "", columns: term.cols, rows: term.rows })));
    term.reset();
    pane.dataset.state = "open";
  };
  ws.onmessage = (e) => {
    const data = new Uint8Array(e.data);
    if (data[0] !== 0x30 || data.length === 1) return;  // title, preferences, keepalive
    const payload = data.subarray(1);
    pending += payload.length; tail += payload.length;
    if (tail >= ACK_EVERY_BYTES) { chunks.push(tail); tail = 0; term.write(payload, parsed); }
    else term.write(payload);
    if (!paused && pending > HIGH_WATER_BYTES) { paused = true; send("2"); }
  };
  ws.onclose = (e) => {
    pane.dataset.state = "reconnecting";
    if (e.code === 1000 && e.reason === "session ended") { pane.dataset.state = "closed"; return; }
    setTimeout(connect, e.code === 1012 ? 0 : 150);
  };
}
connect();
