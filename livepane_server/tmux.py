"""The tmux server this process serves: every tmux command line (Tmux) and the attached clients (TmuxClient).

Rules:
- tmux targets are exact (`=name`, panes `=name:`); sessions with names the pane cannot open are not listed.
- Never talk to the tmux we might run inside ($TMUX) and never leak LIVEPANE_* secrets into panes.
- tmux clients are watched through pidfds, not threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import subprocess

from pyclient.protocol import SESSION_ID_RE

from .poll import POLL_INTERVAL_S, SessionPoll, SessionRow
from .pty import Pty
from .titles import TITLE_FORMAT, TitleWatcher

log = logging.getLogger("livepane")

# A tmux client gets this long to exit on SIGTERM before SIGKILL (it exits in a few ms when healthy).
TMUX_CLIENT_STOP_S = 0.3


# What xterm.js 6 draws, as tmux(1) "terminal-features" names, declared per client with `attach -T` (tmux >= 3.2):
# on the user's own tmux server too, without touching their config, and whatever their terminal-features says.
# TERM=xterm-256color's terminfo lacks most of these, and tmux drops what the terminal is not known to draw.
# | feature | why (what xterm.js does with it) |
# | RGB | SGR 38;2 / 48;2 truecolor; without it tmux maps RGB to the nearest of 256 colours |
# | clipboard | OSC 52 (the clipboard addon): tmux's copies reach the browser clipboard |
# | title | OSC 0/2: xterm's onTitleChange (tmux uses it only with set-titles on) |
# | ccolour, cstyle | OSC 12/112 cursor colour, DECSCUSR cursor shape (vim's insert-mode bar) |
# | focus | DEC mode 1004 focus reports (vim's FocusGained) |
# | strikethrough, overline | SGR 9/29, 53/55 (not in the terminfo: tmux drops them) |
# | usstyle | SGR 4:1-4:5 underline styles and SGR 58 underline colour (spell-check squiggles) |
# | sync | DEC mode 2026 synchronized output: a full-screen redraw lands in one frame, no tearing |
# Left out, because xterm.js 6 does not implement them: extkeys (modifyOtherKeys / CSI u), margins (DECSLRM),
# rectfill (DECFRA), osc7 (nothing uses the working directory); tmux would send sequences xterm ignores or garbles.
CLIENT_FEATURES = ",".join(
    ("RGB", "clipboard", "title", "ccolour", "cstyle", "focus", "strikethrough", "overline", "usstyle", "sync")
)


# One line per session, for the session bar (the current window's size, attached clients, whether the active pane's
# process lives) and the pane headers (its title): one `list-sessions` serves both (livepane_server/poll.py). The
# title is last: it is free text (tmux escapes tabs in session names, and keeps no control character in a title).
SESSIONS_FORMAT = "\t".join(
    ("#{window_width}", "#{window_height}", "#{session_attached}", "#{pane_dead}", "#{session_name}", TITLE_FORMAT)
)


# What the page's preview needs to place the captured pane (Tmux.screen): the window's size, the pane's place and size
# in it, the cursor, and the status line (an option's value is a format variable too: on/off or a line count, top or
# bottom).
SCREEN_FORMAT = (
    "#{window_width} #{window_height} #{pane_left} #{pane_top} #{pane_width} #{pane_height} "
    "#{cursor_x} #{cursor_y} #{cursor_flag} #{status} #{status-position}"
)


# run-shell -C's tmux command, its formats expanded for the target session: `window-size latest` on each window.
LATEST_SIZE_EACH_WINDOW = "#{W:set-option -w -t #{window_id} window-size latest ; }"


class Tmux:
    """The tmux server this process serves: one place that builds every tmux command line."""

    GLOBAL_LATEST_SIZE = ("set-option", "-g", "-w", "window-size", "latest")

    def __init__(self, socket_name: str | None, shell: str, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.socket_name = socket_name
        self.shell = shell
        # Never talk to the tmux we might run inside ($TMUX) and never leak our secrets into panes.
        self.env = {k: v for k, v in os.environ.items() if k != "TMUX" and not k.startswith("LIVEPANE_")}
        self.env["TERM"] = "xterm-256color"
        # One `list-sessions` per interval while watched, for the session bar and the panes' titles alike.
        self.poll = SessionPoll(self.session_rows, poll_interval_s)
        self.titles = TitleWatcher(self.poll)  # the sessions' pane titles, for the bridges that show them

    def argv(self, *args: str) -> list[str]:
        socket_args = ["-L", self.socket_name] if self.socket_name else []
        return ["tmux", *socket_args, *args]

    async def run(self, *args: str, timeout_s: float | None = None) -> tuple[int, str]:
        """Run one tmux command; returns (exit status, stdout). stderr is kept for the debug log only.

        With ``timeout_s``, a tmux that has not answered by then is killed (and reaped) and TimeoutError raised; a
        missing tmux raises OSError (FileNotFoundError) either way.
        """
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        try:
            async with asyncio.timeout(timeout_s):
                out, err = await proc.communicate()
        except TimeoutError:  # no tmux process outlives its deadline
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode:
            log.debug("tmux %s -> %s: %s", " ".join(args), proc.returncode, err.decode(errors="replace").strip())
        return proc.returncode or 0, out.decode(errors="replace")

    async def has_session(self, session_id: str, *, latest_size: bool = False) -> bool:
        """Whether the session exists. ``latest_size``: also `window-size latest` on each of its windows, so the most
        recently active client's size wins; for the user's server, where it is not set globally (their other sessions
        keep their own setting). In one tmux process (its format loops over the windows): a socket's open used to
        wait for three in a row (has-session, list-windows, set-option: handshake to first output 24 vs 13 ms)."""
        args = ["has-session", "-t", f"={session_id}"]
        status, _ = await self.run(*args, *([";", "run-shell", "-t", f"={session_id}:", "-C", LATEST_SIZE_EACH_WINDOW]
                                            if latest_size else []))
        if status and latest_size:
            # A missing session stops the list at has-session (nothing is set). Anything else that failed (a window
            # closed meanwhile, a tmux without `run-shell -C`) must not turn an existing session into a missing one.
            status, _ = await self.run(*args)
        return status == 0

    async def new_session(self, session_id: str) -> bool:
        """Create the session detached; False if it already existed (or could not be made).

        On a server we own, this may be the command that starts it (first start, or after its last session ended
        and tmux exited), so the global `window-size latest` is set in the same command list; on the user's server
        each socket's has_session(latest_size=True) covers the session.
        """
        args = ["new-session", "-d", "-s", session_id, "--", *shlex.split(self.shell)]
        if self.socket_name:
            args += [";", *self.GLOBAL_LATEST_SIZE]
        status, _ = await self.run(*args)
        return status == 0

    async def prefer_latest_size_globally(self) -> None:
        """Only meaningful once the server exists (a session is up): before that, the command fails."""
        await self.run(*self.GLOBAL_LATEST_SIZE)

    async def session_rows(self) -> list[SessionRow]:
        """Every session livepane can open, as one SESSIONS_FORMAT line says it (no tmux server running: none)."""
        status, out = await self.run("list-sessions", "-F", SESSIONS_FORMAT)
        if status != 0:  # no server running: no sessions
            return []
        rows = []
        for line in out.splitlines():
            fields = line.split("\t", 5)
            if len(fields) != 6 or not SESSION_ID_RE.match(fields[4]):
                continue  # a session made outside livepane with a name the pane cannot open
            width, height, attached, dead, name, title = fields
            rows.append(SessionRow(name, int(attached or 0), int(width or 0), int(height or 0), dead != "1", title))
        return rows

    async def list_sessions(self) -> list[dict[str, object]]:
        """The sessions as GET /api/sessions lists them."""
        return [row.listing_entry() for row in await self.session_rows()]

    async def screen(self, session_id: str, timeout_s: float) -> tuple[int, str]:
        """The session's active pane as tmux draws it now, for the page's preview (livepane_server/preview.py): one
        line of SCREEN_FORMAT, then ``capture-pane -e -N`` (its rows with their colours and attributes, trailing
        spaces kept), in one tmux process. (exit status, stdout); a failed status: no such session."""
        return await self.run(*self.screen_args(session_id), timeout_s=timeout_s)

    async def screens(self, session_ids: list[str], timeout_s: float) -> tuple[int, str]:
        """``screen`` of several sessions in one tmux process, their outputs one after another: one fork and one
        connection to the server instead of one per session (12 sessions: ~15 ms instead of 40-80 on two loaded
        cores). tmux stops at the first command that fails, so a failed status means some session is not there."""
        args: list[str] = []
        for session_id in session_ids:
            args += [";", *self.screen_args(session_id)] if args else self.screen_args(session_id)
        return await self.run(*args, timeout_s=timeout_s)

    @staticmethod
    def screen_args(session_id: str) -> list[str]:
        target = f"={session_id}:"
        return ["display-message", "-p", "-t", target, SCREEN_FORMAT, ";",
                "capture-pane", "-e", "-p", "-N", "-t", target]

    def attach_argv(self, session_id: str) -> list[str]:
        # -T (tmux >= 3.2) declares what this one client can draw (CLIENT_FEATURES), for this client only.
        return self.argv("-T", CLIENT_FEATURES, "attach-session", "-t", f"={session_id}")


class TmuxClient:
    """One `tmux attach-session` process on a Pty; `exited` resolves with its status (watched through a pidfd)."""

    def __init__(self, argv: list[str], pty: Pty, env: dict[str, str]) -> None:
        loop = asyncio.get_running_loop()
        # Own session (no signals from our terminal); the PTY is not its controlling terminal, so we deliver
        # SIGWINCH ourselves on resize.
        self.proc = subprocess.Popen(
            argv,
            stdin=pty.slave,
            stdout=pty.slave,
            stderr=pty.slave,
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.exited: asyncio.Future[int] = loop.create_future()
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (old kernel): one waiting thread per client, not per byte
            wait = loop.run_in_executor(None, self.proc.wait)
            wait.add_done_callback(lambda f: self._set_exited(f.result()))
            return

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._set_exited(self.proc.wait())

        loop.add_reader(pidfd, on_exit)

    def _set_exited(self, status: int) -> None:
        if not self.exited.done():
            self.exited.set_result(status)

    def notify_resize(self) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGWINCH)

    async def stop(self) -> None:
        """End the client (tmux detaches it; the session lives on)."""
        for sig, wait_s in ((signal.SIGTERM, TMUX_CLIENT_STOP_S), (signal.SIGKILL, TMUX_CLIENT_STOP_S)):
            if self.exited.done():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.exited), wait_s)
