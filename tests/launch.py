"""The processes the server tests, the e2e tests and bench/ start: one isolated tmux server, one ``serve.py``.

Importable as ``launch`` from any test (``pythonpath = ["tests"]``); bench/harness.py puts tests/ on its path.

Rules:
- Each user names its own tmux socket (``tmux -L NAME``, prefixed with the helper or suite): no run shares a tmux
  server with another. Every tmux command passes ``-f /dev/null`` (no user config; it only matters when the server
  starts) and drops ``$TMUX``. Shells are ``bash --norc --noprofile``: root's .bashrc costs ~130 ms per shell.
- serve.py is always started as ``python serve.py ...`` (the entry point), in a process group of its own so a SIGHUP
  successor, and every ``tmux attach`` client it spawned, goes with :meth:`ServeProcess.close`. Its environment is
  ours minus ``LIVEPANE_*`` and ``$TMUX``, plus the token (``LIVEPANE_TOKEN``, never in argv), a state folder of its
  own (``XDG_STATE_HOME`` = ``workdir/state``: no test touches the user's ``~/.local/state/livepane``) and the
  caller's ``env`` (a value of None removes a variable).
- "Ready" is a condition with a deadline: the pid file names the process we started and the port accepts (or the
  process exited: its log tail is in the error). Stops wait until the pid is gone and the port is free.
- One log file per ServeProcess, appended across restarts, each start marked with a ``--- start N`` line.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from support import async_wait_until, free_port, pid_alive, port_accepts, wait_until

ROOT = Path(__file__).resolve().parents[1]
SERVE_PY = ROOT / "serve.py"
SHELL = "bash --norc --noprofile"  # root's .bashrc adds ~130 ms per shell start
TOKEN = "test-token"
START_TIMEOUT_S = 20.0  # serve.py starts in ~0.3 s; generous for two shared, busy cores
STOP_TIMEOUT_S = 5.0  # SIGTERM exits within a second (bench/: reconnect); the rest is slack for a loaded machine
RELOAD_TIMEOUT_S = 15.0  # a SIGHUP successor starts a whole interpreter before it writes the pid file


class Tmux:
    """One tmux server of our own: ``tmux -L socket_name``. Session commands target ``=id`` exactly."""

    def __init__(self, socket_name: str, shell: str = SHELL) -> None:
        self.socket_name = socket_name
        self.shell = shell

    @property
    def name(self) -> str:  # the server tests' spelling
        return self.socket_name

    def run(self, *args: str, check: bool = True) -> str:
        """A tmux command's stdout; AssertionError with its stderr when it fails and ``check`` is set."""
        done = subprocess.run(
            ["tmux", "-L", self.socket_name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            env={k: v for k, v in os.environ.items() if k != "TMUX"},
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, anchor: str = "anchor") -> Tmux:
        """Start the server with a session that keeps it alive between tests."""
        self.new_session(anchor)
        return self

    def new_session(
        self, session_id: str | None = None, columns: int = 80, rows: int = 24, shell: str | None = None
    ) -> str:
        """A detached session (a random id unless given) running ``shell`` (default: this server's); returns its id."""
        session_id = session_id or "t" + secrets.token_hex(4)
        self.run("new-session", "-d", "-s", session_id, "-x", str(columns), "-y", str(rows),
                 *shlex.split(shell or self.shell))
        return session_id

    def kill_session(self, session_id: str) -> None:
        self.run("kill-session", "-t", f"={session_id}", check=False)

    def has_session(self, session_id: str) -> bool:
        done = subprocess.run(
            ["tmux", "-L", self.socket_name, "has-session", "-t", f"={session_id}"], capture_output=True, check=False
        )
        return done.returncode == 0

    # Pane targets need the trailing colon for an exact session (``=id:``; ``=id`` says "can't find pane").
    def capture(self, session_id: str) -> str:
        return self.run("capture-pane", "-p", "-t", f"={session_id}:", check=False)

    def display(self, session_id: str, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", f"={session_id}:", fmt, check=False).strip()

    def send_keys(self, session_id: str, *keys: str) -> None:
        self.run("send-keys", "-t", f"={session_id}:", *keys)

    def client_pids(self, session_id: str) -> list[int]:
        out = self.run("list-clients", "-t", f"={session_id}", "-F", "#{client_pid}", check=False)
        return [int(pid) for pid in out.split()]

    def current_command(self, session_id: str) -> str:
        return self.display(session_id, "#{pane_current_command}")

    def window_size(self, session_id: str) -> tuple[int, int]:
        width, height = self.display(session_id, "#{window_width} #{window_height}").split()
        return int(width), int(height)

    def kill_server(self) -> None:
        socket_path = self.run("display-message", "-p", "#{socket_path}", check=False).strip()
        self.run("kill-server", check=False)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)  # kill-server leaves the socket file behind


def serve_env(token: str | None, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Our environment minus LIVEPANE_* and $TMUX, plus the token and ``env`` (None values remove a variable)."""
    out = {k: v for k, v in os.environ.items() if k != "TMUX" and not k.startswith("LIVEPANE_")}
    if token is not None:
        out["LIVEPANE_TOKEN"] = token
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class ServeProcess:
    """One ``python serve.py`` lineage on one port: start (again after a stop), stop, kill, reload (SIGHUP).

    Args:
        tmux: whose sessions it serves (``--tmux-socket``); new sessions run ``tmux.shell``.
        workdir: holds serve.pid and serve.log.
        *args: more serve.py options (``--upstream URL``, ``--public-url``, TLS flags, ...).
        port: fixed (e2e keeps one origin for the browser cache) or a free one.
        token: sent as LIVEPANE_TOKEN; None starts it without one (it prints a token URL).
        env: extra environment; a None value removes a variable. ``XDG_STATE_HOME`` defaults to ``workdir/state``
            (two ServeProcesses share a stored token by naming one folder).
        default_session: ``--default-session``, or None for serve.py's own default.
        log_level: ``--log-level`` (``debug`` turns on the access log), or None for serve.py's own default.
        root: the tree holding serve.py (bench/ serves variant copies of the repository).
    """

    def __init__(
        self,
        tmux: Tmux,
        workdir: Path,
        *args: str,
        port: int | None = None,
        token: str | None = TOKEN,
        env: Mapping[str, str | None] | None = None,
        default_session: str | None = "anchor",
        log_level: str | None = None,
        root: Path = ROOT,
    ) -> None:
        self.tmux = tmux
        self.workdir = workdir
        self.root = root
        self.port = port or free_port()
        self.token = token
        self.env = serve_env(token, {"XDG_STATE_HOME": str(workdir / "state"), **(env or {})})
        self.pid_file = workdir / "serve.pid"
        self.log_path = workdir / "serve.log"
        options = ["--host", "127.0.0.1", "--port", str(self.port), "--tmux-socket", tmux.socket_name,
                   "--shell", tmux.shell, "--pid-file", str(self.pid_file)]
        if default_session is not None:
            options += ["--default-session", default_session]
        if log_level is not None:
            options += ["--log-level", log_level]
        self.args = [*options, *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.pgids: set[int] = set()

    @property
    def state_dir(self) -> Path:
        """The livepane state folder this process uses (credentials, ticket journals, serve-PORT.pid)."""
        return Path(self.env["XDG_STATE_HOME"]) / "livepane"

    def printed_url(self) -> str | None:
        """The token URL serve.py printed since the log's latest start mark, once it has printed it."""
        latest = self.log().rpartition("\n--- start ")[2]
        found = re.search(r"livepane: open (https?://\S+)", latest)
        return found.group(1) if found else None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self):  # yarl.URL, for aiohttp clients (yarl comes with aiohttp; bench/ does not need it)
        from yarl import URL

        return URL(self.origin)

    @property
    def pid(self) -> int | None:
        """The serving process as its pid file says (a SIGHUP successor rewrites it)."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text().strip())
        return None

    def serving_pid(self) -> int | None:
        return self.pid

    # -- start -------------------------------------------------------------------------------------------------------

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start serve.py and return at once (bench/ times the port coming up itself); see :meth:`start`."""
        assert not port_accepts(self.port), f"port {self.port} is already taken"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, str(self.root / "serve.py"), *self.args],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the successor and tmux clients go with close()
            )
        self.pgids.add(self.proc.pid)
        return self.proc

    def ready(self) -> bool:
        """The process we started wrote its pid file and the port accepts; AssertionError if it exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"serve.py exited with {self.proc.returncode}:\n{self.log_tail()}")
        return self.pid == self.proc.pid and port_accepts(self.port)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> ServeProcess:
        self.spawn()
        wait_until(self.ready, timeout_s, f"serve.py to listen on {self.port}")
        return self

    async def async_start(self, timeout_s: float = START_TIMEOUT_S) -> ServeProcess:
        self.spawn()
        await async_wait_until(self.ready, timeout_s, f"serve.py to listen on {self.port}")
        return self

    # -- signals -----------------------------------------------------------------------------------------------------

    def send_signal(self, sig: int) -> int | None:
        """Send ``sig`` to the serving process; returns its pid (None if nothing serves)."""
        pid = self.pid or (self.proc.pid if self.proc and self.proc.poll() is None else None)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return pid

    def exited(self, pid: int) -> bool:
        """``pid`` is gone (our direct child is reaped, so it is no zombie)."""
        if self.proc is not None and self.proc.pid == pid:
            return self.proc.poll() is not None
        return not pid_alive(pid)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Signal the serving process (SIGTERM; SIGKILL for a crash) and wait until it is gone and the port free."""
        pid = self.pid or (self.proc.pid if self.proc else None)
        if pid is None or self.exited(pid):
            return
        os.kill(pid, sig)
        wait_until(lambda: self.exited(pid), timeout_s, f"serve.py pid {pid} to exit")
        wait_until(lambda: not port_accepts(self.port), timeout_s, f"port {self.port} to close")

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def reload(self, timeout_s: float = RELOAD_TIMEOUT_S) -> int:
        """SIGHUP: a successor takes over the listening socket; returns its pid once the old process is gone."""
        old = self.pid
        assert old is not None, "nothing serves"
        os.kill(old, signal.SIGHUP)
        new = wait_until(lambda: (pid := self.pid) not in (None, old) and pid, timeout_s, "the successor's pid file")
        wait_until(lambda: self.exited(old), timeout_s, f"the old pid {old} to exit")
        return new

    def close(self) -> None:
        """Stop cleanly if it will, then SIGKILL every process group we started (successors, tmux clients)."""
        with contextlib.suppress(Exception):
            self.stop()
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT_S)

    # -- log ---------------------------------------------------------------------------------------------------------

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def log_lines(self, pattern: str) -> list[str]:
        """Log lines matching a regex, in order. With log_level="debug" the access log has one per request."""
        regex = re.compile(pattern)
        return [line for line in self.log().splitlines() if regex.search(line)]
