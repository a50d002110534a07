from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from jobs.models import Runtime
from jobs.services import runtime_default


class Command(BaseCommand):
    help = "Start a Celery worker that serves one runtime's queue (default: the default runtime)."

    def add_arguments(self, parser):
        parser.add_argument("--runtime", help="runtime name (see the Runtime list in admin)")
        parser.add_argument(
            "--concurrency", type=int, default=2, help="jobs this worker runs at once"
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, runtime: str | None, concurrency: int, loglevel: str, **options):
        if runtime:
            found = Runtime.objects.filter(name=runtime).first()
            if found is None:
                names = ", ".join(Runtime.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No runtime named {runtime!r} (runtimes: {names}).")
        else:
            found = runtime_default()
        argv = [
            sys.executable, "-m", "celery", "-A", "commandcenter", "worker",
            "--queues", found.queue,
            # Threads are enough: a task only supervises the model's own child process.
            "--pool", "threads",
            "--concurrency", str(concurrency),
            "--hostname", f"{found.name}@%h",
            "--loglevel", loglevel,
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        self.stdout.write(f"Worker for runtime {found.name!r} (queue {found.queue!r})")
        self.stdout.flush()
        os.execv(sys.executable, argv)
