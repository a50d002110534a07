from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from jobs.models import Runtime
from jobs.services import runtime_default
from jobs.worker.command import celery_worker_argv
from jobs.worker.heartbeat import sandbox_check
from jobs.worker.identity import name_choose, name_hand_over, name_lock, worker_name


class Command(BaseCommand):
    help = "Start a Celery worker that serves one runtime's queue (default: the default runtime)."

    def add_arguments(self, parser):
        parser.add_argument("--runtime", help="runtime name (see the Runtime list in admin)")
        parser.add_argument(
            "--concurrency", type=int, default=2, help="jobs this worker runs at once"
        )
        parser.add_argument(
            "--hostname",
            help="this worker's name, NAME@HOST (%%h is this machine's name), unique among all "
            "workers; default: RUNTIME@%%h, or RUNTIME-2@%%h, ... when another worker on this "
            "machine has that name",
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(
        self,
        *args,
        runtime: str | None,
        concurrency: int,
        loglevel: str,
        hostname: str | None,
        **options,
    ):
        try:
            found = self._runtime(runtime)
        except DatabaseError as exc:
            raise CommandError(
                f"The database is not ready ({exc}). Run `manage.py migrate` first, and check "
                "DATABASE_URL if this machine should use a shared database."
            ) from exc
        try:
            sandbox_check()
        except SystemExit as exc:
            raise CommandError(str(exc)) from None
        if hostname:
            name = worker_name(hostname)
            lock = name_lock(name)
            if lock is None:
                raise CommandError(
                    f"Another worker on this machine is named {name}; give this one another "
                    "--hostname (or none, to get a free name)."
                )
        else:
            name, lock = name_choose(found.name)
        name_hand_over(name, lock)  # the worker holds its name from its first instant
        argv = celery_worker_argv(
            queues=found.queue, hostname=name, concurrency=concurrency, loglevel=loglevel
        )
        self.stdout.write(f"Worker {name} for runtime {found.name!r} (queue {found.queue!r})")
        self.stdout.flush()
        os.execv(sys.executable, argv)

    def _runtime(self, name: str | None) -> Runtime:
        if not name:
            return runtime_default()
        found = Runtime.objects.filter(name=name).first()
        if found is None:
            names = ", ".join(Runtime.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No runtime named {name!r} (runtimes: {names}).")
        return found
