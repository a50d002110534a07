from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Connection, Job, JobStatus, Runtime
from jobs.services import runtime_default
from models_registry.models import Model
from models_registry.services import snapshot_promote
from tests.api.conftest import assert_matches_schema
from tests.factories import GroupFactory, SnapshotFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_runtime_online")]

EMBEDDED = {"kind": "embedded", "data": '{"x": 1}\n{"x": 2}\n'}


def submit(api, body: dict, **headers):
    return api.post("/api/jobs/", body, format="json", **headers)


def scoring(snapshot, **fields) -> dict:
    return {"snapshot": str(snapshot.uuid), "inputs": [EMBEDDED], **fields}


def test_a_job_is_created_and_answered_in_detail(alice_api, alice_snapshot):
    answer = submit(alice_api, scoring(alice_snapshot, params={"threshold": 0.5}))

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    body = answer.json()
    assert (body["job_type"], body["status"], body["created_by"]) == ("scoring", "WAITING", "alice")
    assert body["snapshot"] == {"uuid": str(alice_snapshot.uuid), "version": 1}
    assert body["runtime"] == "default" and "chosen automatically" in body["placement"]
    assert body["params"] == {"threshold": 0.5}
    (given,) = body["inputs"]
    assert (given["kind"], given["format"], given["size"]) == ("embedded", "jsonl", 18)
    assert body["output"]["kind"] == "embedded" and body["output"]["name"] == "output.jsonl"
    assert body["links"]["result"].endswith(f"/api/jobs/{body['uuid']}/result/")

    detail = alice_api.get(body["url"])
    assert detail.status_code == 200
    assert_matches_schema(detail)
    assert detail.json()["uuid"] == body["uuid"]


def test_reject_options_are_kept_with_the_job_and_answered(alice_api, alice_snapshot):
    body = scoring(alice_snapshot, stop_on_bad_records=True, max_rejects=10)
    answer = submit(alice_api, body)

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    given = answer.json()
    assert (given["stop_on_bad_records"], given["max_rejects"]) == (True, 10)
    assert given["max_rejects_percent"] is None
    job = Job.objects.get(uuid=given["uuid"])
    assert (job.stop_on_bad_records, job.max_rejects, job.max_rejects_percent) == (True, 10, None)
    percent = submit(alice_api, scoring(alice_snapshot, max_rejects_percent=2.5)).json()
    assert (percent["stop_on_bad_records"], percent["max_rejects_percent"]) == (False, 2.5)


