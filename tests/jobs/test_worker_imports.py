"""A worker (and a web process) starts without numpy, pandas or pyarrow: the model process
reads and writes data, the worker only supervises it, and those libraries would hold over
100 MB in every worker for nothing. Run in a fresh interpreter, as a worker starts: Django's
setup, the supervisor and the tasks, and the system checks `runworker` runs before it becomes
the Celery worker (they import the URLconf and so every view; the worker itself skips them)."""

from __future__ import annotations

import json
import subprocess
import sys

from django.conf import settings

START = """
import json, sys
import django

django.setup()
import commandcenter.celery, jobs.tasks, jobs.worker.supervisor, jobs.worker.dryrun
from django.core.checks import run_checks

run_checks()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
HEAVY = {"numpy", "pandas", "pyarrow", "fastavro", "sklearn", "scipy"}


def test_a_worker_starts_without_the_data_libraries(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", START],
        cwd=settings.BASE_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "commandcenter.settings",
            "DATA_DIR": str(tmp_path),
            "PYTHONPATH": str(settings.BASE_DIR),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "django" in loaded and "jobs" in loaded
    assert loaded & HEAVY == set()
