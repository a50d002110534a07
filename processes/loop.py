"""The workers' own beat for processes: every worker process runs this loop in a daemon thread
(like the reconciler), so nothing more needs starting. Runs are claimed with a lease, so the
loops of several workers can run at once."""

from __future__ import annotations

import logging
import threading

from celery import signals
from django.conf import settings
from django.db import close_old_connections

from jobs.worker.db import LOST as DATABASE_LOST
from jobs.worker.db import connection_drop

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _loop(stop: threading.Event) -> None:
    from processes.services import processes_tick

    while not stop.wait(settings.PROCESSES_TICK_SECONDS):
        try:
            close_old_connections()
            done = processes_tick()
            if any(done.values()):
                logger.info("processes: %s", done)
        except DATABASE_LOST as exc:
            logger.warning("the process loop cannot reach the database: %s", exc)
            connection_drop()
        except Exception:
            logger.exception("the process loop failed")
            connection_drop()
    connection_drop()


@signals.worker_ready.connect(weak=False, dispatch_uid="processes-loop")
def _on_worker_ready(sender=None, **kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_loop, args=(_stop,), name="processes", daemon=True).start()


@signals.worker_shutdown.connect(weak=False, dispatch_uid="processes-loop-stop")
def _on_worker_shutdown(sender=None, **kwargs) -> None:
    _stop.set()
