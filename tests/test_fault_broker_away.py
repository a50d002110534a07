"""A broker that takes connections but never answers holds a job submit for seconds, not
forever: the job then waits for the reconciler to send it again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from django.conf import settings

ENQUEUE = """
import time, django
django.setup()
from jobs.services.placement import job_enqueue
started = time.monotonic()
sent = job_enqueue(job_uuid="00000000-0000-4000-8000-000000000000", queue="default")
print(sent, round(time.monotonic() - started, 1))
"""


def test_a_job_sent_to_a_redis_that_never_answers_is_given_up_in_seconds(tmp_path):
    with socket.socket() as silent:  # the kernel accepts connections; nothing answers them
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env |= {"BROKER_URL": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                "DATA_DIR": str(tmp_path / "data"),
                "DJANGO_SETTINGS_MODULE": "commandcenter.settings"}  # fmt: skip

        run = subprocess.run([sys.executable, "-c", ENQUEUE], env=env, cwd=settings.BASE_DIR,
                             capture_output=True, text=True, timeout=90)  # fmt: skip

    assert run.returncode == 0, run.stderr[-2000:]
    sent, took = run.stdout.split()
    assert sent == "False"  # not sent: the job stays WAITING, unqueued
    assert float(took) < 20, run.stdout
    assert "could not queue job" in run.stderr
