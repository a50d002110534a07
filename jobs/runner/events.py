"""The child's event channel: JSON lines on the real stdout, read by the supervisor.

{"event": "progress", "records_read": .., "records_written": .., "records_rejected": ..,
 "bytes_read": .., "bytes_total": ..}                     at most every PROGRESS_SECONDS
{"event": "done", ...the same counts, "peak_memory": ..}  once, on success
{"event": "metrics", "metrics": [{...}, ...]}             once, metrics jobs, before done
{"event": "error", "message": "..."}                      once, on failure
{"event": "sandbox", "sandbox": {"on": .., "abi": .., ...}}  once, before the model loads
{"event": "engine", "progress": {"stages_done": .., "ui_url": .., ...}}  Spark runtime only
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass

import orjson

PROGRESS_SECONDS = 0.25


@dataclass
class Counts:
    records_read: int = 0
    records_written: int = 0
    records_rejected: int = 0
    bytes_read: int = 0
    bytes_total: int = 0


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The process's high-water resident memory (Linux VmHWM), 0 where unknown.

    Not getrusage's ru_maxrss: a child inherits its parent's value at fork, so a child of a
    big worker process would report the worker's memory as its own."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Events:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.next_progress = 0.0
        self.lock = threading.Lock()  # a Spark driver sends progress from a thread too

    def _send(self, event: dict) -> None:
        data = orjson.dumps(event) + b"\n"
        try:
            with self.lock:
                while data:
                    data = data[os.write(self.fd, data) :]
        except BrokenPipeError:
            # The supervisor is gone (its worker died): nobody will use this job's output.
            # The keeper process above this one ends whatever the model started.
            os._exit(2)

    def due(self) -> bool:
        return time.monotonic() >= self.next_progress

    def progress(self, counts: Counts, *, force: bool = False) -> None:
        if force or self.due():
            self._send({"event": "progress", **asdict(counts)})
            self.next_progress = time.monotonic() + PROGRESS_SECONDS

    def done(self, counts: Counts) -> None:
        self._send({"event": "done", **asdict(counts), "peak_memory": peak_rss_bytes()})

    def metrics(self, values: list[dict]) -> None:
        """A metrics job's results, once, before "done"."""
        self._send({"event": "metrics", "metrics": values})

    def sandbox(self, applied: dict) -> None:
        self._send({"event": "sandbox", "sandbox": applied})

    def engine(self, progress: dict) -> None:
        """A distributed engine's own progress (stages, tasks, its UI), for the job page."""
        self._send({"event": "engine", "progress": progress})

    def error(self, message: str) -> None:
        self._send({"event": "error", "message": message, "peak_memory": peak_rss_bytes()})
