"""Run one demo scoring job of N rows through the whole embedded default and report it.

A fresh DATA_DIR (SQLite, embedded broker), a real worker started by `manage.py runworker`,
the job submitted through jobs.services.job_submit, progress polled from the database:

    .venv/bin/python scripts/benchmark_embedded_job.py --rows 1000000

Prints rows/s, the job's wall time, the model process's peak memory and the worker's peak
memory, and, for comparison, the same rows scored by a bare script in this process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    parser.add_argument(
        "--gb", type=float, help="instead of --rows: a CSV of about this many gigabytes"
    )
    parser.add_argument("--data-dir", help="defaults to a new temporary folder")
    parser.add_argument(
        "--input", help="an existing CSV or JSON-lines file of the demo's columns to score "
        "instead of one written for the run (writing 2 GB takes minutes on a busy machine)",
    )  # fmt: skip
    parser.add_argument("--no-bare", action="store_true", help="leave the bare script out")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cc-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL"}}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("BROKER_URL", None)
    sys.path.insert(0, str(ROOT))

    def manage(*argv: str) -> None:
        subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True)

    manage("migrate", "--verbosity", "0")
    manage("shell", "-c", "from django.contrib.auth.models import User; "
           "User.objects.filter(username='admin').exists() or "
           "User.objects.create_superuser('admin', '', 'bench-only')")  # fmt: skip
    manage("load_demo")

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.files import File

    from jobs.models import JobAsset, Upload
    from jobs.services import InputSpec, job_submit
    from models_registry import demo
    from models_registry.models import Model

    if args.input:
        input_path = Path(args.input).resolve()
        args.format = "csv" if input_path.suffix == ".csv" else "jsonl"
        args.rows = _lines(input_path) - (args.format == "csv")
    else:
        if args.gb:
            args.format = "csv"
            args.rows = int(args.gb * 1e9 / 29)  # an iris CSV row is about 29 bytes
        write = demo.write_sample_csv if args.format == "csv" else demo.write_sample_jsonl
        input_path = write(data_dir / f"iris-{args.rows}.{args.format}", args.rows)
    size = input_path.stat().st_size
    print(f"input: {args.rows:,} rows, {size / 1e6:,.0f} MB of {args.format}")

    admin = User.objects.get(username="admin")
    upload = Upload(owner=admin, name=input_path.name, size=size)
    with open(input_path, "rb") as f:
        upload.file.save(input_path.name, File(f), save=False)
    upload.save()
    snapshot = Model.objects.get(name="Iris classifier (demo)").latest_snapshot()

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker_peak = together_peak = 0
    try:
        time.sleep(5)  # let the worker start before timing the job
        started = time.monotonic()
        job = job_submit(
            user=admin, snapshot=snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        )  # fmt: skip
        last_print = 0.0
        while True:
            job.refresh_from_db()
            worker_rss, model_rss = _rss(worker.pid)
            worker_peak = max(worker_peak, worker_rss)
            together_peak = max(together_peak, worker_rss + model_rss)
            if job.is_terminal:
                break
            if time.monotonic() - last_print > 5:
                last_print = time.monotonic()
                pct = f"{job.percent:.0f}%" if job.percent is not None else "?"
                print(f"  {job.status} {job.records_read:,} read, {pct}")
            time.sleep(0.2)
        wall = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    print(f"job {job.status}: {job.records_written:,} records written in {wall:.1f} s")
    if job.status != "COMPLETE":
        print(job.error_message)
        sys.exit(1)
    print(f"  rows/s through the command center: {args.rows / wall:,.0f}")
    print(f"  job pickup latency: {(job.started_at - job.created_at).total_seconds():.3f} s")
    print(f"  model process peak memory: {(job.peak_memory or 0) / 2**20:.0f} MiB")
    print(f"  worker peak memory (without the model process): {worker_peak / 2**20:.0f} MiB")
    print(f"  worker and model process together, peak sampled: {together_peak / 2**20:.0f} MiB")
    upper = worker_peak + (job.peak_memory or 0)
    print(f"  worker peak + model peak (an upper bound): {upper / 2**20:.0f} MiB")

    if args.no_bare:
        return
    bare = _bare_script(input_path, data_dir / "bare-out.jsonl", args.format)
    print(f"  bare script (pandas, same machine): {args.rows / bare:,.0f} rows/s")
    print(f"  ratio command center / bare script: {bare / wall:.2f}")


def _lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))


def _rss(pid: int) -> tuple[int, int]:
    """RSS of the worker (runworker execs celery, so PID is the worker itself) and of the
    model's process tree, sampled together."""
    worker = model = 0
    try:
        proc = psutil.Process(pid)
        worker = proc.memory_info().rss
        for child in proc.children(recursive=True):
            if "jobs.runner.child" in " ".join(child.cmdline()):
                model += child.memory_info().rss
            else:
                worker += child.memory_info().rss
    except psutil.Error:
        pass
    return worker, model


def _bare_script(input_path: Path, output_path: Path, fmt: str) -> float:
    """What a data scientist would write by hand: chunks of JSON lines, predict, write."""
    import pickle

    import pandas as pd

    from models_registry import demo

    clf = pickle.loads(demo.train_pickle())
    started = time.monotonic()
    with open(output_path, "w") as out:
        chunks = (
            pd.read_csv(input_path, chunksize=10_000)
            if fmt == "csv"
            else pd.read_json(input_path, lines=True, chunksize=10_000)
        )
        for chunk in chunks:
            proba = clf.predict_proba(chunk[demo.FEATURES])
            chunk["predicted_species"] = clf.classes_[proba.argmax(axis=1)]
            chunk["probability"] = proba.max(axis=1).round(4)
            out.write(chunk.to_json(orient="records", lines=True))
    return time.monotonic() - started


if __name__ == "__main__":
    main()
