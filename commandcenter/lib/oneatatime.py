"""One thread of a process makes a kept copy; the others asking for it meanwhile wait for it.

A polled page kept per state (a running job's live region, the jobs list's first page) is
missed by every request in flight when the state moves: with 50 connections on 2 processes of
4 threads, 8 threads rendered the same region at once, twice a second (a running job saves
its progress every half second), each render 5-10 times a kept copy's cost. Here the first
thread renders and the others wait for its copy: one render per state and process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

WAIT_SECONDS = 5.0  # then a waiter makes its own (the first may be stuck on its database)

_lock = threading.Lock()
_making: dict[str, threading.Event] = {}


@contextmanager
def one_at_a_time(key: str, *, wait: float = WAIT_SECONDS) -> Iterator[bool]:
    """True: no other thread of this process is making KEY, so this one makes it, and others
    asking meanwhile wait until this block ends. False: another thread was making it and has
    finished (or WAIT seconds passed): look for its copy again, and make one if there is none."""
    with _lock:
        event = _making.get(key)
        first = event is None
        if first:
            event = _making[key] = threading.Event()
    if not first:
        event.wait(wait)
        yield False
        return
    try:
        yield True
    finally:
        with _lock:
            _making.pop(key, None)
        event.set()
