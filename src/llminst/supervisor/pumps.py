"""Moving bytes between llminst and a running CLI: its stdout and stderr read to EOF, its stdin fed.

On Linux one task does it all: a `Watch` is a private epoll set holding the pipes and a pidfd
of the CLI, which trio waits on as one descriptor, so a single task learns which pipe is ready
or that the CLI has exited; `read_ready` and `StdinWriter` then move the bytes without blocking.
Elsewhere each pipe has its task: a `PipeReader` per pipe (`feed_stdin` for stdin) and a
`Linger` that bounds the wait for EOF once the process tree is gone (a descendant that escaped
the group may hold a pipe open forever).

Either way a read takes what is there without a trip through trio's scheduler and waits only
when nothing is, with a checkpoint every few chunks so that a CLI flooding its pipe cannot
starve other tasks.

What it must never do: interpret the bytes (decoders do), or close a pipe it is reading.
"""

from __future__ import annotations

import math
import os
import select
from collections.abc import Awaitable, Callable
from types import TracebackType

import trio

__all__ = ["Linger", "PipeReader", "StdinWriter", "Watch", "feed_stdin", "read_ready"]

READ_SIZE = 65536
_CHUNKS_PER_CHECKPOINT = 16  # reads that found data at once before yielding to other tasks


class Linger:
    """How long reading goes on once the process tree is gone.

    A pipe still open then is held by a descendant that escaped the group, maybe forever.
    `start` gives the readers `seconds`: `scope` (around them) is cancelled once that long
    passes with no pipe delivering data. Time a reader spends handing data on does not count:
    a slow consumer of what was read is no reason to drop what is still in the pipe.
    """

    def __init__(self, scope: trio.CancelScope) -> None:
        self._scope = scope
        self._seconds: float | None = None
        self._handing_on = 0

    @property
    def active(self) -> bool:
        return self._seconds is not None

    def start(self, seconds: float) -> None:
        self._seconds = seconds
        self._rearm()

    def hold(self) -> None:
        """A reader starts handing data on: no deadline until it is done (`release`)."""
        self._handing_on += 1
        self._scope.deadline = math.inf

    def release(self) -> None:
        self._handing_on -= 1
        self._rearm()

    def _rearm(self) -> None:
        if self._seconds is not None and not self._handing_on:
            self._scope.deadline = trio.current_time() + self._seconds


class PipeReader:
    """Reads one pipe to EOF, handing each chunk to the callback given to `run`."""

    def __init__(self, stream: trio.abc.ReceiveStream, linger: Linger) -> None:
        self._stream = stream
        self._fd = stream.fileno() if isinstance(stream, trio.lowlevel.FdStream) else None
        self._linger = linger
        self._unyielded = 0
        self.at_eof = False
        """True once it read to EOF (False: it was cancelled, or gave up while lingering)."""

    async def run(self, on_data: Callable[[bytes], Awaitable[None]]) -> None:
        """Read until EOF, awaiting `on_data` for each chunk."""
        linger = self._linger
        while data := await self._read():
            if not linger.active:
                await on_data(data)
                continue
            linger.hold()
            try:
                await on_data(data)
            finally:
                linger.release()
        self.at_eof = True

    async def _read(self) -> bytes:
        if self._fd is None:  # pragma: no cover - POSIX pipes are FdStreams
            return bytes(await self._stream.receive_some(READ_SIZE))
        while True:
            try:
                data = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                self._unyielded = 0
                await trio.lowlevel.wait_readable(self._fd)
                continue
            self._unyielded += 1
            if self._unyielded >= _CHUNKS_PER_CHECKPOINT:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()
            return data


async def feed_stdin(stdin: trio.abc.SendStream, data: bytes) -> None:
    """Write `data` to the CLI's stdin and close it (the CLI reads its prompt to EOF)."""
    try:
        await stdin.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the CLI exited (or closed stdin) before reading it all; its exit code tells why
    finally:
        if isinstance(stdin, trio.lowlevel.FdStream):
            stdin.close()
        else:  # pragma: no cover - POSIX pipes are FdStreams
            with trio.CancelScope(shield=True):
                await stdin.aclose()


# --------------------------------------------------------------------------------------------
# One task for everything (Linux)


class Watch:
    """Waits, in one task, until one of a process's pipes is ready or the process has exited.

    Use `Watch.available()` first: it needs epoll and pidfds (Linux 5.3). The process must not
    be reaped before the watch is made (its pidfd would name nobody).
    """

    def __init__(self, pid: int) -> None:
        self._epoll = select.epoll()
        try:
            self.exit_fd = os.pidfd_open(pid)
            self._epoll.register(self.exit_fd, select.EPOLLIN)
        except BaseException:
            self._epoll.close()
            raise
        self._unyielded = 0

    @staticmethod
    def available() -> bool:
        return hasattr(select, "epoll") and hasattr(os, "pidfd_open")

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        trio.lowlevel.notify_closing(self._epoll.fileno())
        self._epoll.close()
        os.close(self.exit_fd)

    def readable(self, fd: int) -> None:
        self._epoll.register(fd, select.EPOLLIN)

    def writable(self, fd: int) -> None:
        self._epoll.register(fd, select.EPOLLOUT)

    def forget(self, fd: int) -> None:
        """Stop watching `fd` (before it is closed; the exit fd once the exit is seen)."""
        self._epoll.unregister(fd)

    async def wait(self, deadline: float = math.inf) -> list[int] | None:
        """The descriptors ready now, or once one is (possibly none: look again); None when
        `deadline` passes first."""
        ready = self._epoll.poll(0)
        if ready:
            self._unyielded += 1
            if self._unyielded >= _CHUNKS_PER_CHECKPOINT:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()  # they stay ready: nobody else reads them
            return [fd for fd, _ in ready]
        self._unyielded = 0
        if deadline == math.inf:
            await trio.lowlevel.wait_readable(self._epoll.fileno())
        else:
            with trio.move_on_at(deadline) as scope:
                await trio.lowlevel.wait_readable(self._epoll.fileno())
            if scope.cancelled_caught:
                return None
        return [fd for fd, _ in self._epoll.poll(0)]


def read_ready(fd: int) -> bytes | None:
    """What a ready pipe holds (empty at EOF); None if nothing was there after all."""
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None


class StdinWriter:
    """Writes the prompt into the CLI's stdin as the pipe takes it, then closes it."""

    def __init__(self, stdin: trio.lowlevel.FdStream, data: bytes) -> None:
        self._stdin = stdin
        self.fd = stdin.fileno()
        self._rest = memoryview(data)

    def write_some(self) -> bool:
        """Write what the pipe takes now; True once done (all written, or the CLI closed its
        end: its exit code tells why). Forget the descriptor before calling `close`."""
        try:
            written = os.write(self.fd, self._rest[:READ_SIZE])
        except BlockingIOError:
            return False
        except OSError:  # EPIPE: the CLI exited (or closed stdin) before reading it all
            return True
        self._rest = self._rest[written:]
        return not self._rest

    def close(self) -> None:
        self._stdin.close()
