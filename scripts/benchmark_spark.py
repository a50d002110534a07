"""The same batch-mode scoring job on the default runtime (one model process), on Spark
local[1] and on Spark local[2], each behind a real worker on a fresh embedded default:

    .venv/bin/python scripts/benchmark_spark.py --rows 4000000

The worker's class archive for Spark drivers is made first (as a worker makes it for the
jobs after its first). Prints each runtime's wall time (submit to COMPLETE) and rows/s, the
time Spark spent scoring and writing (the distributed part, from the job log) and the ratios local[2] / local[1] and
Spark / the model process, with the CPU seconds the worker and its children used. Spark sizes
the splits of the uploaded CSV itself (the input's bytes / cores, at most 128 MB: one task per
core, since each task starts a Python worker); --split-kb sets
spark.sql.files.maxPartitionBytes instead. Needs the spark extra and Java 17.

--model cheap (the default) scores with a vectorised model that costs little (tens of ns a
row), so Spark's own work shows: reading, Arrow, writing. --model demo scores with a model
whose work dominates (a loop of numpy transcendental functions: about 6 us a row, more
than Spark's own work a row), to show how local[2] scales over local[1] when it is the model
that takes the time; --model heavy (32 times the demo's loop, tens of us a row) and
--rounds N (the demo's loop N times) show where local[2] nears twice local[1]. The model's
cost a row in one process is printed first.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODELS = {
    "cheap": """\
# moc.batch: true
import numpy as np


# modelop.score
def score(frame):
    x = frame["x"].to_numpy(dtype=float)
    yield frame.assign(score=np.round(np.tanh(x * 0.5) + np.sqrt(np.abs(x)), 6))
""",
    "demo": """\
# moc.batch: true
import numpy as np


# modelop.score
def score(frame):
    x = frame["x"].to_numpy(dtype=float)
    y = np.zeros_like(x)
    for k in range(1, 129):  # single-threaded numpy: one core per Python worker
        y += np.sin(x * k) * np.exp(-np.abs(x) / k) + np.log1p(np.abs(x) * k)
    yield frame.assign(score=np.round(np.tanh(y / 128) + np.sqrt(np.abs(x)), 6))
""",
}


def looped(rounds: int) -> str:
    """The demo model with ROUNDS rounds of its loop a row instead of 128."""
    return (
        MODELS["demo"]
        .replace("range(1, 129)", f"range(1, {rounds + 1})")
        .replace("y / 128", f"y / {rounds}")
    )


# 32 times the demo's work a row (tens of microseconds): what a large tree ensemble, or a model
# that is not vectorised, costs; the jobs that go to Spark for its cores.
MODELS["heavy"] = looped(4096)


def model_cost(source: str, rows: int = 100_000) -> float:
    """The model's score on ROWS rows of the benchmark's input, in this process: seconds a row."""
    import numpy as np
    import pandas as pd

    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    ids = np.arange(1, rows + 1)
    frame = pd.DataFrame({"id": ids, "x": (ids % 1000) / 10 - 50})
    started = time.perf_counter()
    for start in range(0, rows, 10_000):  # the job's batches (JOB_CHUNK_ROWS)
        list(namespace["score"](frame.iloc[start : start + 10_000]))
    return (time.perf_counter() - started) / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--split-kb", type=int, default=0, help="0: Spark sizes the splits")
    parser.add_argument("--data-dir", help="defaults to a new temporary folder")
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="cheap",
        help="cheap: Spark's own work shows; demo: the model's work dominates; heavy: 32 x demo",
    )  # fmt: skip
    parser.add_argument("--output", choices=["jsonl", "csv", "parquet"], default="jsonl")
    parser.add_argument("--rounds", type=int, help="the demo's loop this many times a row")
    args = parser.parse_args()
    source = looped(args.rounds) if args.rounds else MODELS[args.model]
    name = f"demo's loop x {args.rounds}" if args.rounds else args.model
    print(f"model: {name}, {model_cost(source) * 1e9:,.0f} ns a row in one process")

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cc-bench-spark-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL"}}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                   env=env, check=True)  # fmt: skip

    import django

    django.setup()
    from jobs.worker.sparkclasses import class_archive_build

    started = time.monotonic()
    print(f"Spark drivers' class archive: {class_archive_build() or 'not made'} "
          f"({time.monotonic() - started:.0f} s)")  # fmt: skip
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
        owner=admin, team=team, name=f"spark bench {args.model} {time.time():.0f}",
        source_name="bench.py", source=source,
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

    split = {"spark.sql.files.maxPartitionBytes": f"{args.split_kb}k"} if args.split_kb else {}
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
    scored: dict[str, float] = {}
    for runtime in runtimes:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
                output=OutputSpec(name=f"out.{args.output}", format=args.output),
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
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
            cpu_before.ru_utime + cpu_before.ru_stime
        )
        found = re.search(r"input scored and output written in ([\d.]+) s", job.log)
        part = ""
        if found:
            scored[runtime.name] = float(found.group(1))
            part = f", scoring and writing {scored[runtime.name]:.1f} s of it"
        print(f"{runtime.name:>8} ({runtime.spark_master or 'model process'}): {wall:6.1f} s, "
              f"{args.rows / wall:,.0f} rows/s{part}; worker CPU {cpu:.1f} s "
              f"({cpu / wall:.2f} cores)")  # fmt: skip
    one, two, process = results["spark-1"], results["spark-2"], results["default"]
    print(f"ratio local[2] / local[1]: {one / two:.2f} (goal >= 1.7 on 2 cores)")
    if "spark-1" in scored and "spark-2" in scored:
        print(f"ratio local[2] / local[1], scoring and writing only: "
              f"{scored['spark-1'] / scored['spark-2']:.2f}")  # fmt: skip
    print(f"ratio local[2] / model process: {process / two:.2f}")
    print(f"ratio local[1] / model process: {process / one:.2f}")


if __name__ == "__main__":
    main()
