"""The supervisor's handle on one child process: spawn, events, memory, log, kill.

No Django here either; supervisor.py decides what the events mean for the job.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from jobs.runner.child import SUPERVISOR_PID_ENV
from jobs.runner.events import peak_rss_bytes

logger = logging.getLogger(__name__)

# Environment variables a model may legitimately need. Everything else, DATABASE_URL,
# BROKER_URL, SECRET_KEY and cloud credentials included, stays in the worker.
_PASSED_THROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MALLOC_TRIM_THRESHOLD_",
)

EOF = None  # put on the queue when the child's event channel closes
_KEEPER_GRACE_SECONDS = 5.0  # for the keeper to end the model's processes before SIGKILL


def child_environment(*, pythonpath: str, tmpdir: str, user: str = "") -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    # The model's home is its own temporary folder (caches, ~/.config), and its user name
    # comes from here, since the sandbox keeps /etc/passwd from it.
    env["HOME"] = tmpdir
    if user:
        env["USER"] = env["LOGNAME"] = user
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    # glibc gives freed heap back to the kernel as soon as 128 KiB sit free at its top, so a
    # chunk-by-chunk loop faults the same pages in again and again: a million records took
    # half their time in the kernel. Keeping up to 128 MiB halves per-record run time; peak
    # memory is unchanged (it is the same high-water mark).
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(128 * 1024 * 1024))
    env.update(
        PYTHONPATH=pythonpath,
        TMPDIR=tmpdir,  # inside the work dir, so temporary files go when it goes
        PYTHONUNBUFFERED="1",  # the model's prints reach the log as they happen
        PYTHONHASHSEED="0",  # the same input gives the same output, run after run
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


class ChildProcess:
    def __init__(self, *, workdir: Path, spec_path: Path, log_path: Path, env: dict[str, str]):
        self.log_path = log_path
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "jobs.runner.child", str(spec_path)],
            cwd=workdir,
            env={**env, SUPERVISOR_PID_ENV: str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # What the model prints goes to the job log line by line, each with its time.
            stderr=subprocess.PIPE,
            # Its own session: a signal to the worker's group does not reach the model.
            start_new_session=True,
            close_fds=True,
        )
        self.pid = self.popen.pid
        self.events: queue.Queue[dict | None] = queue.Queue()
        self.peak_memory = 0
        self.processes = 1  # the keeper, the model process and what it started
        self._channel_closed = False  # the EOF was taken off the queue
        self._reading = True
        self._thread = threading.Thread(
            target=self._read_events, name=f"job-events-{self.pid}", daemon=True
        )
        self._thread.start()
        self._log_thread = threading.Thread(
            target=self._copy_log, name=f"job-log-{self.pid}", daemon=True
        )
        self._log_thread.start()
        try:
            self._ps: psutil.Process | None = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            self._ps = None

    def _lines(self, pipe) -> Iterator[list[bytes]]:
        """The complete lines of PIPE as they come, from the raw fd: never a blocking read, so
        that stopping never waits for a writer that will not close its end. The last,
        unfinished line comes at the end."""
        fd = pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        pending = b""
        try:
            while self._reading:
                if not poller.poll(100):
                    continue
                data = os.read(fd, 65536)
                if not data:
                    break
                *lines, pending = (pending + data).split(b"\n")
                if lines:
                    yield lines
        except OSError:
            pass
        if pending:
            yield [pending]

    def _read_events(self) -> None:
        """Events, line by line, from the child's stdout."""
        assert self.popen.stdout is not None
        try:
            for lines in self._lines(self.popen.stdout):
                for line in lines:
                    self._take(line)
        finally:
            self.events.put(EOF)

    def _copy_log(self) -> None:
        """The child's stderr (the model's prints, warnings and tracebacks, the keeper's
        notes) into the job log, each line after the time the worker read it."""
        assert self.popen.stderr is not None
        try:
            with open(self.log_path, "ab") as log:
                for lines in self._lines(self.popen.stderr):
                    stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:12].encode()
                    log.write(b"".join(stamp + b"  " + line + b"\n" for line in lines))
                    log.flush()
        except OSError:  # a log line is never worth failing the job for
            logger.warning("could not write to the job log %s", self.log_path, exc_info=True)

    def _take(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            logger.warning("child %s: not an event: %r", self.pid, line[:200])
            return
        if isinstance(event, dict):
            self.events.put(event)

    def next_event(self, timeout: float) -> dict | None:
        """The next event, or None when none came within TIMEOUT seconds. Once the event
        channel has closed (the model process has ended), the wait is for the keeper's exit
        instead, so that the end of a job is seen when it happens, not at the next poll."""
        if self._channel_closed:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return None
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is EOF:
            self._channel_closed = True
        return event

    def sample_memory(self) -> int:
        """Resident memory of the child and everything it started; keeps the peak."""
        if self._ps is None:
            return self.peak_memory
        try:
            processes = [self._ps, *self._ps.children(recursive=True)]
        except psutil.Error:
            return self.peak_memory
        self.processes = len(processes)
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # it ended between the listing and the reading
                pass
        # The child's own high-water mark catches peaks between two samples.
        self.peak_memory = max(self.peak_memory, total, peak_rss_bytes(self.pid))
        return total

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """Stop the model at once: the keeper kills every process the model started (it has
        them all, whatever they did to detach) and exits. Should the keeper not exit in a few
        seconds, SIGKILL its process group."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(_KEEPER_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning("child %s: its keeper did not stop; killing its group", self.pid)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # already gone
        self.popen.wait()

    def finish(self, *, timeout: float = 2.0) -> None:
        """After the child exits: remove what it left running, read the last events. Never
        waits long on the event pipe: the job's end is the child's exit, not the pipe's EOF."""
        self.kill()
        self._thread.join(timeout)
        self._log_thread.join(timeout)
        self._reading = False
        self._thread.join(1.0)
        self._log_thread.join(1.0)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()  # the readers read the raw fds: nothing holds these

    def log_tail(self, limit: int) -> str:
        return log_tail(self.log_path, limit)

    def log_note(self, text: str) -> None:
        """A line of the supervisor's own at the end of the job log (e.g. why it stopped)."""
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{text}\n")


def event_line(text: str, *, at: datetime | None = None) -> str:
    """A dated line of the supervisor's own: what happened to the job, and when (AT, or now)."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"[{stamp}] {text}\n"


def log_event(path: Path, text: str, *, at: datetime | None = None) -> None:
    """A timestamped line of the supervisor's own in the job log: what it did, and when."""
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(event_line(text, at=at))
    except OSError:  # a log line is never worth failing the job for
        logger.warning("could not write to the job log %s", path, exc_info=True)


def log_tail(path: Path, limit: int) -> str:
    """The last LIMIT bytes of the log at PATH (what the job page shows)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - limit, 0))
            data = f.read(limit)
    except OSError:
        return ""
    if size > limit:  # drop the cut first line and say that the start is missing
        data = b"[...]\n" + data.partition(b"\n")[2]
    return data.decode("utf-8", "replace")


def exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"killed by signal {name}{hint}"
    return f"exit code {returncode}"
