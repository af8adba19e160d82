"""The boot chain, flattened (issue 14): what the page's <head> asks for early is what the chain uses, and a warm load
asks the server for nothing but the page and the session.

The chain (PyScript's core.js -> its config -> the interpreter module -> pyodide.mjs -> pyodide.asm.mjs -> the wasm,
the standard library, the lock file, the snapshot -> the client files -> main.py) is sequential when the page lets
PyScript and Pyodide discover it; index.html's <head> names every link of it at once (preloads, and the interpreter
module itself, which starts the boot). Timings are bench/'s (docs/benchmarks.md); these tests check the structure.
"""

from __future__ import annotations

import posixpath
import re
import struct
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from livepane_e2e import BOOT_TIMEOUT_S, TOKEN, VIEWPORT, Server, open_panes
from support import CHROMIUM, CHROMIUM_ARGS, wait_until

# What the <head> adds for the boot: preloads and the early interpreter module (the one async module script).
PRELOAD_RE = re.compile(r'<link rel="(?:module)?preload"[^>]*>\s*')
EARLY_MODULE_RE = re.compile(r'<script type="module" async src="[^"]*"></script>\s*')
HREF_RE = re.compile(r'(?:href|src)="([^"]+)"')
# Requested by the chain but deliberately not preloaded (each with its reason), by the start of the request's path or
# by its file name; everything else the chain asks for must be named by the <head>.
NOT_PRELOADED = {
    # The session, not the boot: a new ticket per socket (helper i-preview's page carries the first one).
    "api/ticket": "the session's ticket",
    "api/sessions": "the session bar's list (and its held watch)",
    # web/boot-fetch.js reads both itself: V8's code cache attaches to a fetch()'s response, never to a preload's, and
    # a preloaded snapshot was held in a buffer of its own, then copied again for the read.
    "pyodide.asm.wasm": "the wasm, compiled from the first script's own fetch()",
    "pyclient.bin": "the snapshot, read by the first script",
}


# Counts the page's ticket requests (the first one is where the boot chain ends and the session begins).
TICKET_COUNTER_JS = """(() => {
  const nativeFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    if (String(input && input.url || input).includes("api/ticket")) window.__tickets = (window.__tickets || 0) + 1;
    return nativeFetch(input, init);
  };
})();"""


def not_preloaded(key: str, exempt: str) -> bool:
    return key.startswith(exempt) or key.split("?", 1)[0].rsplit("/", 1)[-1] == exempt


def page_url(server: Server, session: str) -> str:
    return f"{server.origin}/?session={session}"


def requested(page: Any, load: Any) -> list[str]:
    """Every request the page made while ``load()`` ran (URLs, in order, with repeats)."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    load()
    return urls


def chain_key(server: Server, url: str) -> str:
    """A request as the chain sees it: the path and query below the origin (no leading slash)."""
    parts = urlsplit(url)
    assert parts.netloc == urlsplit(server.origin).netloc, url
    return parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def api_path(key: str) -> str:
    """An API request without its query: the session bar's watch (`api/sessions?since=<etag>`) is a list too."""
    return key.split("?", 1)[0] if key.startswith("api/") else key


def head_urls(server: Server, html: str) -> tuple[set[str], set[str]]:
    """The URLs the <head> preloads (and imports early), and every other URL a tag of the page names."""
    head = html.split("</head>", 1)[0]
    early = PRELOAD_RE.findall(head) + EARLY_MODULE_RE.findall(head)
    base = page_url(server, "x")
    preloaded = {chain_key(server, urljoin(base, unescape(u))) for tag in early for u in HREF_RE.findall(tag)}
    named = {chain_key(server, urljoin(base, unescape(u))) for u in HREF_RE.findall(html) if not u.startswith("data:")}
    return preloaded, named - preloaded


