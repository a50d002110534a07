from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.models import Connection, Job, JobAsset, JobStatus, Runtime, Upload
from jobs.wizard import SESSION_KEY
from models_registry.services import attachment_add
from tests.factories import GroupFactory, ModelFactory, SnapshotFactory

HTMX = {"HX-Request": "true"}
SCHEMA = b'{"type": "record", "name": "r", "fields": [{"name": "x", "type": "int"}]}'
TAGGED_SOURCE = (
    "# modelop.schema.0: in.avsc\n# modelop.score\ndef action(datum):\n    yield datum\n"
)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def step(name: str) -> str:
    return reverse("jobs-wizard-step", args=[name])


def answers(client) -> dict:
    return client.session.get(SESSION_KEY, {})


def walk_to_inputs(client, snapshot) -> None:
    """Answer steps 3–7 (model … schemas) the way a browser without JavaScript does."""
    assert client.get(reverse("jobs-wizard-start")).status_code == 302
    for name, data in [
        ("model", {"model": snapshot.model.uuid}),
        ("snapshot", {"snapshot": snapshot.uuid}),
        ("runtime", {"runtime": "auto"}),
        ("type", {"job_type": "scoring"}),
        ("schemas", {}),
    ]:
        response = client.post(step(name), data)
        assert response.status_code == 302, (name, response.content[:2000])


# --- The whole walk ----------------------------------------------------------------------------


def test_full_walk_creates_a_job_with_an_upload_and_embedded_input(
    alice_client, alice, alice_snapshot, queued, django_capture_on_commit_callbacks,
    default_runtime_online,
):  # fmt: skip
    walk_to_inputs(alice_client, alice_snapshot)

    upload = SimpleUploadedFile("records.jsonl", b'{"x": 1}\n{"x": 2}\n')
    response = alice_client.post(step("inputs"), {"file": upload, "action": "add"})
    assert response.status_code == 200 and "records.jsonl" in response.text
    stored = Upload.objects.get()
    assert (stored.owner, stored.name, stored.size) == (alice, "records.jsonl", 18)

    response = alice_client.post(
        step("inputs"), {"data": "x\n3\n4\n", "format": "", "action": "next"}
    )
    assert response.status_code == 302 and response["Location"] == step("output")
    response = alice_client.post(step("output"), {"kind": "file", "name": "scores.csv"})
    assert response["Location"] == step("review")

    review = alice_client.get(step("review")).text
    for expected in ("echo", "v1", "Let the system choose", "Scoring", "records.jsonl",
                     "JSON lines", "CSV", "scores.csv", "Run job"):  # fmt: skip
        assert expected in review, expected

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(step("review"))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.status, job.job_type, job.snapshot) == (
        JobStatus.WAITING,
        "scoring",
        alice_snapshot,
    )
    assert job.runtime_auto and queued == [(job.uuid, job.runtime.queue)]
    first, second = job.input_assets()
    assert (first.kind, first.name, first.format, first.file.name) == (
        JobAsset.Kind.UPLOAD, "records.jsonl", "jsonl", stored.file.name,
    )  # fmt: skip
    assert (second.kind, second.format, second.data) == (JobAsset.Kind.EMBEDDED, "csv", "x\n3\n4\n")
    output = job.output_asset()
    assert (output.kind, output.name, output.format) == (JobAsset.Kind.FILE, "scores.csv", "csv")
    assert answers(alice_client) == {}  # a finished wizard starts fresh


def test_wizard_with_htmx_answers_the_next_steps_partial_and_pushes_its_url(
    alice_client, alice_snapshot
):
    alice_client.get(reverse("jobs-wizard-start"))
    response = alice_client.post(step("model"), {"model": alice_snapshot.model.uuid}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Push-Url"] == step("snapshot")
    assert response.text.lstrip().startswith('<div id="wizard"')
    assert "<html" not in response.text and "2. Snapshot" in response.text

    response = alice_client.get(step("model"), headers=HTMX)
    assert response.text.lstrip().startswith('<div id="wizard"') and "<html" not in response.text
    assert "<html" in alice_client.get(step("model")).text  # a plain request: the whole page


def test_htmx_run_job_redirects_the_browser_to_the_job_page(alice_client, alice_snapshot, queued):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": '{"x": 1}\n', "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})
    response = alice_client.post(step("review"), headers=HTMX)
    assert response["HX-Redirect"] == Job.objects.get().get_absolute_url()


