// livepane's terminal factory: the one place an xterm.js terminal is made, with its options and addons.
// It is plain JavaScript because a terminal may be needed before Python is up (a preview painted from the page, keys
// recorded from the first paint on); pyclient/browser.py (XtermTerminal) calls it for every pane it mounts.
// Rules: it only builds and paints; every decision about what a pane does stays in Python.
"use strict";
(() => {
  const OPTIONS = {
    cursorBlink: true,
    fontFamily: "'DejaVu Sans Mono', 'Liberation Mono', ui-monospace, monospace",
    fontSize: 14,
    // At 1.0 the DOM renderer clips DejaVu's underscore at the bottom of the cell: "__init__" reads "  init  ".
    lineHeight: 1.1,
    scrollback: 1000,
    theme: { background: "#000000" },
    // term.unicode (the width tables below) is "proposed" API in xterm.js 6.
    allowProposedApi: true,
  };

  // Character widths: which of xterm's Unicode providers counts cells as tmux 3.3a does (glibc's wcwidth). Measured
  // in tests/e2e/test_fidelity.py over a corpus (docs/architecture.md, "Character widths"): Unicode 15 with grapheme
  // clusters agrees with tmux on more of it than Unicode 11 does. `?widths=11` picks the other one (for that test).
  const WIDTHS = {
    graphemes: { addon: () => new UnicodeGraphemesAddon.UnicodeGraphemesAddon(), version: "15-graphemes" },
    11: { addon: () => new Unicode11Addon.Unicode11Addon(), version: "11" },
  };
  const widths = WIDTHS[new URLSearchParams(location.search).get("widths")] || WIDTHS.graphemes;

  // OSC 52 (the clipboard addon): tmux's copies (copy mode, `set-buffer -w`) write the browser clipboard. tmux 3.3a
  // names no selection (`52;;<base64>`: xterm's default one), which the addon's own provider ignores (it writes
  // only for "c"), so "" counts as the clipboard here. Reads (`52;c;?`) always answer "": a program in the terminal
  // never reads what the user copied elsewhere.
  const CLIPBOARD = {
    writeText(selection, text) {
      if (selection !== "" && !selection.includes("c")) return Promise.resolve();
      return navigator.clipboard ? navigator.clipboard.writeText(text).catch((error) => {
        console.log(`livepane: the clipboard refused tmux's copy (${error})`);
      }) : Promise.resolve();
    },
    readText() {
      return Promise.resolve("");
    },
  };

  let sheet = null;
  // xterm.css (loaded by the page) as one constructed sheet that every pane's shadow root adopts.
  function styleSheet() {
    if (sheet) return sheet;
    sheet = new CSSStyleSheet();
    const link = document.querySelector('link[rel="stylesheet"][href$="/css/xterm.css"]');
    const css = link && link.sheet ? Array.from(link.sheet.cssRules, (rule) => rule.cssText) : [];
    if (!css.length) console.log("livepane: xterm.css is not loaded: the terminals will look wrong");
    css.push(".term-root { position: absolute; inset: 0; }");
    sheet.replaceSync(css.join("\n"));
    return sheet;
  }

  // [the pane-term element, the element xterm opens in]: a declarative shadow root when the browser can parse one
  // (Chromium 124, Firefox 123, Safari 17.4), else the pane-term element itself.
  // xterm lives in a shadow root that PyScript does not watch. PyScript observes every DOM mutation in the document,
  // and in every shadow root made by attachShadow (it wraps that method), to find new <script type="py">: with xterm's
  // DOM renderer rewriting rows, that cost ~20% of the output throughput (docs/benchmarks.md). A shadow root declared
  // in markup is made by the HTML parser, not by attachShadow, so PyScript never sees it.
  function makeHost() {
    const parser = document.createElement("div");
    if (parser.setHTMLUnsafe) {
      parser.setHTMLUnsafe('<div class="pane-term"><template shadowrootmode="open"><div class="term-root">');
      const host = parser.firstElementChild;
      if (host && host.shadowRoot) {
        host.shadowRoot.adoptedStyleSheets = [styleSheet()];
        return [host, host.shadowRoot.firstElementChild];
      }
    }
    console.log("livepane: no declarative shadow DOM here: the terminal shares the document with PyScript's observer");
    const host = document.createElement("div");
    host.className = "pane-term";
    return [host, host];
  }

  // A terminal opened at the top of `parent`: {host, term, fit}. The caller owns it: term.dispose(), host.remove().
  function create(parent) {
    const [host, root] = makeHost();
    parent.prepend(host);
    const term = new Terminal(OPTIONS);
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon.WebLinksAddon());
    term.loadAddon(widths.addon());
    term.unicode.activeVersion = widths.version;
    term.loadAddon(new ClipboardAddon.ClipboardAddon(undefined, CLIPBOARD));
    term.open(root);
    return { host, term, fit };
  }

  globalThis.livepaneTerminal = { create, options: OPTIONS };
})();