def test_the_head_preloads_exactly_what_the_boot_chain_asks_for(page, browser_context, server: Server) -> None:
    """With the <head>'s preloads stripped, the page still boots and its requests are the chain; with them, every
    preload is one of those requests (none is unused) and no file is fetched twice (each preload matched its later
    fetch or import: a wrong `as` or a missing `crossorigin` makes Chromium fetch it again)."""
    server.tmux.new_session("chain")
    html = browser_context.request.get(page_url(server, "chain")).text()
    preloaded, named = head_urls(server, html)
    assert len(preloaded) >= 10, preloaded

    def stripped(route: Any) -> None:
        response = route.fetch()
        body = EARLY_MODULE_RE.sub("", PRELOAD_RE.sub("", response.text()))
        route.fulfill(response=response, body=body)

    def boot() -> None:
        page.goto(page_url(server, "chain"), wait_until="commit")
        # Python is up and asked for its ticket: the boot chain is complete. (Not further: a page that the test
        # fulfilled is not the server's, so Chromium's local-network checks refuse its socket.)
        page.wait_for_function("(window.__tickets || 0) > 0", timeout=BOOT_TIMEOUT_S * 1000)

    page.add_init_script(TICKET_COUNTER_JS)
    document = re.compile(re.escape(server.origin) + r"/\?session=chain$")
    page.route(document, stripped)
    chain = requested(page, boot)
    page.unroute(document)
    chain_requests = {chain_key(server, u) for u in chain if not u.startswith(("ws:", "wss:"))}
    chain_requests.discard("?session=chain")
    assert not preloaded - chain_requests, f"preloaded but never asked for by the chain: {preloaded - chain_requests}"
    unnamed = {u for u in chain_requests - preloaded - named if not any(not_preloaded(u, p) for p in NOT_PRELOADED)}
    assert not unnamed, f"the chain asks for these, the <head> does not preload them: {sorted(unnamed)}"

    flat = requested(page, lambda: open_panes(page, server, "chain"))
    counts: dict[str, int] = {}
    for url in flat:
        counts[url] = counts.get(url, 0) + 1
    twice = {url: n for url, n in counts.items() if n > 1 and "/api/" not in url and not url.startswith("ws")}
    assert not twice, f"fetched more than once (a preload its fetch did not use): {twice}"
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}


def test_a_warm_load_asks_the_server_for_the_page_and_the_session_only(page, server: Server) -> None:
    """Every file of the boot has a versioned, immutable URL: on a warm load the browser takes each from its cache
    without a request, where it used to revalidate the config, the interpreter module, main.py and each client file
    (a 304 round trip each, several in series)."""
    server.tmux.new_session("warm")
    open_panes(page, server, "warm")  # primes the cache (the session's browser may have loaded it already)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # requestId -> (url, status, answered from a cache: disk, prefetch/preload or the renderer's memory cache)
    answers: dict[str, tuple[str, int, bool]] = {}
    from_memory: set[str] = set()
    cdp.on("Network.requestServedFromCache", lambda e: from_memory.add(e["requestId"]))
    cdp.on("Network.responseReceived", lambda e: answers.__setitem__(e["requestId"], (
        e["response"]["url"], e["response"]["status"],
        bool(e["response"].get("fromDiskCache") or e["response"].get("fromPrefetchCache")))))
    open_panes(page, server, "warm")
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
    over_the_wire = [
        (api_path(chain_key(server, url)), status)
        for request_id, (url, status, cached) in answers.items()
        if not cached and request_id not in from_memory and not url.startswith(("ws:", "wss:", "data:"))
    ]
    expected = {"?session=warm", "api/sessions"}  # the page (it carries the first ticket) and the session bar's list
    revalidated = [(url, status) for url, status in over_the_wire if url not in expected]
    assert not revalidated, f"asked the server again on a warm load (revalidations): {revalidated}"
    # The page itself always; the bar's list once the panes are mounted, which may come after the pane opened.
    assert "?session=warm" in {url for url, _ in over_the_wire}, over_the_wire