def test_every_step_form_posts_with_htmx_and_a_plain_action(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("inputs")).text
    assert f'action="{step("inputs")}"' in page and f'hx-post="{step("inputs")}"' in page
    assert 'enctype="multipart/form-data"' in page and 'hx-encoding="multipart/form-data"' in page
    for number in range(1, 9):
        assert f'<span class="step-number">{number}</span>' in page
    assert '<span class="step-number">9</span>' not in page


# --- Navigation ------------------------------------------------------------------------------


def test_back_keeps_the_earlier_answers(alice_client, alice_snapshot):
    runtime = Runtime.objects.create(name="gpu", queue="gpu")
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("runtime"), {"runtime": str(runtime.uuid)})

    page = alice_client.get(step("runtime")).text
    assert f'value="{runtime.uuid}" checked' in page
    page = alice_client.get(step("model")).text
    assert f'value="{alice_snapshot.model.uuid}" required checked' in page
    # Going back did not forget what came after.
    assert alice_client.get(step("review")).status_code == 302  # inputs still missing
    assert answers(alice_client)["type"] == "scoring"


def test_skipping_ahead_redirects_to_the_first_missing_step(alice_client, alice_snapshot):
    alice_client.get(reverse("jobs-wizard-start"))
    response = alice_client.get(step("review"))
    assert response.status_code == 302 and response["Location"] == step("model")

    alice_client.post(step("model"), {"model": alice_snapshot.model.uuid})
    response = alice_client.get(step("type"))
    assert response["Location"] == step("snapshot")
    response = alice_client.post(step("output"), {"kind": "embedded"})
    assert response["Location"] == step("snapshot") and "output" not in answers(alice_client)


def test_unknown_step_is_404(alice_client):
    assert alice_client.get(step("teleport")).status_code == 404


def test_changing_the_model_resets_the_snapshot_dependent_answers(
    alice_client, alice, alice_snapshot
):
    walk_to_inputs(alice_client, alice_snapshot)
    other = SnapshotFactory(model=ModelFactory(owner=alice, team=alice_snapshot.model.team))
    alice_client.post(step("model"), {"model": other.model.uuid})
    kept = answers(alice_client)
    assert "snapshot" not in kept and "type" not in kept and "schemas" not in kept
    assert kept["runtime"] == "auto"
    # Posting the same model again keeps everything.
    alice_client.post(step("snapshot"), {"snapshot": other.uuid})
    alice_client.post(step("model"), {"model": other.model.uuid})
    assert answers(alice_client)["snapshot"] == str(other.uuid)


def test_start_preselects_a_snapshot(alice_client, alice_snapshot):
    url = f"{reverse('jobs-wizard-start')}?snapshot={alice_snapshot.uuid}"
    response = alice_client.get(url)
    assert response["Location"] == step("runtime")
    assert answers(alice_client)["model"] == str(alice_snapshot.model.uuid)


def test_start_preselects_a_model_and_suggests_its_latest_snapshot(alice_client, alice_snapshot):
    newer = SnapshotFactory(model=alice_snapshot.model, version=2)
    response = alice_client.get(f"{reverse('jobs-wizard-start')}?model={alice_snapshot.model.uuid}")
    assert response["Location"] == step("snapshot")
    page = alice_client.get(step("snapshot")).text
    assert f'value="{newer.uuid}" required checked' in page


