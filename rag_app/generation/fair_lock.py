"""A lock handed to its waiters in the order they came (first come, first served).

`threading.Lock` wakes any one of its waiters, so with several API clients waiting for the one
answer model, a question could wait behind others that came after it, again and again. This
lock keeps a queue: `release` hands the lock to the oldest waiter directly, so nobody can take
it in between.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairLock:
    """A non-reentrant lock granted in first-come order (the `threading.Lock` interface that
    the model needs: `acquire`, `release`, ``with``)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> bool:
        """Wait for the lock behind everyone who asked before; returns True once held."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by `release` when it is this waiter's turn: the lock is ours
        return True

    def release(self) -> None:
        """Hand the lock to the oldest waiter, or free it when nobody waits."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unlocked FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # it stays held, by the next in line
            else:
                self._held = False

    def waiting(self) -> int:
        """How many wait for the lock now."""
        with self._mutex:
            return len(self._waiters)

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()