def test_the_early_module_is_pyscripts_interpreter_and_every_client_file_is_versioned(
    browser_context, server: Server
) -> None:
    """The module the <head> imports early is the one pyscript.json names (one module instance: one boot), and each
    client file PyScript fetches carries its ?v= and is preloaded under that same URL."""
    html = browser_context.request.get(page_url(server, "x")).text()
    config_url = re.search(r'config="([^"]+)"', html).group(1)
    assert re.search(r"\?v=[0-9a-f]{16}$", config_url), config_url
    config = browser_context.request.get(urljoin(page_url(server, "x"), config_url)).json()
    early = re.search(r'<script type="module" async src="([^"]+)"', html).group(1)
    assert unescape(early) == config["interpreter"]
    assert "?v=" in config["interpreter"] and "snap=./static/snapshot/" in config["interpreter"]
    for source in config["files"]:
        path, _, query = source.partition("?")
        assert re.fullmatch(r"v=[0-9a-f]{16}", query), source
        assert f'href="./{posixpath.normpath("static/" + path)}?{query}"' in html, source


# V8 writes a wasm module's code cache once its tier-up has been quiet for --wasm-caching-timeout-ms (2 s by default);
# in Chromium 156 a wait it reschedules is counted in seconds instead of milliseconds (measured: with a 5 ms timeout
# the second write came 5 s later), so with the defaults the cache is written minutes into a session, never in a
# test's. These browsers run with the timeout off, so the first load writes it. The flag is part of the cache's key:
# a cache written under other flags is rejected (v8.wasm.moduleCacheInvalid), so both loads run with it.
CODE_CACHE_FLAGS = ["--js-flags=--wasm-caching-timeout-ms=0"]
# Blink's code cache events (v8.wasm.cachedModule, v8.wasm.moduleCacheHit, ...) are in this category.
CODE_CACHE_TRACE = "disabled-by-default-devtools.timeline"
TRACE_TIMEOUT_S = 60.0


def traced(page: Any, load: Any) -> list[dict[str, Any]]:
    """The trace events (CODE_CACHE_TRACE) of the page's renderer while ``load()`` ran."""
    cdp = page.context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    complete: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda e: complete.append(True))
    cdp.send("Tracing.start", {"traceConfig": {"includedCategories": [CODE_CACHE_TRACE]},
                               "transferMode": "ReportEvents"})
    load()
    cdp.send("Tracing.end")
    # Playwright delivers CDP events while it talks to the browser: each poll is a round trip. A boot's timeline is
    # tens of thousands of events; on two busy cores they take seconds to arrive.
    wait_until(lambda: page.evaluate("true") and complete, TRACE_TIMEOUT_S, what="the end of the trace")
    return events


def wasm_events(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e.get("name", "").startswith("v8.wasm.")]


def test_a_warm_load_compiles_pyodide_from_v8s_code_cache(playwright, browser_context, server: Server,
                                                        tmp_path) -> None:
    """The second load of the page takes Pyodide's compiled wasm from V8's code cache (a hit, and a valid one)
    instead of compiling it again; with the wasm preloaded it never did (the preload's response has no code cache)."""
    server.tmux.new_session("codecache")
    profile = tmp_path / "profile"
    loads: list[list[dict[str, Any]]] = []
    for _ in range(2):
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *CODE_CACHE_FLAGS], headless=True,
            viewport=VIEWPORT)
        try:
            context.request.get(f"{server.origin}/?token={TOKEN}", max_redirects=0)
            page = context.new_page()
            loads.append(traced(page, lambda page=page: open_panes(page, server, "codecache")))
            assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
        finally:
            context.close()
    first, second = (wasm_events(events) for events in loads)
    assert "v8.wasm.cachedModule" in first, f"the first load wrote no code cache: {sorted(set(first))}"
    hits = [e for e in loads[1] if e.get("name") == "v8.wasm.moduleCacheHit"]
    assert hits, f"no code cache hit on the second load: {sorted(set(second))}"
    assert hits[0]["args"]["url"].endswith("/pyodide.asm.wasm"), hits[0]["args"]
    assert "v8.wasm.moduleCacheInvalid" not in second, second


