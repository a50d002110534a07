"""Scoring jobs in batch and recordsets modes against a bare pandas script: one table of ratios.

    .venv/bin/python scripts/benchmark_modes.py            # 1,000,000 rows
    .venv/bin/python scripts/benchmark_modes.py --quick    # 100,000 rows, to see it works

The model is cheap and vectorised (scikit-learn's logistic regression, predict_proba), so the
figures show what the command center itself costs: reading, handing DataFrames to score and
writing. The input is an id and 8 float columns, as CSV, JSON lines and Parquet; each mode is
run on every input format with every output format (JSON lines, CSV, Parquet), and the demo
model (batch mode, the iris classifier) on its own sample as CSV and JSON lines.

A fresh DATA_DIR (embedded default); each job is run by the supervisor in this process
(jobs.worker.supervisor.job_execute, as a worker's task does: claim, work dir, sandboxed model
process, commit), timed from claim to COMPLETE. The bare script is what a data scientist would
write by hand and run as `python score.py`: a process of its own that imports pandas, loads
the pickle, reads with pandas (the whole input for recordsets, chunks of 10,000 rows for batch),
predicts and writes with pandas (to_json, to_csv, to_parquet); it is timed from its start to
its exit, as the job's model process is part of the job's time. Each pair runs back to back in
one run, the job first. A benchmark, not a test: it prints ratios (bare time / job time, so
1.0 is the bare script's speed and more is faster).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FEATURES = [f"x{i}" for i in range(8)]
FORMATS = ("csv", "jsonl", "parquet")

SOURCE = """{tags}
import pickle

FEATURES = {features!r}


# modelop.init
def begin():
    global clf
    with open("model.pickle", "rb") as f:
        clf = pickle.load(f)


# modelop.score
def action(df):
    out = df[["id"]].copy()
    out["score"] = clf.predict_proba(df[FEATURES])[:, 1]
    return out
"""
TAGS = {
    "batch": "# moc.batch: true",
    "recordsets": "# modelop.recordsets.0: true\n# modelop.recordsets.1: true",
}

# The bare script: argv model.pickle input format output format whole|chunks features model.
BARE = """
import pickle, sys

import pandas as pd

model, source, fmt, target, out_fmt, how, features, kind = sys.argv[1:9]
features = features.split(",")
with open(model, "rb") as f:
    clf = pickle.load(f)
whole = how == "whole"
if fmt == "csv":
    chunks = [pd.read_csv(source)] if whole else pd.read_csv(source, chunksize=10_000)
elif fmt == "jsonl":
    chunks = (
        [pd.read_json(source, lines=True)] if whole
        else pd.read_json(source, lines=True, chunksize=10_000)
    )
else:
    import pyarrow.parquet as pq

    chunks = (
        [pd.read_parquet(source)] if whole
        else (b.to_pandas() for b in pq.ParquetFile(source).iter_batches(batch_size=10_000))
    )


def predict(chunk):
    if kind == "demo":
        proba = clf.predict_proba(chunk[features])
        out = chunk.copy()
        out["predicted_species"] = clf.classes_[proba.argmax(axis=1)]
        out["probability"] = proba.max(axis=1).round(4)
        return out
    out = chunk[["id"]].copy()
    out["score"] = clf.predict_proba(chunk[features])[:, 1]
    return out


if out_fmt == "parquet":
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for chunk in chunks:
        table = pa.Table.from_pandas(predict(chunk), preserve_index=False)
        writer = writer or pq.ParquetWriter(target, table.schema)
        writer.write_table(table)
    writer.close()
