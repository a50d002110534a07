"""The one command line that starts a Celery worker of this project (runworker, tests, the
fault script)."""

from __future__ import annotations

import sys


def celery_worker_argv(
    *, queues: str, hostname: str, concurrency: int = 2, loglevel: str = "INFO"
) -> list[str]:
    """`celery worker` on QUEUES as HOSTNAME (name@%h). Threads are enough: a task only
    supervises the model's own child process. Without Django's checks: `runworker` ran them
    before it became this, and URL checks import every view (33 MB the worker never used)."""
    return [
        sys.executable, "-m", "celery", "--skip-checks", "-A", "commandcenter", "worker",
        "--queues", queues, "--concurrency", str(concurrency), "--pool", "threads",
        "--hostname", hostname, "--loglevel", loglevel, "--without-mingle", "--without-gossip",
    ]  # fmt: skip
