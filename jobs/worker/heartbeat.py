"""Worker heartbeats: every Celery worker process writes its Worker row.

Connected to Celery's signals (jobs.apps), so any `celery worker` of this project beats,
whether `manage.py runworker` started it or not. The first beat is written synchronously in
worker_ready, before Celery logs "ready.", so the runtime is online as soon as the worker says
it is; then a daemon thread beats every HEARTBEAT_SECONDS; worker_shutdown records stopped_at.

Jobs in hand come from a small registry the run_job task fills around job_execute. It lives
in the worker process, so it needs a pool that runs tasks in that process (threads, solo),
which is the pool runworker uses.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import Counter
from importlib import metadata

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs.runner.sandbox import sandbox_support
from jobs.worker.db import connection_drop
from jobs.worker.identity import NameInUse, name_hold

logger = logging.getLogger(__name__)

PACKAGES = ("django", "celery", "kombu", "pandas", "pyarrow", "numpy", "scikit-learn")


# --- Jobs in hand -------------------------------------------------------------------------

# Counted: a duplicate message for a job this worker runs ends (not claiming it) while the
# first task still runs the job, which must stay in hand.
_in_hand: Counter[str] = Counter()
_in_hand_lock = threading.Lock()


def job_in_hand_add(job_uuid: str) -> None:
    with _in_hand_lock:
        _in_hand[str(job_uuid)] += 1


def job_in_hand_remove(job_uuid: str) -> None:
    with _in_hand_lock:
        _in_hand[str(job_uuid)] -= 1
        if _in_hand[str(job_uuid)] <= 0:
            del _in_hand[str(job_uuid)]


def jobs_in_hand() -> list[str]:
    with _in_hand_lock:
        return sorted(_in_hand)


# --- The beat -----------------------------------------------------------------------------


def versions() -> dict[str, str]:
    """Python and the key packages this worker runs model code with."""
    found = {"python": ".".join(str(n) for n in sys.version_info[:3])}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


class Heartbeat:
    """What one worker process says about itself, and the thread that keeps saying it."""

    def __init__(self, *, name: str, queues: list[str], concurrency: int) -> None:
        self.name = name
        self.queues = queues
        self.concurrency = max(1, int(concurrency or 1))
        self.host = name.partition("@")[2] or socket.gethostname()
        self.pid = os.getpid()
        self.tags = [t.strip() for t in os.environ.get("WORKER_TAGS", "").split(",") if t.strip()]
        self.versions = versions()
        self.sandbox = sandbox_support(settings.MODEL_SANDBOX)
        self.health: dict = {}  # the last database outage it lived through
        self.started_at = timezone.now()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _runtime(self):
        from jobs.models import Runtime
        from jobs.services import runtime_default

        runtime = Runtime.objects.filter(queue__in=self.queues).order_by("name").first()
        if runtime is None and settings.CELERY_TASK_DEFAULT_QUEUE in self.queues:
            runtime = runtime_default()  # made again if it was deleted
        return runtime

    def beat(self, *, stopped: bool = False) -> None:
        """Write this worker's row: one upsert, so a row deleted meanwhile comes back."""
        from jobs.models import Worker

        now = timezone.now()
        runtime = self._runtime()
        row = Worker(
            name=self.name,
            runtime=runtime,
            queue=",".join(self.queues),
            host=self.host,
            pid=self.pid,
            concurrency=self.concurrency,
            versions=self.versions,
            sandbox=self.sandbox,
            health=self.health,
            tags=self.tags,
            jobs_in_hand=[] if stopped else jobs_in_hand(),
            started_at=self.started_at,
            last_seen_at=now,
            stopped_at=now if stopped else None,
            created_at=now,
            updated_at=now,
        )
        fields = [
            "runtime", "queue", "host", "pid", "concurrency", "versions", "sandbox", "health", "tags",
            "jobs_in_hand",
            "started_at", "last_seen_at", "stopped_at", "updated_at",
        ]  # fmt: skip
        Worker.objects.bulk_create(
            [row], update_conflicts=True, unique_fields=["name"], update_fields=fields
        )

    def _run(self) -> None:
        down_since = None  # when the database stopped answering this worker's beats
        while not self._stop.wait(settings.HEARTBEAT_SECONDS):
            try:
                close_old_connections()
                if down_since is not None:  # say so in the first beat that gets through
                    self.health = {
                        "database_outage": {
                            "since": down_since.isoformat(),
                            "until": timezone.now().isoformat(),
                            "seconds": round((timezone.now() - down_since).total_seconds()),
                        }
                    }
                self.beat()
                if down_since is not None:
                    logger.warning(
                        "worker %s: healthy again, the database answers after %s s",
                        self.name, self.health["database_outage"]["seconds"],
                    )  # fmt: skip
                    down_since = None
            except Exception as exc:  # the database may be away for a while; beat again later
                connection_drop()
                if down_since is None:
                    down_since = timezone.now()
                    logger.error(
                        "worker %s: UNHEALTHY, cannot reach the database (%s); its jobs go on "
                        "and their saves wait for it", self.name, exc,
                    )  # fmt: skip
        connection_drop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=settings.HEARTBEAT_SECONDS + 5)


_current: Heartbeat | None = None


def _on_worker_ready(sender=None, **kwargs) -> None:
    global _current
    consumer = sender
    queues = sorted(q.name for q in consumer.app.amqp.queues.consume_from.values())
    concurrency = getattr(consumer.controller, "concurrency", None) or 1
    _current = Heartbeat(name=consumer.hostname, queues=queues, concurrency=concurrency)
    try:
        _current.beat()
    except Exception:
        logger.exception("first heartbeat of %s failed; the thread tries again", _current.name)
    finally:
        connection.close()  # the thread and the tasks open their own
    _current.start()


def _on_worker_shutdown(sender=None, **kwargs) -> None:
    global _current
    if _current is None:
        return
    _current.stop()
    try:
        close_old_connections()
        _current.beat(stopped=True)
    except Exception:
        logger.exception("last heartbeat of %s failed", _current.name)
    finally:
        connection.close()
    _current = None


def sandbox_check() -> dict:
    """Say at a worker's start what its model processes run under; with MODEL_SANDBOX=required
    a worker that cannot sandbox them does not start (SystemExit)."""
    support = sandbox_support(settings.MODEL_SANDBOX)
    if support["on"]:
        logger.info("model sandbox: on (%s)", support["note"])
    elif settings.MODEL_SANDBOX == "required":
        message = f"MODEL_SANDBOX=required, but {support['note']}: this worker does not start"
        logger.critical(message)
        raise SystemExit(message)
    else:
        logger.warning("model sandbox: OFF, %s: model code runs unrestricted", support["note"])
    return support


def _on_worker_init(sender=None, **kwargs) -> None:
    sandbox_check()
    try:
        name_hold(sender.hostname)  # one live process per name (jobs/worker/identity.py)
    except NameInUse as exc:
        logger.critical("%s: this worker does not start", exc)
        raise SystemExit(str(exc)) from None


def connect() -> None:
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="jobs-sandbox-check")
    signals.worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="jobs-heartbeat-ready")
    signals.worker_shutdown.connect(
        _on_worker_shutdown, weak=False, dispatch_uid="jobs-heartbeat-shutdown"
    )
