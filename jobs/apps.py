from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from jobs.worker import heartbeat

        heartbeat.connect()  # only a Celery worker process sends these signals
        from jobs.worker import reconciler  # noqa: F401 (connects to the worker's signals)