def test_start_with_a_new_wizard_forgets_the_old_answers(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.get(reverse("jobs-wizard-start"))
    assert answers(alice_client) == {}


# --- Forged and invalid answers ----------------------------------------------------------------


@pytest.fixture
def gamma_snapshot(db):
    return SnapshotFactory(model=ModelFactory(team=GroupFactory(name="gamma"), name="secret"))


def test_forged_snapshot_of_another_team_is_refused(alice_client, alice_snapshot, gamma_snapshot):
    alice_client.get(reverse("jobs-wizard-start"))
    alice_client.post(step("model"), {"model": alice_snapshot.model.uuid})
    response = alice_client.post(step("snapshot"), {"snapshot": gamma_snapshot.uuid})
    assert response.status_code == 200
    assert "Choose one of this model&#x27;s snapshots." in response.text
    assert "snapshot" not in answers(alice_client) and not Job.objects.exists()


def test_forged_model_of_another_team_is_refused(alice_client, alice_snapshot, gamma_snapshot):
    alice_client.get(reverse("jobs-wizard-start"))
    response = alice_client.post(step("model"), {"model": gamma_snapshot.model.uuid})
    assert response.status_code == 200 and "Choose one of your teams" in response.text
    assert "secret" not in response.text


def test_start_with_another_teams_ids_is_404(alice_client, gamma_snapshot):
    start = reverse("jobs-wizard-start")
    assert alice_client.get(f"{start}?snapshot={gamma_snapshot.uuid}").status_code == 404
    assert alice_client.get(f"{start}?model={gamma_snapshot.model.uuid}").status_code == 404
    assert alice_client.get(f"{start}?snapshot=garbage").status_code == 404


def test_another_users_upload_never_reaches_a_job(alice_client, alice_snapshot, charlie, queued):
    """Upload ids live in the session, never in the form; one that does not belong to the
    user (here planted directly) is dropped, so the inputs step counts as unanswered."""
    walk_to_inputs(alice_client, alice_snapshot)
    theirs = Upload.objects.create(owner=charlie, name="theirs.jsonl", size=1)
    session = alice_client.session
    session[SESSION_KEY]["inputs"] = [
        {"id": "x", "kind": "upload", "upload": str(theirs.uuid), "format": ""}
    ]
    session[SESSION_KEY]["output"] = {"kind": "embedded", "name": "", "format": ""}
    session.save()
    response = alice_client.post(step("review"))
    assert response.status_code == 302 and response["Location"] == step("inputs")
    assert not Job.objects.exists()


def test_job_types_without_a_function_are_disabled_with_the_reason(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("type")).text
    assert 'value="training" disabled' in page
    assert "no function tagged &#x27;# modelop.train&#x27;" in page
    response = alice_client.post(step("type"), {"job_type": "training"})
    assert response.status_code == 200 and "Training is not available" in response.text
    assert answers(alice_client)["type"] == "scoring"


def test_a_metrics_job_without_a_metrics_function_runs_the_built_in_evaluator(
    alice_client, alice_snapshot, queued
):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("type")).text
    assert 'value="metrics" disabled' not in page
    assert "the built-in evaluator measures" in page
    alice_client.post(step("type"), {"job_type": "metrics"})
    alice_client.post(step("inputs"), {"kind": "embedded", "data": '{"x": 1}', "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})

    assert "(with the built-in evaluator)" in alice_client.get(step("review")).text
    alice_client.post(step("review"))
    job = Job.objects.get()
    assert (job.job_type, job.params) == ("metrics", {"evaluator": True})


METRICS_SOURCE = "# modelop.metrics\ndef metrics(df):\n    yield {'rows': len(df)}\n"


@pytest.mark.parametrize("asked", [True, False], ids=["asked", "not-asked"])
def test_the_evaluator_runs_beside_a_metrics_function_when_asked(
    alice_client, alice_snapshot, queued, asked
):
    snapshot = SnapshotFactory(model=alice_snapshot.model, version=2, source=METRICS_SOURCE)
    alice_client.get(f"{reverse('jobs-wizard-start')}?snapshot={snapshot.uuid}")
    alice_client.post(step("runtime"), {"runtime": "auto"})
    assert "Also run the built-in evaluator" in alice_client.get(step("type")).text
    alice_client.post(
        step("type"), {"job_type": "metrics", **({"evaluator": "on"} if asked else {})}
    )
    alice_client.post(step("schemas"), {})
    alice_client.post(step("inputs"), {"kind": "embedded", "data": '{"x": 1}', "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})
    alice_client.post(step("review"))

    assert Job.objects.get().params == ({"evaluator": True} if asked else {})


def test_schema_step_defaults_to_the_header_tags_and_checks_choices(
    alice_client, alice, alice_snapshot
):
    snapshot = SnapshotFactory(model=alice_snapshot.model, version=2, source=TAGGED_SOURCE)
    for name in ("in.avsc", "out.avsc"):
        attachment_add(snapshot=snapshot, name=name, content=ContentFile(SCHEMA))
    alice_client.get(f"{reverse('jobs-wizard-start')}?snapshot={snapshot.uuid}")
    alice_client.post(step("runtime"), {"runtime": "auto"})
    alice_client.post(step("type"), {"job_type": "scoring"})

    page = alice_client.get(step("schemas")).text
    assert '<option value="in.avsc" selected>' in page
    assert '<option value="out.avsc">' in page  # no output tag: no default
    response = alice_client.post(step("schemas"), {"check_output": "on"})
    assert "Choose an output schema to check against." in response.text
    response = alice_client.post(step("schemas"), {"input_schema": "other.avsc"})
    assert "Select a valid choice" in response.text
    response = alice_client.post(step("schemas"), {"input_schema": "in.avsc", "check_input": "on"})
    assert response.status_code == 302
    assert answers(alice_client)["schemas"] == {
        "input": "in.avsc", "output": "", "check_input": True, "check_output": False,
    }  # fmt: skip


def test_inputs_step_needs_at_least_one_input(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(step("inputs"), {"action": "next"})
    assert response.status_code == 200 and "Add at least one input" in response.text


def test_inputs_refuse_pasted_parquet_and_both_kinds_at_once(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(step("inputs"), {"data": "x", "format": "parquet"})
    assert "Parquet is binary" in response.text
    response = alice_client.post(
        step("inputs"), {"data": "x", "file": SimpleUploadedFile("a.csv", b"x\n1\n")}
    )
    assert "not both at once" in response.text
    assert not Upload.objects.exists() and "inputs" not in answers(alice_client)


def test_an_input_can_be_removed(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": '{"x": 1}', "action": "add"})
    alice_client.post(step("inputs"), {"data": '{"x": 2}', "action": "add"})
    first = answers(alice_client)["inputs"][0]
    alice_client.post(step("inputs"), {"action": "remove", "input": first["id"]})
    assert [i["data"] for i in answers(alice_client)["inputs"]] == ['{"x": 2}']


def test_output_file_needs_a_plain_name(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": '{"x": 1}', "action": "next"})
    response = alice_client.post(step("output"), {"kind": "file", "name": ""})
    assert "Give the output file a name" in response.text
    response = alice_client.post(step("output"), {"kind": "file", "name": "../scores.csv"})
    assert "is not a plain file name" in response.text
    response = alice_client.post(step("output"), {"kind": "ftp"})
    assert "Select a valid choice" in response.text
    response = alice_client.post(step("output"), {"kind": "sql", "sql_table": "scores"})
    assert "No SQL connections yet: an administrator adds them in Admin → Connections." in (
        response.text
    )
    assert "output" not in answers(alice_client)


def test_the_runtime_step_refuses_a_runtime_without_the_snapshots_tags(
    alice_client, alice_snapshot
):
    dev = Runtime.objects.create(name="dev", queue="dev", tags=["dev"])
    alice_snapshot.runtime_tags = ["PROD", "gpu"]
    alice_snapshot.save(update_fields=["runtime_tags"])
    alice_client.get(reverse("jobs-wizard-start") + f"?snapshot={alice_snapshot.uuid}")
    page = alice_client.get(step("runtime")).text
    assert "Lacks PROD, gpu, which snapshot v1 requires." in page
    response = alice_client.post(step("runtime"), {"runtime": str(dev.uuid)})
    assert response.status_code == 200
    assert "runtime dev lacks the tags PROD, gpu that snapshot v1 requires" in response.text
    assert "runtime" not in answers(alice_client)


def test_a_paste_over_the_limit_never_reaches_the_session(alice_client, alice_snapshot, settings):
    settings.EMBEDDED_INPUT_MAX_BYTES = 100
    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(step("inputs"), {"data": "x" * 101, "action": "add"})
    assert "Pasted data is 101 bytes; the limit is 100." in response.text
    assert "inputs" not in answers(alice_client)


def test_pasted_inputs_together_are_bounded_in_the_session(alice_client, alice_snapshot, settings):
    settings.EMBEDDED_INPUT_MAX_BYTES = 100
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": "x" * 60, "action": "add"})
    response = alice_client.post(step("inputs"), {"data": "y" * 60, "action": "add"})
    assert response.status_code == 200
    assert (
        "Pasted data of this job&#x27;s inputs would be 120 bytes together; the limit is 100"
        in (response.text)
    )
    assert [a["data"] for a in answers(alice_client)["inputs"]] == ["x" * 60]


def test_the_wizard_keeps_a_bounded_number_of_inputs(alice_client, alice_snapshot, monkeypatch):
    monkeypatch.setattr("jobs.views.wizard.JOB_MAX_INPUTS", 2)
    walk_to_inputs(alice_client, alice_snapshot)
    for n in range(3):
        response = alice_client.post(step("inputs"), {"data": f'{{"x": {n}}}', "action": "add"})
    assert "A job has at most 2 inputs; remove one first." in response.text
    assert len(answers(alice_client)["inputs"]) == 2


def test_review_takes_the_options_for_bad_records(alice_client, alice_snapshot, queued):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": '{"x": 1}\n', "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})
    review = alice_client.get(step("review")).text
    assert "Stop on the first bad record" in review and "Error threshold" in review

    refused = alice_client.post(step("review"), {"max_rejects": "lots"})
    assert refused.status_code == 200 and not Job.objects.exists()
    assert "is not an error threshold" in refused.text and 'value="lots"' in refused.text

    alice_client.post(step("review"), {"stop_on_bad_records": "on", "max_rejects": "2.5 %"})
    job = Job.objects.get()
    assert (job.stop_on_bad_records, job.max_rejects, job.max_rejects_percent) == (True, None, 2.5)


def test_review_shows_a_refusal_from_job_submit(alice_client, alice_snapshot, settings, queued):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": '{"x": 1}\n' * 10, "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})
    settings.EMBEDDED_INPUT_MAX_BYTES = 20  # lowered after the input was accepted
    response = alice_client.post(step("review"))
    assert response.status_code == 200
    assert "The job could not be created" in response.text
    assert "the limit is 20" in response.text
    assert not Job.objects.exists() and queued == []


def test_a_single_model_is_preselected(alice_client, alice, alice_snapshot):
    alice_client.get(reverse("jobs-wizard-start"))
    checked = f'value="{alice_snapshot.model.uuid}" required checked'
    assert checked in alice_client.get(step("model")).text
    SnapshotFactory(model=ModelFactory(owner=alice, team=alice_snapshot.model.team))
    assert checked not in alice_client.get(step("model")).text  # two: the person chooses


# --- External inputs and outputs (S3, HDFS, SQL) -----------------------------------------------


def fake_location_validate(*, kind, connection, location, query, direction):
    """Stands in for jobs.assets.location_validate here: the real kinds (jobs/assets/s3.py,
    hdfs.py, sql.py) are tested in their own modules' tests; these tests are about what the
    wizard does with a location that is accepted or refused."""
    if connection is None or connection.kind != kind:
        raise ValidationError(f"Choose a {kind.upper()} connection for this asset.")
    if kind == "sql" and direction == "in":
        if not query.strip().lower().startswith("select"):
            raise ValidationError("Only a SELECT statement can be an input.")
        return query.strip()
    if kind in ("s3", "hdfs") and not location.startswith(f"{kind}://"):
        raise ValidationError(f"A {kind.upper()} location starts with {kind}://.")
    return location.strip()


class FakeSource:
    size_bytes: int | None = 1234
    delay = 0.0

    def __init__(self, asset):
        self.asset = asset

    def size(self):
        time.sleep(self.delay)
        if isinstance(self.size_bytes, Exception):
            raise self.size_bytes
        return self.size_bytes


@pytest.fixture
def fake_assets(monkeypatch):
    monkeypatch.setattr("jobs.assets.location_validate", fake_location_validate)
    monkeypatch.setattr("jobs.assets.input_source", FakeSource)
    monkeypatch.setattr(FakeSource, "size_bytes", 1234)
    return FakeSource


@pytest.fixture
def lake(team_alpha):
    connection = Connection.objects.create(name="lake", kind="s3", secret_access_key="k-9d8f7")
    connection.teams.add(team_alpha)
    return connection


@pytest.fixture
def warehouse(db):
    return Connection.objects.create(name="warehouse", kind="sql", dsn="sqlite:////tmp/w.db")


@pytest.fixture
def gamma_lake(db):
    connection = Connection.objects.create(name="gamma-lake", kind="s3")
    connection.teams.add(GroupFactory(name="gamma"))
    return connection


def walk_to_output(client, snapshot) -> None:
    walk_to_inputs(client, snapshot)
    assert client.post(step("inputs"), {"data": '{"x": 1}', "action": "next"}).status_code == 302


def test_walk_with_an_s3_input_and_a_sql_table_output(
    alice_client, alice_snapshot, lake, warehouse, fake_assets, queued
):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("inputs")).text
    assert 'name="kind" value="s3"' in page and "lake" in page
    response = alice_client.post(
        step("inputs"),
        {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "s3://bucket/in.csv",
         "action": "next"},
    )  # fmt: skip
    assert response.status_code == 302, response.text[-3000:]
    (saved,) = answers(alice_client)["inputs"]
    assert {k: saved[k] for k in ("kind", "connection", "location", "query", "format")} == {
        "kind": "s3", "connection": str(lake.uuid), "location": "s3://bucket/in.csv",
        "query": "", "format": "",
    }  # fmt: skip

    response = alice_client.post(
        step("output"),
        {"kind": "sql", "sql_connection": warehouse.uuid, "sql_table": "scores",
         "write_mode": "append"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == step("review")

    review = alice_client.get(step("review")).text
    for expected in ("s3://bucket/in.csv", "lake", "1.2\xa0KB", "CSV", "SQL table on warehouse",
                     "scores", "(append)", "Parquet"):  # fmt: skip
        assert expected in review, expected
    assert "k-9d8f7" not in review

    alice_client.post(step("review"))
    job = Job.objects.get()
    (source,) = job.input_assets()
    # No format was chosen: the object's extension decides when the worker reads it.
    assert (source.kind, source.connection, source.location, source.format) == (
        "s3", lake, "s3://bucket/in.csv", "",
    )  # fmt: skip
    output = job.output_asset()
    assert (output.kind, output.connection, output.location, output.write_mode) == (
        "sql", warehouse, "scores", "append",
    )  # fmt: skip


def test_a_sql_input_is_found_by_its_filled_in_query(
    alice_client, alice_snapshot, warehouse, fake_assets
):
    walk_to_inputs(alice_client, alice_snapshot)
    query = "SELECT id, amount FROM payments WHERE amount > 100 ORDER BY id " + "-- note " * 10
    response = alice_client.post(
        step("inputs"), {"sql_connection": warehouse.uuid, "sql_query": query, "action": "add"}
    )
    assert response.status_code == 200
    (saved,) = answers(alice_client)["inputs"]
    assert (saved["kind"], saved["query"], saved["location"]) == ("sql", query.strip(), "")
    assert "SELECT id, amount FROM payments" in response.text and "Parquet" in response.text


def test_refusals_of_location_validate_are_shown_on_the_step(
    alice_client, alice_snapshot, lake, warehouse, fake_assets
):
    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(
        step("inputs"),
        {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "http://bucket/x"},
    )
    assert response.status_code == 200 and "starts with s3://" in response.text
    response = alice_client.post(
        step("inputs"),
        {"kind": "sql", "sql_connection": warehouse.uuid, "sql_query": "DELETE FROM t"},
    )
    assert response.status_code == 200 and "Only a SELECT statement" in response.text
    response = alice_client.post(step("inputs"), {"kind": "s3", "s3_location": "s3://b/k"})
    assert "Choose a S3 connection." in response.text
    response = alice_client.post(step("inputs"), {"kind": "upload", "data": '{"x": 1}'})
    assert "You chose “File from your computer” but filled in another kind" in response.text
    response = alice_client.post(
        step("inputs"), {"kind": "s3", "s3_connection": lake.uuid, "action": "add"}
    )
    assert "Enter the S3 location" in response.text
    assert "inputs" not in answers(alice_client)

    alice_client.post(step("inputs"), {"data": '{"x": 1}', "action": "next"})
    response = alice_client.post(
        step("output"), {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "/tmp/x"}
    )
    assert response.status_code == 200 and "starts with s3://" in response.text
    assert "output" not in answers(alice_client)


def test_a_kind_that_is_not_installed_is_a_message_not_an_error(
    alice_client, alice_snapshot, lake, monkeypatch
):
    def missing(**kwargs):
        raise ModuleNotFoundError("No module named 'jobs.assets.s3'")

    monkeypatch.setattr("jobs.assets.location_validate", missing)
    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(
        step("inputs"), {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "s3://b/k"}
    )
    assert response.status_code == 200 and "S3 assets are not supported yet" in response.text


def test_another_teams_connection_is_not_offered_and_a_forged_uuid_is_refused(
    alice_client, alice_snapshot, lake, gamma_lake, fake_assets
):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("inputs")).text
    assert str(lake.uuid) in page
    assert str(gamma_lake.uuid) not in page and "gamma-lake" not in page
    response = alice_client.post(
        step("inputs"),
        {"kind": "s3", "s3_connection": gamma_lake.uuid, "s3_location": "s3://b/k"},
    )
    assert response.status_code == 200
    assert "Choose one of the connections offered here." in response.text
    assert "inputs" not in answers(alice_client)

    alice_client.post(step("inputs"), {"data": '{"x": 1}', "action": "next"})
    response = alice_client.post(
        step("output"),
        {"kind": "s3", "s3_connection": gamma_lake.uuid, "s3_location": "s3://b/k"},
    )
    assert "Choose one of the connections offered here." in response.text
    assert "output" not in answers(alice_client)


def test_a_planted_connection_of_another_team_never_reaches_a_job(
    alice_client, alice_snapshot, gamma_lake, fake_assets, queued
):
    walk_to_inputs(alice_client, alice_snapshot)
    session = alice_client.session
    session[SESSION_KEY]["inputs"] = [
        {"id": "x", "kind": "s3", "connection": str(gamma_lake.uuid),
         "location": "s3://b/k", "query": "", "format": ""},
    ]  # fmt: skip
    session[SESSION_KEY]["output"] = {"kind": "embedded", "name": "", "format": ""}
    session.save()
    response = alice_client.post(step("review"))
    assert response.status_code == 302 and response["Location"] == step("inputs")
    assert not Job.objects.exists()


def test_kinds_without_connections_say_how_to_get_one(alice_client, alice_snapshot, lake):
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("inputs")).text
    assert "No HDFS connections yet: an administrator adds them in Admin → Connections." in page
    assert "No SQL connections yet" in page and "No S3 connections yet" not in page
    assert 'value="hdfs" disabled' in page
    response = alice_client.post(step("inputs"), {"hdfs_location": "hdfs://nn/x"})
    assert "No HDFS connections yet" in response.text and "inputs" not in answers(alice_client)


def test_the_output_step_shows_the_saved_external_answer(
    alice_client, alice_snapshot, lake, warehouse, fake_assets
):
    walk_to_output(alice_client, alice_snapshot)
    alice_client.post(
        step("output"),
        {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "s3://out/scores.jsonl"},
    )
    page = alice_client.get(step("output")).text
    assert 'name="kind" value="s3" required checked' in page
    assert f'<option value="{lake.uuid}" selected>' in page
    assert 'value="s3://out/scores.jsonl"' in page


@pytest.mark.parametrize("trouble", ["raises", "hangs"])
def test_review_says_size_unknown_when_the_size_cannot_be_learned_quickly(
    alice_client, alice_snapshot, lake, fake_assets, monkeypatch, trouble
):
    if trouble == "raises":
        monkeypatch.setattr(FakeSource, "size_bytes", OSError("connection refused"))
    else:
        monkeypatch.setattr(FakeSource, "delay", 1.0)
        monkeypatch.setattr("jobs.views._external.SIZE_TIMEOUT", 0.1)
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(
        step("inputs"),
        {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "s3://b/k.csv",
         "action": "next"},
    )  # fmt: skip
    alice_client.post(step("output"), {"kind": "embedded"})
    started = time.monotonic()
    response = alice_client.get(step("review"))
    assert response.status_code == 200 and "size unknown" in response.text
    assert time.monotonic() - started < 0.9


def test_review_says_why_a_prefix_has_no_size(alice_client, alice_snapshot, lake, fake_assets):
    from jobs.assets import AssetError

    fake_assets.size_bytes = AssetError(
        "input 's3://b/day/': more than 10,000 objects under this prefix; name a narrower one "
        "(S3_PREFIX_MAX_OBJECTS)"
    )
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(
        step("inputs"),
        {"kind": "s3", "s3_connection": lake.uuid, "s3_location": "s3://b/day/",
         "action": "next"},
    )  # fmt: skip
    alice_client.post(step("output"), {"kind": "embedded"})
    response = alice_client.get(step("review"))
    assert response.status_code == 200 and "size unknown" in response.text
    assert "more than 10,000 objects under this prefix; name a narrower one" in response.text


def test_the_runtime_step_shows_each_runtimes_health(
    alice_client, alice_snapshot, default_runtime_online
):
    Runtime.objects.create(name="gpu", queue="gpu")
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("runtime")).text
    default_choice = page[page.index("<strong>default</strong>") :][:400]
    gpu_choice = page[page.index("<strong>gpu</strong>") :][:400]
    assert 'class="badge badge-online">online' in default_choice
    assert 'class="badge badge-offline">offline' in gpu_choice
