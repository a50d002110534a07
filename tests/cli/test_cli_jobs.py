"""`moc job ...` end to end: the real console script creates jobs of every type from files,
a real Celery worker runs them, and the CLI watches them and fetches their results."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import requests

from jobs.models import Connection, Job, JobStatus
from models_registry import demo
from models_registry.demo import FEATURES
from models_registry.services import model_create
from tests.cli.conftest import MOC, assert_error, last_word
from tests.demo import demo_snapshot
from tests.workers import wait

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAILING = """\
# modelop.score
def score(datum):
    raise ValueError("no score for id %s" % datum["id"])
"""

SLOW = """\
import time

# modelop.score
def score(datum):
    time.sleep(0.5)
    yield datum
"""


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_scoring_job_from_a_csv_file_is_watched_and_its_records_fetched(
    celery_worker, moc, credit_model, credit_data
):
    _, test_csv = credit_data

    created = moc("job", "create", "batchjob", str(credit_model.uuid), str(test_csv),
                  "scores.jsonl")  # fmt: skip

    job_uuid = last_word(created)
    assert "Created job" in created.stdout and "Uploaded credit_test.csv" in created.stderr
    job = Job.objects.get(uuid=job_uuid)
    assert job.snapshot == credit_model.latest_snapshot()  # a model means its newest snapshot
    watched = moc("job", "watch", job_uuid, "--progress", "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    assert "100%|" in watched.stderr  # tqdm's bar
    assert f"Job {job_uuid} COMPLETE" in watched.stdout

    result = moc("job", "result", job_uuid)
    assert result.returncode == 0, result.stderr
    records = _lines(result.stdout)
    assert len(records) == 1000
    assert {"id", "prediction", "probability"} <= records[0].keys()

    saved = moc("job", "result", job_uuid, "--save")
    assert saved.returncode == 0, saved.stderr
    assert _lines((moc.cwd / "scores.jsonl").read_text()) == records
    moc("job", "result", job_uuid, "-o", "copy.jsonl")
    assert (moc.cwd / "copy.jsonl").read_text() == (moc.cwd / "scores.jsonl").read_text()

    status = json.loads(moc("job", "status", job_uuid, "--json").stdout)
    assert (status["status"], status["records_written"]) == ("COMPLETE", 1000)
    assert "COMPLETE" in moc("job", "status", job_uuid).stdout
    listed = json.loads(moc("job", "list", "--json").stdout)
    assert [j["uuid"] for j in listed] == [job_uuid]
    filters = ["--status", "complete", "--type", "batchjob", "--user", "alice", "--model",
               str(credit_model.uuid), "--runtime", "default"]  # fmt: skip
    assert moc("job", "list", *filters, "-q").stdout.split() == [job_uuid]
    assert moc("job", "list", "--status", "RUNNING", "-q").stdout == ""
    assert moc("job", "list", "--type", "testjob", "-q").stdout == ""
    assert json.loads(moc("job", "logs", job_uuid, "--json").stdout)["status"] == "COMPLETE"


def test_a_metrics_job_prints_its_metrics(celery_worker, moc, credit_model, credit_data):
    _, test_csv = credit_data
    snapshot = credit_model.latest_snapshot()

    created = moc("job", "create", "testjob", str(snapshot.uuid), str(test_csv), "metrics.json",
                  "--wait")  # fmt: skip

    assert created.returncode == 0, created.stderr
    job_uuid = last_word(created)
    result = moc("job", "result", job_uuid)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert 0.5 < float(lines["accuracy"]) <= 1 and 0.5 < float(lines["auc"]) <= 1
    assert "--json shows them all" in lines["roc_curve"]  # a long curve is summarized
    metrics = json.loads(moc("job", "result", job_uuid, "--json").stdout)["metrics"]
    metrics = metrics[0] if isinstance(metrics, list) else metrics
    assert float(lines["auc"]) == pytest.approx(metrics["auc"], abs=1e-4)
    assert len(metrics["roc_curve"]) > 10


def test_a_training_job_prints_the_new_snapshot(celery_worker, moc, credit_model, credit_data):
    train_csv, _ = credit_data

    created = moc("job", "create", "trainingjob", str(credit_model.uuid), str(train_csv),
                  "training.jsonl", "--wait")  # fmt: skip

    assert created.returncode == 0, created.stderr
    result = moc("job", "result", last_word(created))
    assert result.returncode == 0, result.stderr
    new = credit_model.snapshots.get(version=2)
    assert result.stdout.strip() == f"New snapshot: credit v2 {new.uuid}"
    snapshots = json.loads(moc("snapshot", "list", str(credit_model.uuid), "--json").stdout)
    assert [s["version"] for s in snapshots] == [2, 1]


def test_watch_exits_1_when_the_job_fails(celery_worker, moc, alice, team_alpha, iris_sample):
    model = model_create(owner=alice, team=team_alpha, name="broken", source_name="broken.py",
                         source=FAILING)  # fmt: skip

    created = moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "out.jsonl",
                  "--stop-on-bad-records", "--wait")  # fmt: skip

    assert created.returncode == 1, created.stderr
    job_uuid = created.stdout.split()[-1]  # still the last word: the summary went to stderr
    job = Job.objects.get(uuid=job_uuid)
    assert (job.status, job.stop_on_bad_records) == (JobStatus.ERROR, True)
    assert "ended ERROR" in created.stderr and "no score for id" in created.stderr
    assert "stopped on the first bad record: input record 1" in job.error_message
    watched = moc("job", "watch", job_uuid)
    assert watched.returncode == 1
    assert_error(moc("job", "result", job_uuid), 1, "ended ERROR")


def test_a_model_that_fails_on_records_completes_with_them_rejected_within_the_threshold(
    celery_worker, moc, alice, team_alpha, iris_sample
):
    model = model_create(owner=alice, team=team_alpha, name="broken", source_name="broken.py",
                         source=FAILING)  # fmt: skip

    within = moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "out.jsonl",
                 "--max-rejects", "100%", "--wait")  # fmt: skip
    over = moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "out.jsonl",
               "--max-rejects", "10", "--wait")  # fmt: skip

    assert within.returncode == 0, within.stderr
    job = Job.objects.get(uuid=last_word(within))
    assert (job.status, job.result, job.records_rejected) == ("COMPLETE", "FAILURE", 150)
    assert job.max_rejects_percent == 100
    assert "150 records were rejected" in moc("job", "result", str(job.uuid)).stderr
    assert over.returncode == 1
    job = Job.objects.get(uuid=over.stdout.split()[-1])
    assert (job.status, job.max_rejects) == ("ERROR", 10)
    assert job.error_message.startswith("stopped: more than 10 records were rejected")
    assert_error(moc("job", "create", "batchjob", str(model.uuid), str(iris_sample), "o.jsonl",
                     "--max-rejects", "lots"), 2, "--max-rejects")  # fmt: skip


def test_cancel_stops_a_running_job_and_watch_then_exits_1(
    celery_worker, moc, alice, team_alpha, iris_sample
):
    model = model_create(owner=alice, team=team_alpha, name="slow", source_name="slow.py",
                         source=SLOW)  # fmt: skip
    job_uuid = last_word(moc("job", "create", "batchjob", str(model.uuid), str(iris_sample),
                             "out.jsonl"))  # fmt: skip

    cancelled = moc("job", "cancel", job_uuid)

    assert cancelled.returncode == 0, cancelled.stderr
    assert moc("job", "watch", job_uuid).returncode == 1
    assert Job.objects.get(uuid=job_uuid).status == JobStatus.CANCELLED
    assert_error(moc("job", "cancel", job_uuid), 6)  # it has ended: a state conflict
    again = last_word(moc("job", "rerun", job_uuid))
    assert again != job_uuid and Job.objects.get(uuid=again).snapshot.model == model
    assert moc("job", "cancel", again).returncode == 0


def test_the_same_idempotency_key_twice_makes_one_job(celery_worker, moc, alice, team_alpha,
                                                      iris_sample):  # fmt: skip
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    args = ["job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "out.jsonl",
            "--idempotency-key", "nightly-2026-11-26"]  # fmt: skip

    first, second = moc(*args), moc(*args)

    assert last_word(first) == last_word(second)
    assert "nothing new was created" in second.stdout
    assert Job.objects.filter(idempotency_key="nightly-2026-11-26").count() == 1


class _Proxy(BaseHTTPRequestHandler):
    """A proxy to the live server. With LOSE_JOB_ANSWER it hangs up without answering the
    first POST /api/jobs/ after the server has handled it: the answer is lost on the network,
    the job exists."""

    upstream = ""
    lose_job_answer = False
    lost: list[str] = []
    seen: list[str] = []  # the paths of the requests forwarded, in order

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _forward(self) -> None:
        self.seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        answer = requests.request(self.command, self.upstream + self.path, headers=headers,
                                  data=body, allow_redirects=False, timeout=60)  # fmt: skip
        if self.lose_job_answer and self.command == "POST" and self.path == "/api/jobs/" \
                and not self.lost:  # fmt: skip
            self.lost.append(answer.json()["uuid"])
            self.close_connection = True
            return  # no answer at all
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-encoding",
                                   "content-length"):  # fmt: skip
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward


def _serve(handler, port: int = 0) -> ThreadingHTTPServer:
    proxy = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_job(
    celery_worker, make_moc, live_server, alice, team_alpha, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    handler = type("Handler", (_Proxy,), {"upstream": live_server.url, "lost": [],
                                          "lose_job_answer": True})  # fmt: skip
    proxy = _serve(handler)
    try:
        moc = make_moc(alice, url=f"http://127.0.0.1:{proxy.server_port}")

        created = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample),
                      "out.jsonl")  # fmt: skip
    finally:
        proxy.shutdown()
        proxy.server_close()

    assert handler.lost, "the proxy lost no answer"
    assert last_word(created) == handler.lost[0]
    assert Job.objects.filter(created_by=alice).count() == 1


def test_watch_waits_out_a_server_that_stops_answering_for_a_while(
    celery_worker, make_moc, live_server, alice, team_alpha, tmp_path
):
    model = model_create(owner=alice, team=team_alpha, name="slow", source_name="slow.py",
                         source=SLOW)  # fmt: skip
    sample = demo.write_sample_jsonl(tmp_path / "eight.jsonl", 8)  # 4 s of work
    handler = type("Handler", (_Proxy,), {"upstream": live_server.url, "seen": []})
    proxy = _serve(handler)
    port = proxy.server_port
    moc = make_moc(alice, url=f"http://127.0.0.1:{port}")
    job_uuid = last_word(moc("job", "create", "batchjob", str(model.uuid), str(sample), "o.jsonl"))

    watch = subprocess.Popen([*MOC, "job", "watch", job_uuid, "--interval", "0.2", "--progress"],
                             env=moc.env, cwd=moc.cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # The outage comes once the watch is polling (its first look waits out an outage in
        # the client instead, and a busy machine may take seconds to start moc).
        wait(lambda: sum(job_uuid in path for path in handler.seen) >= 2, timeout=60,
             what="the watch's second look at the job")  # fmt: skip
        proxy.shutdown()
        proxy.server_close()  # the server is gone ...
        time.sleep(3)
        proxy = _serve(handler, port)  # ... and back
        out, err = watch.communicate(timeout=120)
    finally:
        watch.kill()
        proxy.shutdown()
        proxy.server_close()

    assert watch.returncode == 0, err
    assert "the server does not answer" in err
    assert f"Job {job_uuid} COMPLETE" in out


def test_s3_input_and_output_print_the_location_and_a_download_link(
    celery_worker, moc, alice, team_alpha, s3_server, s3_bucket, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    s3_server.client().put_object(Bucket=s3_bucket, Key="in/iris.jsonl",
                                  Body=iris_sample.read_bytes())  # fmt: skip
    s3_server.connection("lake").save()  # the only S3 connection: no --connection needed

    created = moc("job", "create", "batchjob", str(snapshot.uuid), f"s3://{s3_bucket}/in/",
                  f"s3://{s3_bucket}/out/scores.jsonl", "--wait")  # fmt: skip

    assert created.returncode == 0, created.stderr
    result = moc("job", "result", last_word(created))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Output: s3://{s3_bucket}/out/scores.jsonl (connection lake)"
    assert lines[1].startswith("Download: http")
    body = requests.get(lines[1].removeprefix("Download: "), timeout=30)
    assert body.status_code == 200 and len(_lines(body.text)) == 150


def test_sql_input_and_output_on_a_named_connection(celery_worker, moc, alice, team_alpha,
                                                    tmp_path):  # fmt: skip
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    path = tmp_path / "warehouse.db"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE iris ({', '.join(['id INTEGER', *(f + ' REAL' for f in FEATURES)])})")
    db.executemany("INSERT INTO iris VALUES (?, ?, ?, ?, ?)",
                   [tuple(row.values()) for row in demo.sample_rows()])  # fmt: skip
    db.commit()
    for name in ("warehouse", "other"):  # two SQL connections: the job must name one
        Connection.objects.create(name=name, kind=Connection.Kind.SQL, dsn=f"sqlite:///{path}")
    query = f"SELECT id, {', '.join(FEATURES)} FROM iris ORDER BY id"

    unnamed = moc("job", "create", "batchjob", str(snapshot.uuid), f"sql:{query}", "out.jsonl")
    created = moc("job", "create", "batchjob", str(snapshot.uuid), f"sql:warehouse:{query}",
                  "sql:predictions", "--wait")  # fmt: skip

    assert_error(unnamed, 6, "inputs[0].connection: ", "other, warehouse")
    assert created.returncode == 0, created.stderr
    assert db.execute("SELECT count(*) FROM predictions").fetchone() == (150,)
    result = moc("job", "result", last_word(created))
    assert result.stdout.strip() == "Output: table predictions (connection warehouse)"


def test_embedded_input_and_parquet_output(celery_worker, moc, alice, team_alpha, iris_sample):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    created = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample),
                  "scores.parquet", "--embed", "--wait", "--json")  # fmt: skip

    assert created.returncode == 0, created.stderr
    job_uuid = json.loads(created.stdout)["uuid"]
    assert [a["kind"] for a in json.loads(created.stdout)["inputs"]] == ["embedded"]
    assert_error(moc("job", "result", job_uuid), 2, "Parquet")
    assert moc("job", "result", job_uuid, "--save").returncode == 0
    frame = pd.read_parquet(moc.cwd / "scores.parquet")
    assert len(frame) == 150 and "predicted_species" in frame.columns


def test_runtime_format_and_schema_check_options(celery_worker, moc, alice, team_alpha,
                                                 iris_sample):  # fmt: skip
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    lines = iris_sample.read_text().splitlines()
    lines[4] = json.dumps({**json.loads(lines[4]), "sepal_length": "wide"})  # fails the schema
    data = moc.cwd / "iris.txt"  # an extension that tells nothing: --format does
    data.write_text("\n".join(lines) + "\n")

    created = moc("job", "create", "batchjob", str(snapshot.uuid), str(data), "scores.csv",
                  "--format", "jsonl", "--runtime", "default", "--input-schema",
                  "input_schema.avsc", "--check-input", "--wait")  # fmt: skip

    assert created.returncode == 0, created.stderr
    job = Job.objects.get(uuid=last_word(created))
    assert job.runtime.name == "default" and not job.runtime_auto
    assert (job.input_assets()[0].format, job.output_asset().format) == ("jsonl", "csv")
    assert (job.records_read, job.records_written, job.records_rejected) == (150, 149, 1)
    result = moc("job", "result", str(job.uuid))
    assert result.returncode == 0, result.stderr
    assert "1 record was rejected" in result.stderr and "rejects: http" in result.stderr
    assert len(result.stdout.splitlines()) == 150  # a CSV header and 149 rows


def test_hdfs_input_and_output_on_the_connection_given(celery_worker, moc, alice, team_alpha,
                                                       webhdfs_server, iris_sample):  # fmt: skip
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    folder = webhdfs_server.local("/data/iris")
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_bytes(iris_sample.read_bytes())
    webhdfs_server.connection("hadoop").save()
    webhdfs_server.connection("backup").save()  # two of a kind: the job must say which
    args = ["job", "create", "batchjob", str(snapshot.uuid), "hdfs://namenode/data/iris",
            "hdfs://namenode/scores/iris.csv"]  # fmt: skip

    unnamed = moc(*args)
    created = moc(*args, "--connection", "hadoop", "--wait")

    assert_error(unnamed, 6, "backup, hadoop")
    assert created.returncode == 0, created.stderr
    rows = webhdfs_server.local("/scores/iris.csv").read_text().splitlines()
    assert len(rows) == 151  # a header and every record
    result = moc("job", "result", last_word(created))
    assert result.stdout.strip() == "Output: hdfs://namenode/scores/iris.csv (connection hadoop)"


def test_each_input_gets_its_role_in_order(celery_worker, moc, alice, team_alpha, iris_sample):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    created = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "s.jsonl",
                  "--input", str(iris_sample), "--role", "baseline_data", "--role",
                  "SAMPLE_DATA", "--embed", "--json")  # fmt: skip

    assert created.returncode == 0, created.stderr
    assert [a["role"] for a in json.loads(created.stdout)["inputs"]] == [
        "BASELINE_DATA", "SAMPLE_DATA",
    ]  # fmt: skip
    too_many = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "s.jsonl",
                   "--role", "A", "--role", "B")  # fmt: skip
    assert_error(too_many, 2, "2 --role for 1 inputs")
