"""The peer benchmark: one scoring workload, three ways, in one run, on this machine.

    scripts/benchmark --rows 1000000

The workload: a scikit-learn logistic regression (predict_proba, in a pipeline that picks the
8 feature columns) on a CSV of an id and 8 floats, predictions written as JSON. Each way reads
the same CSV and writes its own output:

  bare script      a pandas script: read_csv, predict_proba, to_json (lines)
  MLflow           `mlflow models predict` on the same fitted pipeline saved with
                   mlflow.sklearn.save_model (pyfunc_predict_fn="predict_proba"),
                   --env-manager local
  command center   `moc job create batchjob MODEL input.csv scores.jsonl --wait`, as a user
                   runs it (the upload included), against `manage.py serve` (gunicorn and a
                   real worker) on the embedded default, in a fresh DATA_DIR; the model is
                   in batch mode (`# moc.batch: true`)

MLflow is not one of the server's dependencies: it is the `benchmark` extra of pyproject.toml,
installed here into a separate virtual environment (by default DATA_DIR/mlflow-venv, made with
uv; --mlflow-venv reuses one), with this environment's scikit-learn, pandas and numpy versions
so that it loads the same pickle. Prints the machine, wall times, rows/s and each one's speed
against the bare script (bare time / its time: 1.00x is as fast).
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FEATURES = [f"x{i}" for i in range(8)]

SOURCE = """# moc.batch: true
import pickle


# modelop.init
def begin():
    global clf
    with open("model.pickle", "rb") as f:
        clf = pickle.load(f)


# modelop.score
def action(df):
    out = df[["id"]].copy()
    out["score"] = clf.predict_proba(df)[:, 1]
    return out
"""

BARE = """
import pickle, sys
import pandas as pd

model, data, out = sys.argv[1:]
with open(model, "rb") as f:
    clf = pickle.load(f)
df = pd.read_csv(data)
result = df[["id"]].copy()
result["score"] = clf.predict_proba(df)[:, 1]
result.to_json(out, orient="records", lines=True)
"""

SAVE = """
import pickle, sys
import mlflow.sklearn

with open(sys.argv[1], "rb") as f:
    clf = pickle.load(f)
mlflow.sklearn.save_model(clf, sys.argv[2], pyfunc_predict_fn="predict_proba")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", help="defaults to a new temporary folder")
    parser.add_argument("--mlflow-venv", help="a virtual environment with MLflow to use")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cc-bench-peer-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env.update(DATA_DIR=str(data_dir / "server"), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    _machine()

    mlflow_python = _mlflow_venv(Path(args.mlflow_venv or data_dir / "mlflow-venv"))
    model_path, csv_path = _workload(data_dir, args.rows)
    results: list[tuple[str, float]] = []

    bare = _timed([sys.executable, "-c", BARE, model_path, csv_path, data_dir / "bare.jsonl"])
    results.append(("bare pandas script", bare))

    mlflow_model = data_dir / "mlflow-model"
    shutil.rmtree(mlflow_model, ignore_errors=True)
    subprocess.run([mlflow_python, "-c", SAVE, model_path, mlflow_model], check=True)
    mlflow_cli = Path(mlflow_python).parent / "mlflow"
    mlflow = _timed([
        mlflow_cli, "models", "predict", "-m", mlflow_model, "-i", csv_path, "-t", "csv",
        "-o", data_dir / "mlflow.json", "--env-manager", "local",
    ])  # fmt: skip
    results.append(("mlflow models predict", mlflow))

    job_run, submit = _command_center(env, data_dir, model_path, csv_path)
    results.append(("command center: job run", job_run))
    results.append(("command center: moc submit → COMPLETE", submit))

    print(f"\n{args.rows:,} rows of an id and 8 floats, CSV in, JSON out\n")
    print(f"| {'way':<38} | {'seconds':>8} | {'rows/s':>10} | {'vs bare':>7} |")
    print(f"|{'-' * 40}|{'-' * 9}:|{'-' * 11}:|{'-' * 8}:|")
    for label, seconds in results:
        print(
            f"| {label:<38} | {seconds:>8.2f} | {args.rows / seconds:>10,.0f} "
            f"| {bare / seconds:>6.2f}x |"
        )
    print(
        "\nbare script and MLflow: wall time of the command (interpreter start and imports "
        "included); job run: the job's started → finished; submit → COMPLETE: the whole "
        "`moc job create ... --wait` (SHA-256, upload, queue, run, commit)."
    )


def _machine() -> None:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"machine: {os.cpu_count()} cores, {model or platform.processor() or '?'}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _mlflow_venv(venv: Path) -> str:
    """MLflow's own environment, made with uv from the `benchmark` extra when missing."""
    python = venv / "bin" / "python"
    if python.exists():
        return str(python)
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["benchmark"]
    import numpy
    import sklearn

    pins = [f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}",
            f"numpy=={numpy.__version__}"]  # fmt: skip
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    print(f"making MLflow's environment in {venv}: {', '.join(extra + pins)}")
    if uv:
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *extra, *pins], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *extra, *pins], check=True)
    return str(python)


