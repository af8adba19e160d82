"""livepane server: serves the browser pane and bridges each terminal socket to its own tmux client.

Job: one aiohttp process that
- serves the page, the pinned web assets (`/vendor/PKG@VERSION/...`, immutable) and the client package (`/pyclient/`);
- guards access as docs/protocol.md §1 says (token URL -> HMAC cookie -> single-use tickets);
- runs, per terminal socket, one `tmux attach-session -t =<id>` in its own PTY and relays bytes with ttyd's wire
  protocol (docs/protocol.md §2), reading the PTY only as fast as the socket drains;
- or, with `--upstream`, relays each socket frame for frame to another terminal server;
- restarts without downtime: SIGHUP starts a successor on the same listening socket, SIGTERM/SIGINT close every
  socket with 1012 and exit; tmux sessions survive both.

Rooms (each with its own constants; docs/architecture.md "Server" has the table):
- config     Config, RetryPolicy, the argument parser, the environment names shared with a reload successor
- auth       the cookie, tickets (Auth, TicketJournal), the Origin check
- assets     the page, vendor/pyclient/static files, MIME types, CSP and cache headers, the snapshot key
- tmux       every tmux command line (Tmux) and the attached clients (TmuxClient)
- pty        one non-blocking PTY per socket (Pty)
- bridge     one socket <-> one tmux session (TerminalPane), frame parsing, close_ws
- proxy      `--upstream` mode (UpstreamProxy)
- app        the aiohttp application (LivepaneServer): routes, checks, the registry of sockets
- lifecycle  listening socket, pid file, signals, SIGHUP hand-over, main()

Rules:
- docs/protocol.md is the contract; its vocabulary (close codes, reasons, frame bytes, the session-id rule, limits)
  is imported from pyclient/protocol.py, the module the client imports too: no copies here.
- A socket is always accepted before it is refused, so the browser sees a code and a reason, never a bare 1006.
- Every bad input gets a status or close code with a one-line reason; the process and every other pane keep running.
- No path leaves its folder; secrets are compared in constant time; tmux targets are exact (`=name`).
- No thread per byte: PTYs are non-blocking fds on the event loop; tmux clients are watched through pidfds.
- Log what an operator needs once (start, reloads, connect failures), never each clean close.
- `python serve.py` is the entry point (and a SIGHUP successor's); import the rooms, not this facade, inside the
  package.
"""

from __future__ import annotations

from .app import LivepaneServer
from .config import Config, config_from_args
from .lifecycle import main

__all__ = ["Config", "LivepaneServer", "config_from_args", "main"]
