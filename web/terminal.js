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

  // Character widths: xterm must count cells as tmux 3.3a does (glibc's wcwidth and tmux's joining rules), else what
  // follows a character is drawn in the wrong place. Measured over a corpus in tests/e2e/test_fidelity.py
  // (docs/architecture.md, "Character widths"): "tmux" below disagrees on 1 item of 21, the graphemes addon's
  // clusters on 6, Unicode 11 on 7. `?widths=graphemes` / `?widths=11` pick the others (for that test).
  const WIDTHS = {
    tmux: { addon: () => new TmuxWidthsAddon(), version: "tmux-3.3" },
    graphemes: { addon: () => new UnicodeGraphemesAddon.UnicodeGraphemesAddon(), version: "15-graphemes" },
    11: { addon: () => new Unicode11Addon.Unicode11Addon(), version: "11" },
  };
  const widths = WIDTHS[new URLSearchParams(location.search).get("widths")] || WIDTHS.tmux;

  // tmux 3.3a's own way of counting, over the graphemes addon's Unicode 15 width table (its "15" provider, without
  // clusters): every character gets its own width (a skin-tone modifier is a wide character of its own, VS16 widens
  // nothing), except that a zero-width character, and whatever follows a ZWJ, joins the cell before it and keeps
  // that cell's width. These are tmux's rules (screen-write.c), not Unicode's grapheme clusters.
  const ZWJ = 0x200d;
  const JOINS_NEXT = 1; // the "kind" (xterm's join state bits above the width) of a cell that ends in a ZWJ
  const isSkinTone = (cp) => cp >= 0x1f3fb && cp <= 0x1f3ff; // wide in glibc; "Extend" (zero) in the addon's table
  class TmuxWidthsAddon {
    activate(term) {
      const graphemes = new UnicodeGraphemesAddon.UnicodeGraphemesAddon();
      term.loadAddon(graphemes);
      this._graphemes = graphemes;
      const base = graphemes._provider15; // the addon's Unicode 15 table without clusters (pinned version)
      if (!base) return; // another version of the addon: create() falls back to its clusters
      const wcwidth = (cp) => (cp === ZWJ ? 0 : isSkinTone(cp) ? 2 : base.wcwidth(cp));
      term.unicode.register({
        version: "tmux-3.3",
        wcwidth,
        charProperties(cp, preceding) {
          const width = wcwidth(cp);
          const kind = cp === ZWJ ? JOINS_NEXT : 0;
          const cell = (preceding >> 1) & 3;
          if (cell !== 0 && (width === 0 || preceding >> 3 === JOINS_NEXT)) return (kind << 3) | (cell << 1) | 1;
          return (kind << 3) | (width << 1);
        },
      });
    }
    dispose() {
      this._graphemes.dispose();
    }
  }

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

  // The font size the page's A-/A+ chose (pyclient/fontsize.py writes it and holds the same bounds; a unit test
  // compares them): read for every terminal, so one made before Python is up starts at it too.
  const FONT_SIZE_KEY = "livepane.fontSize";
  const FONT_SIZE_MIN = 8;
  const FONT_SIZE_MAX = 32;
  function storedFontSize() {
    let text = null;
    try {
      text = localStorage.getItem(FONT_SIZE_KEY);
    } catch (error) {
      return OPTIONS.fontSize; // storage refused (a sandboxed frame): the default
    }
    const size = Number(text);
    return text !== null && Number.isInteger(size) && size >= FONT_SIZE_MIN && size <= FONT_SIZE_MAX
      ? size
      : OPTIONS.fontSize;
  }

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
    const term = new Terminal({ ...OPTIONS, fontSize: storedFontSize() });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon.WebLinksAddon());
    term.loadAddon(widths.addon());
    try {
      term.unicode.activeVersion = widths.version;
    } catch (error) {
      console.log(`livepane: no ${widths.version} widths (${error}); using Unicode 15 grapheme clusters`);
      term.unicode.activeVersion = "15-graphemes";
    }
    term.loadAddon(new ClipboardAddon.ClipboardAddon(undefined, CLIPBOARD));
    term.open(root);
    return { host, term, fit };
  }

  globalThis.livepaneTerminal = { create, options: OPTIONS };
})();
