"""The model's lock is granted in the order the questions came (`generation/fair_lock.py`)."""

from __future__ import annotations

import threading
import time

import pytest

from rag_app.generation.fair_lock import FairLock


def test_waiters_get_the_lock_in_the_order_they_came() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for n in range(8):
        thread = threading.Thread(target=lambda n=n: (lock.acquire(), order.append(n), lock.release()))
        thread.start()
        threads.append(thread)
        while lock.waiting() < n + 1:  # the n-th is queued before the next one starts
            time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == list(range(8))


def test_nobody_takes_the_lock_between_a_release_and_the_next_waiter() -> None:
    lock = FairLock()
    got: list[str] = []
    with lock:
        waiter = threading.Thread(target=lambda: (lock.acquire(), got.append("waiter"), lock.release()))
        waiter.start()
        while not lock.waiting():
            time.sleep(0.001)
    late = threading.Thread(target=lambda: (lock.acquire(), got.append("late"), lock.release()))
    late.start()
    waiter.join(timeout=5)
    late.join(timeout=5)
    assert got == ["waiter", "late"]


def test_releasing_a_free_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        FairLock().release()