else:
    with open(target, "w") as out:
        for i, chunk in enumerate(chunks):
            result = predict(chunk)
            if out_fmt == "csv":
                result.to_csv(out, header=i == 0, index=False)
            else:
                out.write(result.to_json(orient="records", lines=True, double_precision=15))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--modes", default="recordsets,batch")
    parser.add_argument("--inputs", default=",".join(FORMATS))
    parser.add_argument("--outputs", default=",".join(FORMATS))
    parser.add_argument("--no-demo", action="store_true", help="leave the demo model out")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians shown")
    args = parser.parse_args()
    rows_n = 100_000 if args.quick else args.rows

    data_dir = Path(tempfile.mkdtemp(prefix="cc-bench-modes-"))
    for name in ("DATABASE_URL", "BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    create_admin = (
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('admin', '', 'bench-only-password')"
    )
    for argv in (("migrate", "--verbosity", "0"), ("shell", "-c", create_admin)):
        subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, check=True, stderr=subprocess.DEVNULL
        )

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.files import File
    from django.core.files.base import ContentFile
    from sklearn.linear_model import LogisticRegression

    from commandcenter.celery import app  # noqa: F401 (job_submit's on_commit sends a message)
    from jobs.models import JobAsset, JobStatus, Upload
    from jobs.services import InputSpec, OutputSpec, job_submit
    from jobs.worker.supervisor import job_execute
    from models_registry import demo
    from models_registry.services import model_create

    admin = User.objects.get(username="admin")
    team = Group.objects.create(name="bench")
    admin.groups.add(team)

    rng = np.random.default_rng(13)
    train = pd.DataFrame(rng.random((10_000, 8)), columns=FEATURES)
    clf = LogisticRegression().fit(train, train["x0"] + train["x1"] > 1)
    (data_dir / "model.pickle").write_bytes(pickle.dumps(clf))
    (data_dir / "demo.pickle").write_bytes(demo.train_pickle())
    (data_dir / "bare.py").write_text(BARE)

    started = time.perf_counter()
    frame = pd.DataFrame(rng.random((rows_n, 8)).round(6), columns=FEATURES)
    frame.insert(0, "id", np.arange(rows_n))
    inputs: dict[str, Path] = {fmt: _write(frame, data_dir / f"input.{fmt}", fmt)
                               for fmt in args.inputs.split(",")}  # fmt: skip
    del frame
    demo_inputs: dict[str, Path] = {}
    if not args.no_demo:
        iris = pd.DataFrame(demo.sample_rows(rows_n))
        demo_inputs = {fmt: _write(iris, data_dir / f"demo.{fmt}", fmt) for fmt in ("csv", "jsonl")}
        del iris
    print(f"inputs written in {time.perf_counter() - started:.0f} s: " + ", ".join(
        f"{path.name} {path.stat().st_size / 1e6:,.0f} MB"
        for path in [*inputs.values(), *demo_inputs.values()]
    ), flush=True)  # fmt: skip

    snapshots = {}
    for mode in args.modes.split(","):
        model = model_create(
            owner=admin, team=team, name=f"Logistic regression ({mode})", source_name="model.py",
            source=SOURCE.format(tags=TAGS[mode], features=FEATURES),
            attachments=[ContentFile(pickle.dumps(clf), name="model.pickle")],
        )  # fmt: skip
        snapshots[mode] = model.latest_snapshot()
    if demo_inputs:
        model = model_create(
            owner=admin, team=team, name="Iris (demo)", source_name=demo.SOURCE_NAME,
            source=demo.source(),
            attachments=[ContentFile(demo.train_pickle(), name="model.pickle")],
        )  # fmt: skip
        snapshots["demo"] = model.latest_snapshot()

    uploads = {}
    for path in [*inputs.values(), *demo_inputs.values()]:
        item = Upload(owner=admin, name=path.name, size=path.stat().st_size)
        with open(path, "rb") as f:
            item.file.save(path.name, File(f), save=False)
        item.save()
        uploads[path] = item

    def job_run(mode: str, path: Path, out_fmt: str) -> float:
        job = job_submit(
            user=admin, snapshot=snapshots[mode],
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=uploads[path])],
            output=OutputSpec(name=f"output.{out_fmt}", format=out_fmt),
        )  # fmt: skip
        started = time.perf_counter()
        job_execute(job_uuid=str(job.uuid))
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        if job.status != JobStatus.COMPLETE or job.records_written != rows_n:
            raise SystemExit(
                f"the {mode} job on {path.name} ended {job.status} with {job.records_written} "
                f"records written: {job.error_message}\n{job.log}"
            )
        return elapsed

    def bare_run(mode: str, path: Path, fmt: str, out_fmt: str) -> float:
        is_demo = mode == "demo"
        argv = [
            sys.executable, str(data_dir / "bare.py"),
            str(data_dir / ("demo.pickle" if is_demo else "model.pickle")), str(path), fmt,
            str(data_dir / f"bare-out.{out_fmt}"), out_fmt,
            "whole" if mode == "recordsets" else "chunks",
            ",".join(demo.FEATURES if is_demo else FEATURES), "demo" if is_demo else "plain",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(argv, check=True, cwd=data_dir)
        return time.perf_counter() - started

    plan = [(mode, fmt, path, out_fmt) for mode in args.modes.split(",")
            for fmt, path in inputs.items() for out_fmt in args.outputs.split(",")]  # fmt: skip
    plan += [("demo", fmt, path, "jsonl") for fmt, path in demo_inputs.items()]
    results = []
    for mode, fmt, path, out_fmt in plan:
        jobs, bares = [], []
        for _ in range(args.repeat):
            jobs.append(job_run(mode, path, out_fmt))
            bares.append(bare_run(mode, path, fmt, out_fmt))
        job, bare = statistics.median(jobs), statistics.median(bares)
        results.append((mode, fmt, out_fmt, job, bare))
        print(f"  {mode} {fmt} → {out_fmt}: job {job:.2f} s, bare {bare:.2f} s", flush=True)

    cores = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{rows_n:,} rows; {cores} cores, load average {load}; medians of {args.repeat} run(s)")
    print("ratio = bare script time / job time (1.00: the bare script's speed; more: faster)\n")
    print("| mode | input | output | job (s) | bare (s) | ratio | job rows/s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for mode, fmt, out_fmt, job, bare in results:
        name = "demo (batch)" if mode == "demo" else mode
        print(f"| {name} | {fmt} | {out_fmt} | {job:.2f} | {bare:.2f} | {bare / job:.2f} "
              f"| {rows_n / job:,.0f} |")  # fmt: skip


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, double_precision=15)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise SystemExit(f"unknown format {fmt!r}")
    return path


if __name__ == "__main__":
    main()
