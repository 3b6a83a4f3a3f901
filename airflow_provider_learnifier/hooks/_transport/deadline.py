"""Attempt deadlines: no request attempt outlives its deadline, however slowly a server answers.

The read timeout bounds each wait for data, not the whole answer: a server sending its headers or
body a byte at a time could hold an attempt for ever. :data:`WATCHDOG` cuts the connection of an
attempt that passes its deadline (connecting, sending, the headers and the body of every redirect
hop). ``request_deadline`` in ``docs/connection.md``; ``docs/reliability.md`` for the cases.
"""

from __future__ import annotations

import heapq
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


def _now() -> float:
    """The clock of request deadlines (``time.monotonic``); a seam for tests."""
    return time.monotonic()


def _cut(sock: socket.socket) -> None:
    """Shut a connection down both ways: a read blocked on it returns at once, the server sees it closed."""
    with suppress(OSError):  # closed by the server meanwhile
        sock.shutdown(socket.SHUT_RDWR)


class Attempt:
    """One request attempt under watch: its deadline, and the sockets it is using now.

    Each socket is held as a duplicate of its descriptor, so that cutting it can never hit a
    descriptor the connection closed and the process reused for something else.
    """

    __slots__ = ("deadline", "expired", "finished", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.finished = False
        self.sockets: dict[int, socket.socket] = {}

    def __lt__(self, other: Attempt) -> bool:
        return self.deadline < other.deadline


class AttemptWatchdog:
    """Cut the connections of request attempts that outlive their deadline.

    The read timeout bounds each wait for data, so a server sending its headers or body a byte at
    a time could hold an attempt for ever. One daemon thread per process keeps the deadlines of
    the attempts in progress in a heap and, when one passes, shuts down the attempt's socket: the
    read in progress ends at once, and :meth:`watch`'s caller sees ``attempt.expired``. The hot
    path costs a heap push, a descriptor duplicate per connection used, and no thread.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            # A task process forked while the thread held the lock must not inherit it held.
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[Attempt] = []
        self._finished_in_heap = 0
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Attempt]:
        """Watch the attempt made in this block: its connections are cut ``seconds`` from now."""
        attempt = Attempt(_now() + seconds)
        with self._lock:
            heapq.heappush(self._heap, attempt)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="learnifier-request-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is attempt:
                self._wake.notify()
        self._local.attempt = attempt
        try:
            yield attempt
        finally:
            self._local.attempt = None
            with self._lock:
                attempt.finished = True
                if not attempt.expired:
                    self._finished_in_heap += 1
                    if self._finished_in_heap > 64 and self._finished_in_heap * 2 > len(self._heap):
                        # Drop finished attempts now and then, so the heap stays about as long as
                        # the number of attempts in progress.
                        self._heap = [entry for entry in self._heap if not entry.finished]
                        heapq.heapify(self._heap)
                        self._finished_in_heap = 0
                sockets, attempt.sockets = list(attempt.sockets.values()), {}
            for duplicate in sockets:
                duplicate.close()

    def attach(self, connection: object, sock: socket.socket) -> None:
        """Put the socket of ``connection`` under this thread's attempt (called as it is used)."""
        attempt = getattr(self._local, "attempt", None)
        if attempt is None or id(connection) in attempt.sockets:
            return
        try:
            duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return  # already closed: nothing left to cut
        with self._lock:
            if not attempt.finished:
                if attempt.expired:
                    _cut(duplicate)
                attempt.sockets[id(connection)] = duplicate
                return
        duplicate.close()

    def release(self, connection: object) -> None:
        """Take ``connection`` from this thread's attempt: its answer is read, it goes back to the pool."""
        attempt = getattr(self._local, "attempt", None)
        if attempt is None:
            return
        with self._lock:
            duplicate = attempt.sockets.pop(id(connection), None)
        if duplicate is not None:
            duplicate.close()

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0].finished:
                    heapq.heappop(self._heap)
                    self._finished_in_heap -= 1
                if not self._heap:
                    self._wake.wait()
                    continue
                left = self._heap[0].deadline - _now()
                if left > 0:
                    self._wake.wait(left)
                    continue
                attempt = heapq.heappop(self._heap)
                attempt.expired = True
                for duplicate in attempt.sockets.values():
                    _cut(duplicate)


WATCHDOG = AttemptWatchdog()
