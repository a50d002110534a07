"""Scoring throughput of the executor against a bare pandas script, on the demo iris model.

    .venv/bin/python scripts/benchmark_scoring.py                 # batch mode, 1,000,000 rows
    .venv/bin/python scripts/benchmark_scoring.py --per-record    # ModelOp per record, 50,000 rows

Both sides run as child processes of this script on the same JSON-lines input and write JSON
lines: the executor with the environment the supervisor gives it, the bare script with yours.
Wall time is from spawn to exit; peak memory is the process's high-water RSS (the kernel's
VmHWM, with psutil polling for anything it started). Prints rows/s, peak MB and the
executor/bare ratio. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import orjson  # noqa: E402
import psutil  # noqa: E402

from jobs.runner.events import peak_rss_bytes  # noqa: E402
from jobs.runner.smarttags import parse_smart_tags  # noqa: E402
from jobs.runner.spec import InputFile, JobSpec  # noqa: E402
from jobs.worker.process import child_environment  # noqa: E402
from models_registry import demo  # noqa: E402

BARE_SCRIPT = """\
import pickle, sys
import pandas as pd

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
model_path, input_path, output_path, chunk_rows = sys.argv[1:5]
with open(model_path, "rb") as f:
    model = pickle.load(f)
with open(output_path, "w") as out:
    for df in pd.read_json(input_path, lines=True, chunksize=int(chunk_rows)):
        proba = model.predict_proba(df[FEATURES])
        df["predicted_species"] = model.classes_[proba.argmax(axis=1)]
        df["probability"] = proba.max(axis=1).round(4)
        out.write(df.to_json(orient="records", lines=True, double_precision=15))
"""


@dataclass
class Measure:
    label: str
    seconds: float
    peak_bytes: int
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    def line(self) -> str:
        return (
            f"{self.label:<28} {self.seconds:8.2f} s {self.rows_per_second:12,.0f} rows/s "
            f"{self.peak_bytes / 2**20:8.0f} MB peak"
        )


def measure(label: str, argv: list[str], *, cwd: Path, env: dict, rows: int) -> Measure:
    """Run ARGV to its end; wall time and peak RSS (its own and its children's)."""
    started = time.perf_counter()
    log = open(cwd / f"{label.split()[0]}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        # The kernel's high-water mark (VmHWM) catches a peak between two samples.
        peak = max(peak, peak_rss_bytes(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    log.close()
    if proc.returncode != 0:
        log_text = Path(log.name).read_text()[-3000:]
        sys.exit(f"{label} failed (exit {proc.returncode}):\n{log_text}")
    return Measure(label, seconds, peak, rows)


def species(path: Path) -> list[str]:
    with open(path, "rb") as f:
        return [orjson.loads(line)["predicted_species"] for line in f]


ECHO_SOURCE = """\
# modelop.score
def action(datum):
    yield datum
"""


def run_executor(
    label: str, *, source: str, workdir: Path, input_path: Path, chunk_rows: int, rows: int
) -> tuple[Measure, Path]:
    """Lay out a work dir as the supervisor does and time the child in it."""
    own = workdir / ".moc"
    (own / "staging").mkdir(parents=True)
    (own / "tmp").mkdir()
    (workdir / "model.pickle").write_bytes(demo.train_pickle())
    (workdir / demo.SOURCE_NAME).write_text(source)
    spec = JobSpec(
        source=demo.SOURCE_NAME,
        smart_tags=parse_smart_tags(source, filename=demo.SOURCE_NAME).as_dict(),
        job_type="scoring",
        inputs=[InputFile(name="input.jsonl", path=str(input_path), format="jsonl")],
        output_name="output.jsonl",
        output_path=str(own / "staging" / "output.jsonl"),
        output_format="jsonl",
        rejects_path=str(own / "staging" / "rejects.jsonl"),
        chunk_rows=chunk_rows,
    )
    spec.write(own / "spec.json")
    result = measure(
        label,
        [sys.executable, "-m", "jobs.runner.child", str(own / "spec.json")],
        cwd=workdir,
        env=child_environment(pythonpath=str(BASE_DIR), tmpdir=str(own / "tmp")),
        rows=rows,
    )
    return result, Path(spec.output_path)


def run_bare(*, tmp: Path, input_path: Path, chunk_rows: int, rows: int) -> tuple[Measure, Path]:
    (tmp / "bare.py").write_text(BARE_SCRIPT)
    (tmp / "bare.pickle").write_bytes(demo.train_pickle())
    output = tmp / "bare.jsonl"
    argv = [sys.executable, str(tmp / "bare.py"), str(tmp / "bare.pickle"), str(input_path)]
    argv += [str(output), str(chunk_rows)]
    # As a person would run it: their own environment, no executor tuning.
    env = {**os.environ, "TMPDIR": str(tmp)}
    return measure("bare pandas script", argv, cwd=tmp, env=env, rows=rows), output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help="input rows (1,000,000; 50,000 per record)")
    parser.add_argument("--per-record", action="store_true", help="ModelOp per-record mode")
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="rows per chunk")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.per_record else 1_000_000)

    tmp = Path(tempfile.mkdtemp(prefix="benchmark-scoring-"))
    print(f"Writing {rows:,} iris-like rows to {tmp} ...")
    input_path = demo.write_sample_jsonl(tmp / "input.jsonl", rows)
    size_mb = input_path.stat().st_size / 2**20
    print(f"Input: {size_mb:,.0f} MB of JSON lines; chunks of {args.chunk_rows:,} rows.\n")
    common = {"input_path": input_path, "chunk_rows": args.chunk_rows, "rows": rows}

    source, mode = demo.source(), "batch"
    if args.per_record:  # the same model without "moc.batch": ModelOp's one call per record
        source, mode = source.replace("# moc.batch: true\n", ""), "per record"
    executor, output = run_executor(
        f"executor ({mode})", source=source, workdir=tmp / "work", **common
    )
    bare, bare_output = run_bare(tmp=tmp, **common)
    measures = [executor, bare]
    if args.per_record:
        # What the executor itself costs per record, apart from the model's own work.
        echo, _ = run_executor(
            "executor, echo model", source=ECHO_SOURCE, workdir=tmp / "echo", **common
        )
        measures.append(echo)

    ours, theirs = species(output), species(bare_output)
    if ours != theirs:
        sys.exit(f"the outputs differ: {len(ours):,} vs {len(theirs):,} records")
    for item in measures:
        print(item.line())
    print(
        f"\nexecutor / bare: {executor.rows_per_second / bare.rows_per_second:.2f}x the "
        f"throughput, {executor.peak_bytes / bare.peak_bytes:.2f}x the peak memory "
        f"(same {len(ours):,} predictions)"
    )
    if args.keep:
        print(f"Kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