def traced_categories(page: Any, load: Any, categories: list[str]) -> list[dict[str, Any]]:
    """The trace events of these categories while ``load()`` ran."""
    cdp = page.context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    complete: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda e: complete.append(True))
    cdp.send("Tracing.start", {"traceConfig": {"includedCategories": categories, "excludedCategories": ["*"]},
                               "transferMode": "ReportEvents"})
    load()
    cdp.send("Tracing.end")
    wait_until(lambda: page.evaluate("true") and complete, TRACE_TIMEOUT_S, what="the end of the trace")
    return events


CLASSIC_ASM = "/pyodide.asm.classic.js"


def test_a_warm_load_runs_pyodides_js_from_v8s_code_cache(playwright, browser_context, server: Server,
                                                          tmp_path) -> None:
    """pyodide.asm.mjs runs as its classic copy (livepane_server/pyodide_classic.py): Chromium writes a classic
    script's code cache on its second load and reads it from the third (an ES module's, never), and with the compile
    hint the cache holds the whole file (~1.9 MB), not just its top level (~20 KB)."""
    server.tmux.new_session("jscache")
    profile = tmp_path / "profile"
    compiles: list[list[dict[str, Any]]] = []
    for _ in range(3):
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT)
        try:
            context.request.get(f"{server.origin}/?token={TOKEN}", max_redirects=0)
            page = context.new_page()
            events = traced_categories(page, lambda page=page: open_panes(page, server, "jscache"), ["v8"])
            assert page.evaluate("globalThis.livepanePyodideAsm") == "classic"
            compiles.append([e for e in events if e.get("name") in ("v8.compile", "v8.produceCache")
                             and e.get("args", {}).get("data", {}).get("url", "").endswith(CLASSIC_ASM)])
        finally:
            context.close()
    consumed = [e["args"]["data"].get("consumedCacheSize", 0) for e in compiles[2] if e["name"] == "v8.compile"]
    assert consumed and consumed[0] > 1_000_000, f"third load: {compiles[2]} (second: {compiles[1]})"
    assert not any(e["args"]["data"].get("cacheRejected") for e in compiles[2]), compiles[2]


def assert_booted_from_the_snapshot(page: Any, pyodide_js: str) -> None:
    """Waits for the boot's outcome: restored from the snapshot, Pyodide's JS run as ``pyodide_js`` ("classic": its
    classic copy; "module": pyodide.asm.mjs imported)."""
    page.wait_for_function("globalThis.livepaneBoot && globalThis.livepaneBoot.reason !== 'pending'",
                           timeout=BOOT_TIMEOUT_S * 1000)
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
    assert page.evaluate("globalThis.livepanePyodideAsm") == pyodide_js


def test_the_classic_copy_loaded_after_the_module_ran_is_still_used(page, server: Server) -> None:
    """The classic copy held until the interpreter module has run (as on a warm load, where the module comes out of
    the cache first): the module waits for the copy's load event (web/boot-fetch.js records it on the document; a
    listener on the window never sees a load event, and the boot hung) and Pyodide runs from the copy."""
    held: list[Any] = []
    page.route(re.compile(re.escape(CLASSIC_ASM) + "$"), lambda route: held.append(route))
    server.tmux.new_session("lateclassic")
    page.goto(page_url(server, "lateclassic"), wait_until="commit")
    # the module has run past its imports (it sets livepaneBoot then) while the copy is still held
    page.wait_for_function("typeof globalThis.livepaneBoot !== 'undefined'", timeout=BOOT_TIMEOUT_S * 1000)
    wait_until(lambda: page.evaluate("true") and held, BOOT_TIMEOUT_S, what="the classic copy's request")
    held[0].continue_()
    assert_booted_from_the_snapshot(page, "classic")


