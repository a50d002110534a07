"""The fault script, run by the suite: 5 times, a real worker SIGKILLed in the middle of a
scoring job, another worker finishing it with every output record exactly once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import _worker_database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_jobs_of_killed_workers_complete_with_each_output_record_once():
    env = {**os.environ, "DATABASE_URL": _worker_database_url()}
    script = settings.BASE_DIR / "scripts" / "fault_kill_worker.py"

    run = subprocess.run(
        [sys.executable, str(script), "--iterations", "5", "--rows", "200000"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=400,
    )

    print(run.stdout)  # the figures, with -s
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "summary: 5 of 5 iterations ok" in run.stdout
