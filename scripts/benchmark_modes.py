"""Scoring jobs in batch and recordsets modes against a bare pandas script, per input format.

    .venv/bin/python scripts/benchmark_modes.py --rows 1000000

The model is cheap and vectorised (scikit-learn's logistic regression, predict_proba), so the
figures show what the command center itself costs: reading, handing DataFrames to score and
writing JSON lines. The input is an id and 8 float columns, as CSV, JSON lines and Parquet.
A fresh DATA_DIR (embedded default); each job is run by the supervisor in this process
(jobs.worker.supervisor.job_execute, as a worker's task does: claim, work dir, sandboxed model
process, commit), and the bare script does the same read → predict → write in this process
right after it: the whole input at once for recordsets, chunks of 10,000 rows for batch. A
benchmark, not a test: it prints the run times and their ratio (bare / job).
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
CHUNK_ROWS = 10_000  # the bare batch script's chunk, the jobs' default (JOB_CHUNK_ROWS)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--modes", default="recordsets,batch")
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians shown")
    args = parser.parse_args()

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
        subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.files import File
    from django.core.files.base import ContentFile
    from sklearn.linear_model import LogisticRegression

    from commandcenter.celery import app  # noqa: F401 (job_submit's on_commit sends a message)
    from jobs.models import JobAsset, JobStatus, Upload
    from jobs.services import InputSpec, job_submit
    from jobs.worker.supervisor import job_execute
    from models_registry.services import model_create

    admin = User.objects.get(username="admin")
    team = Group.objects.create(name="bench")
    admin.groups.add(team)

    rng = np.random.default_rng(13)
    train = pd.DataFrame(rng.random((10_000, 8)), columns=FEATURES)
    clf = LogisticRegression().fit(train, train["x0"] + train["x1"] > 1)
    model_pickle = pickle.dumps(clf)

    started = time.perf_counter()
    frame = pd.DataFrame(rng.random((args.rows, 8)).round(6), columns=FEATURES)
    frame.insert(0, "id", np.arange(args.rows))
    inputs: dict[str, Path] = {}
    for fmt in args.formats.split(","):
        path = data_dir / f"input.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True, double_precision=15)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            raise SystemExit(f"unknown format {fmt!r}")
        inputs[fmt] = path
    del frame
    print(f"inputs written in {time.perf_counter() - started:.0f} s: " + ", ".join(
        f"{fmt} {path.stat().st_size / 1e6:,.0f} MB" for fmt, path in inputs.items()
    ))  # fmt: skip

    snapshots = {}
    for mode in args.modes.split(","):
        model = model_create(
            owner=admin, team=team, name=f"Logistic regression ({mode})", source_name="model.py",
            source=SOURCE.format(tags=TAGS[mode], features=FEATURES),
            attachments=[ContentFile(model_pickle, name="model.pickle")],
        )  # fmt: skip
        snapshots[mode] = model.latest_snapshot()

    uploads = {}
    for fmt, path in inputs.items():
        item = Upload(owner=admin, name=path.name, size=path.stat().st_size)
        with open(path, "rb") as f:
            item.file.save(path.name, File(f), save=False)
        item.save()
        uploads[fmt] = item

    def job_run(mode: str, fmt: str) -> float:
        job = job_submit(
            user=admin, snapshot=snapshots[mode],
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=uploads[fmt])],
        )  # fmt: skip
        started = time.perf_counter()
        job_execute(job_uuid=str(job.uuid))
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        if job.status != JobStatus.COMPLETE or job.records_written != args.rows:
            raise SystemExit(
                f"the {mode} job on {fmt} ended {job.status} with {job.records_written} "
                f"records written: {job.error_message}"
            )
        return elapsed

    rows = []
    for mode in args.modes.split(","):
        for fmt, path in inputs.items():
            jobs, bares = [], []
            for _ in range(args.repeat):
                jobs.append(job_run(mode, fmt))
                bares.append(_bare(clf, path, fmt, mode, data_dir / "bare-out.jsonl"))
            rows.append((mode, fmt, statistics.median(jobs), statistics.median(bares)))
            print(f"  {mode} {fmt}: job {rows[-1][2]:.2f} s, bare {rows[-1][3]:.2f} s")

    print(f"\n{args.rows:,} rows, output JSON lines; medians of {args.repeat} run(s)")
    print(f"{'mode':<12}{'input':<9}{'job':>9}{'bare':>9}{'bare / job':>12}{'job rows/s':>13}")
    for mode, fmt, job, bare in rows:
        print(f"{mode:<12}{fmt:<9}{job:>8.2f}s{bare:>8.2f}s{bare / job:>12.2f}"
              f"{args.rows / job:>13,.0f}")  # fmt: skip


def _bare(clf, path: Path, fmt: str, mode: str, output: Path) -> float:
    """What a data scientist would write by hand: read, predict_proba, write JSON lines."""
    started = time.perf_counter()
    with open(output, "w") as out:
        for chunk in _read(path, fmt, whole=mode == "recordsets"):
            result = chunk[["id"]].copy()
            result["score"] = clf.predict_proba(chunk[FEATURES])[:, 1]
            out.write(result.to_json(orient="records", lines=True, double_precision=15))
    return time.perf_counter() - started


def _read(path: Path, fmt: str, *, whole: bool):
    if fmt == "csv":
        return [pd.read_csv(path)] if whole else pd.read_csv(path, chunksize=CHUNK_ROWS)
    if fmt == "jsonl":
        if whole:
            return [pd.read_json(path, lines=True)]
        return pd.read_json(path, lines=True, chunksize=CHUNK_ROWS)
    if whole:
        return [pd.read_parquet(path)]
    import pyarrow.parquet as pq

    batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
    return (batch.to_pandas() for batch in batches)


if __name__ == "__main__":
    main()