def test_without_the_classic_copy_pyodide_runs_as_a_module(page, server: Server) -> None:
    """If the classic copy fails to load (its URL a 404 here, as for a copy the server cannot make), the interpreter
    module imports pyodide.asm.mjs as before and the page still boots from the snapshot; also when the copy's error
    event fired before the module ran (held here until then: web/boot-fetch.js records it)."""
    page.route(re.compile(re.escape(CLASSIC_ASM) + "$"), lambda route: route.fulfill(status=404, body="no"))
    held: list[Any] = []
    page.route(re.compile(r"/static/pyodide-snap\.mjs\?"), lambda route: held.append(route))
    server.tmux.new_session("noclassic")
    page.goto(page_url(server, "noclassic"), wait_until="commit")
    wait_until(lambda: page.evaluate("true") and held, BOOT_TIMEOUT_S, what="the interpreter module's request")
    page.evaluate("livepaneBootFetch.asm.then((outcome) => { window.__asmOutcome = outcome; })")
    page.wait_for_function("window.__asmOutcome === 'error'", timeout=BOOT_TIMEOUT_S * 1000)
    held[0].continue_()
    assert_booted_from_the_snapshot(page, "module")


def test_a_page_without_the_classic_copys_script_boots_from_the_module(page, server: Server) -> None:
    """The server leaves the copy's <script> out when the pinned pyodide.asm.mjs no longer fits the rewrite
    (tests/server/test_http.py): with no such element the interpreter module imports pyodide.asm.mjs at once, and
    the page never asks for the copy."""
    tag = re.compile(r'<script async id="livepane-pyodide-asm"[^>]*></script>')

    def without_the_tag(route: Any) -> None:
        response = route.fetch()
        body, found = tag.subn("", response.text())
        assert found == 1, "index.html no longer names the classic copy"
        route.fulfill(response=response, body=body)

    page.route(re.compile(r"/\?session=noclassictag$"), without_the_tag)
    server.tmux.new_session("noclassictag")
    urls = requested(page, lambda: page.goto(page_url(server, "noclassictag"), wait_until="commit"))
    assert_booted_from_the_snapshot(page, "module")
    assert not [url for url in urls if url.endswith(CLASSIC_ASM)], urls


# web/make_snapshot.mjs's sparse file: magic, the snapshot's length, the run count N, N x (offset, length), the runs.
SPARSE_MAGIC = b"LPSNAP1\n"
PYODIDE_SNAPSHOT_MAGIC = 1886286592  # Pyodide 314's memory snapshot starts with it (pyodide.asm.mjs, restoreSnapshot)


def expand_snapshot(data: bytes) -> bytes:
    """The snapshot a sparse file holds (what web/pyodide-snap.mjs's expand gives Pyodide)."""
    assert data.startswith(SPARSE_MAGIC), data[:16]
    total, count = struct.unpack_from("<II", data, 8)
    snapshot = bytearray(total)
    at = 16 + 8 * count
    for i in range(count):
        offset, length = struct.unpack_from("<II", data, 16 + 8 * i)
        snapshot[offset : offset + length] = data[at : at + length]
        at += length
    assert at == len(data), (at, len(data))
    return bytes(snapshot)


def test_the_snapshot_is_served_without_its_zero_pages(page, browser_context, server: Server) -> None:
    """The snapshot's file leaves out its all-zero pages (about half of it), and the page boots from it: what the
    browser reads from its cache on every warm load, and downloads on a cold one, is that much smaller."""
    html = browser_context.request.get(page_url(server, "x")).text()
    early = unescape(re.search(r'<script type="module" async src="([^"]+)"', html).group(1))
    snap = urljoin(page_url(server, "x"), parse_qs(urlsplit(early).query)["snap"][0])
    data = browser_context.request.get(snap).body()
    snapshot = expand_snapshot(data)
    assert struct.unpack_from("<I", snapshot)[0] == PYODIDE_SNAPSHOT_MAGIC
    assert len(data) < 0.75 * len(snapshot), (len(data), len(snapshot))
    server.tmux.new_session("sparse")
    open_panes(page, server, "sparse")
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}


