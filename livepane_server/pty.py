"""One pseudo-terminal per socket: non-blocking master I/O on the event loop (no thread per byte)."""

from __future__ import annotations

import array
import asyncio
import errno
import fcntl
import os
import struct
import termios
from collections.abc import Callable

# Input queued for a PTY beyond this makes the socket reader wait (the PTY's own buffer is about 4 KiB).
PTY_INPUT_HIGH_WATER_BYTES = 64 * 1024


def set_winsize(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Pty:
    """One pseudo-terminal for one socket's lifetime: non-blocking master I/O on the event loop.

    We keep the slave open too: successive tmux clients (after a respawn) get the same terminal, its size, and any
    input typed in between; and the master never reads EOF just because a client died.
    """

    def __init__(self, columns: int, rows: int) -> None:
        self._loop = asyncio.get_running_loop()
        self.master, self.slave = os.openpty()
        set_winsize(self.master, columns, rows)
        os.set_blocking(self.master, False)
        self._pending = bytearray()
        self._drained: asyncio.Future[None] | None = None
        self._closed = False
        # Input counted in bytes since this PTY opened: handed to write(), and accepted by the kernel. The bridge
        # acks input frames by comparing the two; on_written() is called whenever written_bytes grows.
        self.queued_bytes = 0
        self.written_bytes = 0
        self.on_written: Callable[[], None] | None = None

    def resize(self, columns: int, rows: int) -> None:
        set_winsize(self.master, columns, rows)

    async def read(self, limit: int) -> bytes:
        """Wait for output, then return what is there (coalesced, up to `limit`); b"" once the PTY is gone."""
        chunks: list[bytes] = []
        size = 0
        while size < limit and not self._closed:
            try:
                data = os.read(self.master, limit - size)
            except BlockingIOError:
                if chunks:
                    break
                await self._wait(self._loop.add_reader, self._loop.remove_reader)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave fd closed
                    break
                raise
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)

    async def _wait(self, add: Callable[..., None], remove: Callable[[int], bool]) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()

        def on_ready() -> None:
            if not ready.done():
                ready.set_result(None)

        add(self.master, on_ready)
        try:
            await ready
        finally:
            if not self._closed:
                remove(self.master)

    def write(self, data: bytes) -> None:
        """Queue input for the terminal; written as the PTY accepts it."""
        if self._closed:
            return
        self.queued_bytes += len(data)
        if not self._pending:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                written = 0
            self._count_written(written)
            data = data[written:]
            if not data:
                return
            self._loop.add_writer(self.master, self._flush)
        self._pending += data

    def _count_written(self, written: int) -> None:
        if written:
            self.written_bytes += written
            if self.on_written is not None:
                self.on_written()

    def _flush(self) -> None:
        try:
            written = os.write(self.master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            del self._pending[:]  # the terminal is gone; input for it is moot (and not counted as written)
            written = 0
        self._count_written(written)
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self.master)
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    async def drain(self) -> None:
        """If queued input is over the high-water mark, wait until all of it is written (or the pty closes)."""
        if len(self._pending) <= PTY_INPUT_HIGH_WATER_BYTES:
            return
        self._drained = self._loop.create_future()
        await self._drained

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def unread_input_bytes(self) -> int:
        """Input written to the master that the terminal's reader (tmux) has not read from the slave yet."""
        if self._closed:
            return 0
        count = array.array("i", [0])
        fcntl.ioctl(self.slave, termios.FIONREAD, count)
        return count[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self.master)
        self._loop.remove_writer(self.master)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        os.close(self.master)
        os.close(self.slave)