def test_a_model_uuid_runs_its_newest_snapshot_and_seed_job_type_names_work(
    alice_api, alice_snapshot
):
    newer = SnapshotFactory(model=alice_snapshot.model, version=2)

    answer = submit(
        alice_api,
        {"model": str(alice_snapshot.model.uuid), "job_type": "batchjob", "inputs": [EMBEDDED]},
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["snapshot"]["uuid"] == str(newer.uuid)
    assert answer.json()["job_type"] == "scoring"


def test_a_model_uuid_runs_its_champion_when_it_has_one(alice_api, alice, alice_snapshot):
    SnapshotFactory(model=alice_snapshot.model, version=2)
    snapshot_promote(snapshot=alice_snapshot, user=alice, source="api")

    answer = submit(alice_api, {"model": str(alice_snapshot.model.uuid), "inputs": [EMBEDDED]})

    assert answer.status_code == 201, answer.content
    assert answer.json()["snapshot"] == {"uuid": str(alice_snapshot.uuid), "version": 1}


def test_an_uploaded_file_is_an_input_and_a_runtime_can_be_named(alice_api, alice_snapshot):
    gpu = Runtime.objects.create(name="gpu", queue="gpu")
    upload = alice_api.post(
        "/api/uploads/",
        {"file": SimpleUploadedFile("in.csv", b"x\n1\n2\n")},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    assert_matches_schema(upload)
    assert (upload.json()["name"], upload.json()["size"]) == ("in.csv", 6)

    answer = submit(
        alice_api,
        {
            "snapshot": str(alice_snapshot.uuid),
            "inputs": [{"kind": "upload", "upload": upload.json()["uuid"]}],
            "output": {"kind": "file", "name": "scores.csv"},
            "runtime": str(gpu.uuid),
        },
    )

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["inputs"][0]["format"] == "csv" and body["inputs"][0]["name"] == "in.csv"
    assert (body["output"]["name"], body["output"]["format"]) == ("scores.csv", "csv")
    assert body["runtime"] == "gpu" and body["placement"].startswith("chosen by alice")


def test_a_runtime_without_the_snapshots_tags_is_refused_by_name(alice_api, alice_snapshot):
    Runtime.objects.create(name="dev", queue="dev", tags=["dev"])
    alice_snapshot.runtime_tags = ["PROD", "gpu"]
    alice_snapshot.save(update_fields=["runtime_tags"])
    answer = submit(alice_api, scoring(alice_snapshot, runtime="dev"))
    assert answer.status_code == 400
    (message,) = answer.json()["runtime"]
    assert message.startswith("runtime dev lacks the tags PROD, gpu that snapshot v1 requires")
    assert not Job.objects.exists()


def test_the_same_idempotency_key_makes_one_job(alice_api, alice_snapshot):
    first = submit(alice_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="run-42")
    again = submit(alice_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="run-42")
    other = submit(alice_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="run-43")

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["uuid"] == again.json()["uuid"] != other.json()["uuid"]
    assert Job.objects.count() == 2


def test_the_same_key_from_another_user_is_another_job(alice_api, bob_api, alice_snapshot):
    first = submit(alice_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="k")
    second = submit(bob_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="k")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["uuid"] != second.json()["uuid"]


def test_job_lists_filter_and_validate_their_filters(alice_api, bob_api, alice_snapshot):
    mine = submit(alice_api, scoring(alice_snapshot)).json()
    bobs = submit(bob_api, scoring(alice_snapshot)).json()
    alice_api.post(f"/api/jobs/{bobs['uuid']}/cancel/")

    def uuids(query: str) -> list[str]:
        answer = alice_api.get(f"/api/jobs/{query}")
        assert answer.status_code == 200, answer.content
        assert_matches_schema(answer)
        return [j["uuid"] for j in answer.json()["results"]]

    assert uuids("") == [bobs["uuid"], mine["uuid"]]
    assert uuids("?created_by=alice") == [mine["uuid"]]
    assert uuids("?status=CANCELLED") == [bobs["uuid"]]
    assert uuids("?job_type=batchjob&runtime=default") == [bobs["uuid"], mine["uuid"]]
    assert uuids(f"?model={alice_snapshot.model.uuid}&snapshot={alice_snapshot.uuid}") == [
        bobs["uuid"], mine["uuid"],
    ]  # fmt: skip
    assert uuids("?job_type=metrics") == []
    for bad in ("?status=DONE", "?model=abc", "?job_type=nope"):
        answer = alice_api.get(f"/api/jobs/{bad}")
        assert answer.status_code == 400, bad
        assert set(answer.json()) <= {"status", "model", "job_type"}


def test_cancel_then_cancel_again_is_a_conflict(alice_api, alice_snapshot):
    job = submit(alice_api, scoring(alice_snapshot)).json()

    cancelled = alice_api.post(f"/api/jobs/{job['uuid']}/cancel/")
    assert cancelled.status_code == 200
    assert_matches_schema(cancelled)
    assert cancelled.json()["status"] == "CANCELLED"

    again = alice_api.post(f"/api/jobs/{job['uuid']}/cancel/")
    assert again.status_code == 409
    assert again.json() == {"detail": "The job already ended (CANCELLED); it cannot be cancelled."}


def test_rerun_makes_a_new_job_with_the_same_inputs(alice_api, bob_api, alice_snapshot):
    job = submit(alice_api, scoring(alice_snapshot)).json()

    answer = bob_api.post(f"/api/jobs/{job['uuid']}/rerun/")

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    body = answer.json()
    assert body["uuid"] != job["uuid"] and body["created_by"] == "bob"
    assert body["params"] == {"rerun_of": job["uuid"]}
    assert body["inputs"][0]["size"] == 18


def test_result_log_and_output_of_a_waiting_job(alice_api, alice_snapshot):
    job = submit(alice_api, scoring(alice_snapshot)).json()

    result = alice_api.get(f"/api/jobs/{job['uuid']}/result/")
    assert result.status_code == 409
    assert result.json() == {"detail": "The job is WAITING; its result is not ready."}
    log = alice_api.get(f"/api/jobs/{job['uuid']}/log/")
    assert log.status_code == 200 and log.json() == {"log": "", "status": "WAITING"}
    assert_matches_schema(log)
    output = alice_api.get(f"/api/jobs/{job['uuid']}/output/")
    assert output.status_code == 404 and "detail" in output.json()
    assert alice_api.get(f"/api/jobs/{job['uuid']}/rejects/").status_code == 404


def test_the_result_of_a_failed_job_says_why(alice_api, alice_snapshot):
    job = submit(alice_api, scoring(alice_snapshot)).json()
    Job.objects.filter(uuid=job["uuid"]).update(status=JobStatus.ERROR, error_message="boom")

    result = alice_api.get(f"/api/jobs/{job['uuid']}/result/")

    assert result.status_code == 409
    assert result.json()["detail"] == "The job ended in ERROR; it has no result: boom"


# --- An outsider sees nothing and can do nothing -------------------------------------------


def test_an_outsider_sees_nothing_of_another_teams_jobs(alice_api, charlie_api, alice_snapshot):
    job = submit(alice_api, scoring(alice_snapshot)).json()

    assert charlie_api.get("/api/jobs/").json()["count"] == 0
    assert charlie_api.get(f"/api/jobs/?model={alice_snapshot.model.uuid}").json()["count"] == 0
    for verb, suffix in [
        ("get", ""), ("get", "log/"), ("get", "result/"), ("get", "output/"),
        ("get", "rejects/"), ("post", "cancel/"), ("post", "rerun/"),
    ]:  # fmt: skip
        answer = getattr(charlie_api, verb)(f"/api/jobs/{job['uuid']}/{suffix}")
        assert answer.status_code == 404, suffix
        assert answer.json() == {"detail": "Not found."}, suffix
    assert Job.objects.get().status == JobStatus.WAITING
    assert Job.objects.count() == 1


def test_an_outsider_cannot_submit_on_another_teams_model(charlie_api, alice_snapshot):
    by_snapshot = submit(charlie_api, scoring(alice_snapshot))
    by_model = submit(charlie_api, {"model": str(alice_snapshot.model.uuid), "inputs": [EMBEDDED]})

    assert by_snapshot.status_code == 400
    assert by_snapshot.json() == {"snapshot": ["No snapshot with this uuid that you may see."]}
    assert by_model.status_code == 400
    assert by_model.json() == {"model": ["No model with this uuid that you may see."]}
    assert not Job.objects.exists()


def test_an_outsider_cannot_use_another_users_upload(alice_api, charlie_api, charlie):
    upload = alice_api.post(
        "/api/uploads/", {"file": SimpleUploadedFile("in.jsonl", b"{}\n")}, format="multipart"
    ).json()
    own = SnapshotFactory(model__owner=charlie, model__team=charlie.groups.get())

    answer = submit(
        charlie_api,
        {"snapshot": str(own.uuid), "inputs": [{"kind": "upload", "upload": upload["uuid"]}]},
    )

    assert answer.status_code == 400
    assert "upload the file again" in answer.json()["inputs"]["0"]["upload"][0]


@pytest.fixture
def sql_connections(tmp_path, team_alpha):
    mine = Connection.objects.create(name="warehouse", kind="sql", dsn=f"sqlite:///{tmp_path}/w.db")
    mine.teams.add(team_alpha)
    theirs = Connection.objects.create(
        name="secret-db", kind="sql", dsn=f"sqlite:///{tmp_path}/s.db"
    )
    theirs.teams.add(GroupFactory(name="gamma"))
    return mine, theirs


def test_connections_list_only_those_the_user_may_use_and_never_secrets(alice_api, sql_connections):
    answer = alice_api.get("/api/connections/")

    assert answer.status_code == 200
    assert_matches_schema(answer)
    (only,) = answer.json()["results"]
    assert only == {
        "uuid": str(sql_connections[0].uuid), "name": "warehouse", "kind": "sql",
        "description": "",
    }  # fmt: skip
    assert "dsn" not in answer.content.decode() and "sqlite" not in answer.content.decode()


def test_a_sql_input_uses_the_users_only_connection(alice_api, alice_snapshot, sql_connections):
    body = scoring(alice_snapshot, inputs=[{"kind": "sql", "query": "SELECT 1 AS x"}])

    answer = submit(alice_api, body)

    assert answer.status_code == 201, answer.content
    assert answer.json()["inputs"][0]["connection"] == "warehouse"


def test_another_teams_connection_cannot_be_used(alice_api, alice_snapshot, sql_connections):
    body = scoring(
        alice_snapshot,
        inputs=[{"kind": "sql", "query": "SELECT 1", "connection": "secret-db"}],
    )

    answer = submit(alice_api, body)

    assert answer.status_code == 400
    (message,) = answer.json()["inputs"]["0"]["connection"]
    assert message == "No SQL connection 'secret-db' that you may use; yours: warehouse."


# --- Bad input: 4xx with a message, never a 500 --------------------------------------------

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"inputs": None}, "inputs", "required"),
        ({"inputs": []}, "inputs", "may not be empty"),
        ({"inputs": "data.jsonl"}, "inputs", "list"),
        ({"inputs": [{"kind": "ftp"}]}, "inputs", "not a valid choice"),
        ({"inputs": [{"kind": "upload"}]}, "inputs", "needs 'upload'"),
        ({"inputs": [{"kind": "upload", "upload": MISSING}]}, "inputs", "upload the file again"),
        ({"inputs": [{"kind": "upload", "upload": "abc"}]}, "inputs", "valid UUID"),
        ({"inputs": [{"kind": "s3", "location": "s3://b/k"}]}, "inputs", "No S3 connection"),
        ({"inputs": [{**EMBEDDED, "format": "xml"}]}, "inputs", "not a valid choice"),
        ({"inputs": [EMBEDDED, 3]}, "inputs", "Invalid data"),
        ({"snapshot": MISSING}, "snapshot", "No snapshot"),
        ({"snapshot": "abc"}, "snapshot", "valid UUID"),
        ({"snapshot": None}, "snapshot", "null"),
        ({"job_type": "batch"}, "job_type", "not a valid choice"),
        ({"runtime": "mars"}, "runtime", "No runtime 'mars'; the runtimes are: default."),
        ({"params": [1, 2]}, "params", "dictionary"),
        ({"check_input_schema": "maybe"}, "check_input_schema", "valid boolean"),
        ({"output": {"kind": "file"}}, "detail", "Give the output file a name"),
        ({"output": {"kind": "file", "name": "../x.jsonl"}}, "detail", "not a plain file name"),
        ({"output": {"kind": "s3"}}, "output", "needs 'location'"),
        ({"output": "out.jsonl"}, "output", "dictionary"),
        ({"job_type": "metrics"}, "detail", "has no metrics function"),
        ({"input_schema": "in.avsc"}, "detail", "not an attachment"),
        ({"check_output_schema": True}, "detail", "Choose an output schema"),
        ({"max_rejects": -1}, "max_rejects", "greater than or equal to 0"),
        ({"max_rejects_percent": 101}, "max_rejects_percent", "less than or equal to 100"),
        ({"stop_on_bad_records": "maybe"}, "stop_on_bad_records", "valid boolean"),
    ],
)
def test_bad_job_input_is_refused_with_a_message(alice_api, alice_snapshot, change, field, words):
    body = {**scoring(alice_snapshot), **change}
    body = {k: v for k, v in body.items() if v is not None or k == "snapshot"}

    answer = submit(alice_api, body)

    assert answer.status_code == 400, answer.content
    assert words.lower() in json.dumps(answer.json()[field]).lower(), answer.json()
    assert not Job.objects.exists()