# The early module's URL (held back in the test below; pyscript.json's "interpreter", imported by the <head>).
INTERPRETER_RE = re.compile(r"/static/pyodide-snap\.mjs\?")
# web/boot-fetch.js as served: inline (index.html), its text ends at the first closing tag (assets.py ensures that).
BOOT_FETCH_RE = re.compile(r'<script data-wasm="[^"]*"[^>]*>.*?</script>\s*', re.S)
EARLY_READS_JS = """async () => {
  const started = globalThis.livepaneBootFetch;
  const [bytes, response] = await Promise.all([started.snapshot.bytes, started.wasm.response]);
  return { snapshot: bytes.byteLength, wasm: response.ok, snapshotURL: started.snapshot.url,
           moduleRan: performance.getEntriesByName("livepane:boot-start").length > 0 };
}"""


def test_the_first_script_reads_the_snapshot_before_the_interpreter_module_runs(
    page, browser_context, server: Server
) -> None:
    """web/boot-fetch.js, the page's first script, starts the two big reads of the boot (the wasm's fetch, the
    snapshot's bytes) and the snapshot is read whole with the interpreter module held back: the module only takes it
    over. It used to be preloaded into a buffer of its own and read again only when the module ran."""
    html = browser_context.request.get(page_url(server, "x")).text()
    early = unescape(re.search(r'<script type="module" async src="([^"]+)"', html).group(1))
    snap = urljoin(page_url(server, "x"), parse_qs(urlsplit(early).query)["snap"][0])
    size = len(browser_context.request.get(snap).body())
    held: list[Any] = []
    page.route(INTERPRETER_RE, lambda route: held.append(route))
    server.tmux.new_session("early")
    page.goto(page_url(server, "early"), wait_until="commit")
    page.wait_for_function("typeof globalThis.livepaneBootFetch !== 'undefined'", timeout=BOOT_TIMEOUT_S * 1000)
    reads = page.evaluate(EARLY_READS_JS)
    assert reads == {"snapshot": size, "wasm": True, "snapshotURL": snap, "moduleRan": False}, reads
    wait_until(lambda: page.evaluate("true") and held, BOOT_TIMEOUT_S, what="the interpreter module's request")
    requests = requested(page, lambda: ([r.continue_() for r in held], page.wait_for_function(
        "globalThis.livepaneBoot && globalThis.livepaneBoot.reason !== 'pending'", timeout=BOOT_TIMEOUT_S * 1000)))
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
    assert not [u for u in requests if "pyclient.bin" in u or "pyodide.asm.wasm" in u], requests  # taken over
    page.unroute(INTERPRETER_RE)


def test_without_the_first_script_the_interpreter_module_reads_the_snapshot_itself(page, server: Server) -> None:
    """A page without web/boot-fetch.js (bench/'s loader is one) still boots from the snapshot: the module starts
    the wasm's compile and the snapshot's read itself."""

    def stripped(route: Any) -> None:
        response = route.fetch()
        body = BOOT_FETCH_RE.sub("", response.text())
        assert body != response.text(), "index.html changed: no boot-fetch.js to strip"
        route.fulfill(response=response, body=body)

    document = re.compile(re.escape(server.origin) + r"/\?session=plain$")
    page.route(document, stripped)
    server.tmux.new_session("plain")
    page.goto(page_url(server, "plain"), wait_until="commit")
    page.wait_for_function("globalThis.livepaneBoot && globalThis.livepaneBoot.reason !== 'pending'",
                           timeout=BOOT_TIMEOUT_S * 1000)
    assert page.evaluate("typeof globalThis.livepaneBootFetch") == "undefined"
    assert page.evaluate("globalThis.livepaneBoot") == {"snapshot": True}
    page.unroute(document)
