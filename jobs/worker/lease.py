"""A running model's lease: the supervisor renews it, the model's keeper ends the model as soon
as it is not renewed.

A worker process that stops running (SIGSTOP, a long pause of the whole process, a frozen
VM) cannot stop its model, and after WORKER_OFFLINE_SECONDS another worker takes the job back
and runs it again: for a while both attempts' model code would run at once. So the keeper
(jobs/runner/child.py), a process of its own that no pause of the worker reaches, watches a
file of the work dir that the model's sandbox keeps it from: a thread of the supervisor sets
its modification time every second (a quarter of a shorter lease); when the file has not changed for
MODEL_LEASE_SECONDS, the keeper ends every process of the model, says so in the job log, and
renames the file to lease.expired, which tells the supervisor why its model ended (it gives
the job back for another attempt, if the job is still its own).

A paused worker's heartbeats stop too, and its jobs are taken back once it has been silent
for WORKER_OFFLINE_SECONDS. MODEL_LEASE_SECONDS is by default half of what is left of that
after one heartbeat (12.5 s of 30 s): a pause shorter than that costs nothing, a longer one
ends the model well before its job can be taken back. The lease says only that the worker
process runs: one that runs but cannot reach the database keeps its models going (its saves
wait for the database, and are fenced should the job have been taken back meanwhile).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from django.conf import settings

from jobs.runner.child import LEASE_PATH_ENV, LEASE_SECONDS_ENV

logger = logging.getLogger(__name__)

# What became of the worker, in the note of a job started again (jobs/worker/reconciler.py).
LEASE_EXPIRED = "was paused longer than its model's lease"


class Lease:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "lease"
        self.expired_path = folder / "lease.expired"
        self.seconds = settings.MODEL_LEASE_SECONDS
        self.path.touch()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        """What tells the keeper where the lease is and how long it lasts."""
        return {LEASE_PATH_ENV: str(self.path), LEASE_SECONDS_ENV: str(self.seconds)}

    @property
    def expired(self) -> bool:
        return self.expired_path.exists()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._renew, name="job-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _renew(self) -> None:
        # A thread of its own, not the supervisor's loop, which may wait on the database.
        while not self._stop.wait(min(1.0, self.seconds / 4)):
            try:
                os.utime(self.path)
            except FileNotFoundError:  # the keeper let it expire, or the work dir is gone
                return
