"""The same batch-mode scoring job on the default runtime (one model process), on Spark
local[1] and on Spark local[2], each behind a real worker on a fresh embedded default:

    .venv/bin/python scripts/benchmark_spark.py --rows 4000000

Prints each runtime's wall time and rows/s, and the ratios local[2] / local[1] and Spark /
the model process. Spark reads the uploaded CSV in splits of --split-kb kilobytes (its
spark.sql.files.maxPartitionBytes), so there are partitions for every core; on a 2-core
machine local[2] should reach 1.7 × local[1]. Needs the spark extra and Java 17.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODEL = """\
# moc.batch: true
import numpy as np


# modelop.score
def score(frame):
    x = frame["x"].to_numpy(dtype=float)
    yield frame.assign(score=np.round(np.tanh(x * 0.5) + np.sqrt(np.abs(x)), 6))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--split-kb", type=int, default=8192)
    parser.add_argument("--data-dir", help="defaults to a new temporary folder")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cc-bench-spark-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL"}}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                   env=env, check=True)  # fmt: skip

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.files import File

    from jobs.models import JobAsset, Runtime, Upload
    from jobs.services import InputSpec, OutputSpec, job_submit
    from models_registry.services import model_create

    admin = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "", "bench-only"
    )
    team, _ = Group.objects.get_or_create(name="bench")
    admin.groups.add(team)
    snapshot = model_create(
        owner=admin, team=team, name=f"spark bench {time.time():.0f}", source_name="bench.py",
        source=MODEL,
    ).latest_snapshot()  # fmt: skip
    path = data_dir / f"bench-{args.rows}.csv"
    with open(path, "w") as f:
        f.write("id,x\n")
        for start in range(0, args.rows, 100_000):
            f.write("".join(f"{i},{(i % 1000) / 10 - 50}\n"
                            for i in range(start + 1, min(start + 100_000, args.rows) + 1)))  # fmt: skip
    size = path.stat().st_size
    upload = Upload(owner=admin, name=path.name, size=size)
    with open(path, "rb") as f:
        upload.file.save(path.name, File(f), save=False)
    upload.save()
    print(f"input: {args.rows:,} rows, {size / 1e6:,.1f} MB of CSV")

    split = {"spark.sql.files.maxPartitionBytes": f"{args.split_kb}k"}
    runtimes = [
        Runtime.objects.get_or_create(name="default", defaults={"queue": "default",
                                                                "is_default": True})[0],
        Runtime.objects.update_or_create(name="spark-1", defaults={
            "queue": "spark-1", "kind": "spark", "spark_master": "local[1]", "spark_conf": split,
        })[0],
        Runtime.objects.update_or_create(name="spark-2", defaults={
            "queue": "spark-2", "kind": "spark", "spark_master": "local[2]", "spark_conf": split,
        })[0],
    ]  # fmt: skip
    results: dict[str, float] = {}
    for runtime in runtimes:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "--runtime", runtime.name], cwd=ROOT,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(6)  # the worker starts before the clock does
            started = time.monotonic()
            job = job_submit(
                user=admin, snapshot=snapshot, runtime=runtime,
                inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
                output=OutputSpec(name="out.jsonl", format="jsonl"),
            )  # fmt: skip
            while not job.is_terminal:
                time.sleep(0.2)
                job.refresh_from_db()
            wall = time.monotonic() - started
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        if job.status != "COMPLETE" or job.records_written != args.rows:
            print(f"{runtime.name}: job {job.status}, {job.records_written:,} written: "
                  f"{job.error_message}\n{job.log[-2000:]}")  # fmt: skip
            sys.exit(1)
        results[runtime.name] = wall
        print(f"{runtime.name:>8} ({runtime.spark_master or 'model process'}): {wall:6.1f} s, "
              f"{args.rows / wall:,.0f} rows/s")  # fmt: skip
    one, two, process = results["spark-1"], results["spark-2"], results["default"]
    print(f"ratio local[2] / local[1]: {one / two:.2f} (goal >= 1.7 on 2 cores)")
    print(f"ratio local[2] / model process: {process / two:.2f}")
    print(f"ratio local[1] / model process: {process / one:.2f}")


if __name__ == "__main__":
    main()
