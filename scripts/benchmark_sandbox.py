"""What the model sandbox costs: job start latency and rows/s of the demo job, with and without.

    .venv/bin/python scripts/benchmark_sandbox.py --rows 300000 --repeat 5

A fresh DATA_DIR (embedded default); each job is run by the supervisor in this process
(jobs.worker.supervisor.job_execute, as a worker's task does), so the figures hold the claim,
the work dir, the model process (with or without its sandbox), the model and the commit, and
no broker pickup. Runs alternate between MODEL_SANDBOX=auto and off, so a busy moment of the
machine hits both alike; medians are printed with their ratio. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="cc-bench-sandbox-"))
    for name in ("DATABASE_URL", "BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    env = dict(os.environ)
    create_admin = (
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('admin', '', 'bench-only-password')"
    )
    for argv in (("migrate", "--verbosity", "0"), ("shell", "-c", create_admin), ("load_demo",)):
        subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.files import File

    from jobs.models import JobAsset, JobStatus, Upload
    from jobs.runner.sandbox import sandbox_support
    from jobs.services import InputSpec, job_submit
    from jobs.worker.supervisor import job_execute
    from models_registry import demo
    from models_registry.models import Model

    print(f"sandbox where on: {sandbox_support('auto')['note']}; running as uid {os.geteuid()}")
    admin = User.objects.get(username="admin")
    snapshot = Model.objects.get(name="Iris classifier (demo)").latest_snapshot()

    def upload(rows: int) -> Upload:
        path = demo.write_sample_jsonl(data_dir / f"iris-{rows}.jsonl", rows)
        item = Upload(owner=admin, name=path.name, size=path.stat().st_size)
        with open(path, "rb") as f:
            item.file.save(path.name, File(f), save=False)
        item.save()
        return item

    small, big = upload(1), upload(args.rows)

    def run(item: Upload, mode: str) -> float:
        settings.MODEL_SANDBOX = mode
        job = job_submit(
            user=admin, snapshot=snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=item)],
        )  # fmt: skip
        started = time.perf_counter()
        job_execute(job_uuid=str(job.uuid))
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        if job.status != JobStatus.COMPLETE:
            raise SystemExit(f"the {mode} job ended {job.status}: {job.error_message}")
        if job.records_written != item_rows[item.pk]:
            raise SystemExit(f"the {mode} job wrote {job.records_written} records")
        return elapsed

    item_rows = {small.pk: 1, big.pk: args.rows}
    from commandcenter.celery import app  # noqa: F401 (job_submit's on_commit sends a message)

    times: dict[tuple[str, str], list[float]] = {}
    run(small, "auto")  # warm the page cache and imports once
    for _ in range(args.repeat):
        for mode in ("auto", "off"):
            times.setdefault(("start", mode), []).append(run(small, mode))
            times.setdefault(("rows", mode), []).append(run(big, mode))

    def median(kind: str, mode: str) -> float:
        return statistics.median(times[(kind, mode)])

    on_start, off_start = median("start", "auto"), median("start", "off")
    on_rate, off_rate = args.rows / median("rows", "auto"), args.rows / median("rows", "off")
    print(f"\nmedians of {args.repeat} runs each, alternating:")
    print(f"{'':<34}{'sandbox on':>14}{'sandbox off':>14}{'on / off':>10}")
    print(f"{'1-record job, claim to COMPLETE':<34}{on_start:>13.3f}s{off_start:>13.3f}s"
          f"{on_start / off_start:>9.2f}x")  # fmt: skip
    print(f"{f'{args.rows:,}-row demo job, rows/s':<34}{on_rate:>14,.0f}{off_rate:>14,.0f}"
          f"{on_rate / off_rate:>9.2f}x")  # fmt: skip
    print(f"sandbox cost at start: {(on_start - off_start) * 1000:+.0f} ms")


if __name__ == "__main__":
    main()