def test_snapshot_and_model_are_one_or_the_other(alice_api, alice_snapshot):
    neither = submit(alice_api, {"inputs": [EMBEDDED]})
    both = submit(alice_api, scoring(alice_snapshot, model=str(alice_snapshot.model.uuid)))

    assert neither.json() == {"snapshot": ["Give the 'snapshot' (or the 'model') to run."]}
    assert both.json() == {"snapshot": ["Give either 'snapshot' or 'model', not both."]}


def test_a_model_without_a_snapshot_cannot_run(alice_api, alice, team_alpha):
    empty = Model.objects.create(name="empty", owner=alice, team=team_alpha)

    answer = submit(alice_api, {"model": str(empty.uuid), "inputs": [EMBEDDED]})

    assert answer.status_code == 400
    assert answer.json() == {"model": ["The model 'empty' has no snapshot yet."]}


def test_sql_that_writes_is_refused(alice_api, alice_snapshot, sql_connections):
    body = scoring(alice_snapshot, inputs=[{"kind": "sql", "query": "DELETE FROM scores"}])

    answer = submit(alice_api, body)

    assert answer.status_code == 400
    assert "detail" in answer.json()
    assert not Job.objects.exists()


def test_embedded_data_over_the_limit_is_refused(alice_api, alice_snapshot, settings):
    settings.EMBEDDED_INPUT_MAX_BYTES = 100
    body = scoring(alice_snapshot, inputs=[{"kind": "embedded", "data": '{"x": 1}\n' * 20}])

    answer = submit(alice_api, body)

    assert answer.status_code == 400
    assert "the limit is 100" in answer.json()["detail"]


