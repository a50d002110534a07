"""Reading ahead: a thread reads an input's next Arrow batches while the job's thread scores
and writes the current one, and reads a recordsets input whole while the model's init runs.

Only Arrow work is done in the thread (reading, parsing, decoding: pyarrow releases the GIL
for it), so on two cores it overlaps with the model. The conversion to pandas stays on the
job's thread, after init, so that whatever init sets (pandas options) applies to every
DataFrame as before; an error of the reading is raised on the job's thread, where the same
read would have raised it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

_END = object()
_PUT_SECONDS = 0.1  # how often a producer waiting for room looks whether it was closed


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Ahead:
    """The items of PRODUCE(), made by a thread at most LIMIT ahead of the one taking them."""

    def __init__(self, produce: Callable[[], Iterator[Any]], *, limit: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, limit))
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(produce,), name="moc-read-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, produce: Callable[[], Iterator[Any]]) -> None:
        try:
            for item in produce():
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - raised again on the taking thread
            self._put(_Raised(exc))

    def _put(self, item: Any) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_PUT_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item

    def close(self) -> None:
        """Stop the thread and wait for it: after this, what it read from may be closed."""
        self._closed.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()  # room for a producer blocked on a full queue
            except queue.Empty:
                pass
            self._thread.join(_PUT_SECONDS)


def in_thread(work: Callable[[], Any]) -> Future:
    """WORK() run by a thread of its own; its result (or its exception) in the future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - raised again by future.result()
            future.set_exception(exc)

    threading.Thread(target=run, name="moc-read-whole", daemon=True).start()
    return future