def _workload(data_dir: Path, rows: int) -> tuple[Path, Path]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(13)
    train = pd.DataFrame(rng.random((10_000, 8)), columns=FEATURES)
    train.insert(0, "id", np.arange(len(train)))
    pick = ColumnTransformer([("features", "passthrough", FEATURES)])
    clf = make_pipeline(pick, LogisticRegression()).fit(train, train["x0"] + train["x1"] > 1)
    model_path = data_dir / "model.pickle"
    model_path.write_bytes(pickle.dumps(clf))
    csv_path = data_dir / f"input-{rows}.csv"
    if not csv_path.exists():
        frame = pd.DataFrame(rng.random((rows, 8)).round(6), columns=FEATURES)
        frame.insert(0, "id", np.arange(rows))
        frame.to_csv(csv_path, index=False)
    print(f"input: {csv_path.stat().st_size / 1e6:,.0f} MB of CSV")
    return model_path, csv_path


def _timed(command: list) -> float:
    started = time.perf_counter()
    subprocess.run([str(c) for c in command], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _command_center(env: dict, data_dir: Path, model_path: Path, csv_path: Path):
    """The job's run time and moc's submit → COMPLETE, against a server started as users do."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from django.contrib.auth.models import Group, User\n"
        "from django.core.files.base import ContentFile\n"
        "from api.authentication import token_issue\n"
        "from models_registry.services import model_create\n"
        "import sys\n"
        "user = User.objects.filter(username='bench').first() or "
        "User.objects.create_user('bench', '', 'bench-only-password')\n"
        "team, _ = Group.objects.get_or_create(name='bench')\n"
        "user.groups.add(team)\n"
        "model = model_create(owner=user, team=team, name='Logistic regression (peer)', "
        "source_name='model.py', source=open(sys.argv[1]).read(), "
        "attachments=[ContentFile(open(sys.argv[2], 'rb').read(), name='model.pickle')])\n"
        "print(model.latest_snapshot().uuid, token_issue(user=user).key)\n"
    )
    source = data_dir / "model.py"
    source.write_text(SOURCE)
    made = subprocess.run(
        [*manage, "shell", "-c", f"import sys; sys.argv = ['', {str(source)!r}, "
         f"{str(model_path)!r}]\n" + setup],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    snapshot, token = made.stdout.split()[-2:]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(data_dir / "serve.log", "wb")
    server = subprocess.Popen(
        [*manage, "serve", "--no-demo", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    moc = shutil.which("moc", path=str(Path(sys.executable).parent))
    moc_cmd = [moc] if moc else [sys.executable, "-m", "moc_cli"]
    moc_env = {**env, "MOC_URL": f"http://127.0.0.1:{port}", "MOC_TOKEN": token}
    try:
        _wait_up(port, server)
        time.sleep(3)  # the worker starts beside gunicorn
        started = time.perf_counter()
        done = subprocess.run(
            [*moc_cmd, "job", "create", "batchjob", snapshot, str(csv_path), "scores.jsonl",
             "--wait", "--no-progress"],
            cwd=data_dir, env=moc_env, capture_output=True, text=True,
        )  # fmt: skip
        submit = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"The job did not complete:\n{done.stdout}\n{done.stderr}")
        job_uuid = done.stdout.split()[-1]
        shown = subprocess.run(
            [*moc_cmd, "job", "status", job_uuid, "--json"],
            env=moc_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
    import json

    job = json.loads(shown)
    started_at, finished_at = (
        pd.Timestamp(job[key]) for key in ("started_at", "finished_at")
    )  # fmt: skip
    return (finished_at - started_at).total_seconds(), submit


def _wait_up(port: int, server: subprocess.Popen) -> None:
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("The server stopped; see serve.log in the data dir.")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    sys.exit("The server did not answer /healthz within 120 s.")


if __name__ == "__main__":
    main()