def test_a_body_over_the_request_limit_is_413(alice_api, alice_snapshot, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = scoring(alice_snapshot, inputs=[{"kind": "embedded", "data": "x" * 2000}])

    answer = submit(alice_api, body)

    assert answer.status_code == 413
    assert "POST /api/uploads/" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "content_type", "code"),
    [
        ('{"snapshot": ', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
        ("snapshot=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(alice_api, db, payload, content_type, code):
    answer = alice_api.post("/api/jobs/", payload, content_type=content_type)

    assert answer.status_code == code
    assert answer.json()


def test_an_idempotency_key_over_200_characters_is_refused(alice_api, alice_snapshot):
    answer = submit(alice_api, scoring(alice_snapshot), HTTP_IDEMPOTENCY_KEY="k" * 201)

    assert answer.status_code == 400
    assert "longer than 200" in answer.json()["detail"]


def test_an_upload_without_a_file_is_refused(alice_api):
    answer = alice_api.post("/api/uploads/", {"file": "text"}, format="multipart")

    assert answer.status_code == 400
    assert "file" in answer.json()


def test_runtimes_list_health_and_workers(alice_api, charlie_api, alice_snapshot):
    from jobs.models import Worker

    job = submit(alice_api, scoring(alice_snapshot)).json()
    Worker.objects.filter(name="unit@test-host").update(jobs_in_hand=[job["uuid"]])
    runtime = runtime_default()

    listed = alice_api.get("/api/runtimes/")
    assert listed.status_code == 200
    assert_matches_schema(listed)
    (default,) = listed.json()["results"]
    assert (default["name"], default["health"], default["slots"]) == ("default", "online", 2)
    assert (default["waiting_jobs"], default["running_jobs"]) == (1, 0)
    (worker,) = default["workers"]
    assert (worker["name"], worker["state"]) == ("unit@test-host", "online")
    assert worker["jobs_in_hand"] == [job["uuid"]]
    by_name = alice_api.get("/api/runtimes/default/")
    assert by_name.status_code == 200
    assert_matches_schema(by_name)
    assert alice_api.get(f"/api/runtimes/{runtime.uuid}/").json()["name"] == "default"
    assert alice_api.get("/api/runtimes/mars/").status_code == 404
    # An outsider sees the runtime, not which of another team's jobs it runs.
    assert charlie_api.get("/api/runtimes/default/").json()["workers"][0]["jobs_in_hand"] == []


def test_with_no_online_runtime_a_job_waits_unplaced_and_says_why(alice_api, alice_snapshot):
    from jobs.models import Worker

    Worker.objects.all().delete()

    answer = submit(alice_api, scoring(alice_snapshot))

    assert answer.status_code == 201
    assert answer.json()["runtime"] is None
    assert answer.json()["placement"] == "no online runtime"
    assert_matches_schema(answer)


@pytest.fixture
def lake_and_hadoop(db):
    lake = Connection.objects.create(
        name="lake", kind="s3", endpoint_url="http://127.0.0.1:9", access_key_id="AKIAEXAMPLE",
        secret_access_key="not-a-real-secret",
    )  # fmt: skip
    hadoop = Connection.objects.create(
        name="hadoop", kind="hdfs", webhdfs_url="http://127.0.0.1:9", hdfs_user="hdfs"
    )
    return lake, hadoop


def test_s3_and_hdfs_inputs_and_outputs_name_their_connections(
    alice_api, alice_snapshot, lake_and_hadoop
):
    body = scoring(
        alice_snapshot,
        inputs=[
            {"kind": "s3", "location": "s3://bucket/in/"},
            {"kind": "hdfs", "location": "hdfs://nn/data/in.csv", "connection": "hadoop"},
        ],
        output={"kind": "s3", "location": "s3://bucket/out/scores.parquet", "connection": "lake"},
    )

    answer = submit(alice_api, body)

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    first, second = answer.json()["inputs"]
    assert (first["connection"], first["location"], first["format"]) == (
        "lake",
        "s3://bucket/in/",
        "",
    )
    assert (second["connection"], second["location"]) == ("hadoop", "hdfs://nn/data/in.csv")
    output = answer.json()["output"]
    assert (output["kind"], output["format"], output["connection"]) == ("s3", "parquet", "lake")


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ({"kind": "s3", "location": "s3://bucket/out/", "format": "csv"}, "is a prefix"),
        ({"kind": "hdfs", "location": "hdfs://nn/out/", "format": "csv"}, "is a folder"),
        ({"kind": "s3", "location": "s3://bucket/out/scores"}, "Cannot tell the output format"),
    ],
)
def test_external_outputs_are_checked_before_a_job_is_made(
    alice_api, alice_snapshot, lake_and_hadoop, output, words
):
    answer = submit(alice_api, scoring(alice_snapshot, output=output))

    assert answer.status_code == 400
    assert words in answer.json()["detail"]


def test_a_sql_output_table_and_append_mode(alice_api, alice_snapshot, sql_connections):
    output = {"kind": "sql", "location": "mart.scores", "write_mode": "append"}

    answer = submit(alice_api, scoring(alice_snapshot, output=output))

    assert answer.status_code == 201, answer.content
    body = answer.json()["output"]
    assert (body["location"], body["write_mode"], body["connection"]) == (
        "mart.scores", "append", "warehouse",
    )  # fmt: skip
    bad = submit(alice_api, scoring(alice_snapshot, output={"kind": "sql", "location": "x; drop"}))
    assert bad.status_code == 400 and "not a table name" in bad.json()["detail"]


def test_with_two_connections_of_a_kind_the_choice_must_be_named(
    alice_api, alice_snapshot, lake_and_hadoop
):
    Connection.objects.create(name="archive", kind="s3")

    answer = submit(
        alice_api, scoring(alice_snapshot, inputs=[{"kind": "s3", "location": "s3://b/k"}])
    )

    assert answer.status_code == 400
    assert answer.json()["inputs"]["0"]["connection"] == [
        "Several S3 connections are open to you; name one: archive, lake."
    ]


def test_a_metrics_job_with_the_built_in_evaluator(alice_api, alice_snapshot):
    answer = submit(alice_api, scoring(alice_snapshot, job_type="testjob", evaluator=True))

    assert answer.status_code == 201, answer.content
    assert answer.json()["job_type"] == "metrics"
    assert answer.json()["params"] == {"evaluator": True}
