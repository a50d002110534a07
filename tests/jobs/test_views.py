from __future__ import annotations

import html
import io
import json
import re
import sys
import types
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from jobs.models import Connection, Job, JobAsset, JobStatus, JobType
from jobs.services import runtime_default
from tests.factories import GroupFactory, ModelFactory, SnapshotFactory

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def make_job(snapshot, user, *, status=JobStatus.WAITING, output=b"", fmt="jsonl", **fields):
    """A job as job_submit leaves it (one embedded input, one output), in STATUS; OUTPUT, when
    given, is stored as the committed output file."""
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, status=status, runtime=runtime_default(), **fields
    )
    JobAsset.objects.create(
        job=job, direction="in", kind="embedded", name="embedded.jsonl",
        data='{"x": 1}\n{"x": 2}\n', size=18,
    )  # fmt: skip
    out = JobAsset(job=job, direction="out", kind="embedded", name=f"output.{fmt}", format=fmt)
    if output:
        out.file.save(f"output.{fmt}", ContentFile(output), save=False)
    out.save()
    return job


@pytest.fixture
def job(alice_snapshot, alice):
    return make_job(alice_snapshot, alice)


def _jsonl(n: int) -> bytes:
    return b"".join(json.dumps({"x": i, "doubled": 2 * i}).encode() + b"\n" for i in range(n))


def _job_urls(job) -> dict[str, str]:
    (asset,) = job.input_assets()
    return {
        "detail": reverse("jobs-detail", args=[job.uuid]),
        "status": reverse("jobs-status", args=[job.uuid]),
        "output": reverse("jobs-output-download", args=[job.uuid]),
        "input": reverse("jobs-asset-download", args=[job.uuid, asset.uuid]),
    }


# --- Access ----------------------------------------------------------------------------------


def test_every_job_page_requires_login(client, job):
    urls = [reverse("jobs-list"), reverse("jobs-wizard-start"), *_job_urls(job).values()]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    response = client.post(reverse("jobs-cancel", args=[job.uuid]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_outsider_gets_404_on_every_job_url(charlie_client, alice_snapshot, alice):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=_jsonl(2))
    for url in _job_urls(job).values():
        assert charlie_client.get(url).status_code == 404, url
    assert charlie_client.post(reverse("jobs-cancel", args=[job.uuid])).status_code == 404


def test_outsider_cannot_cancel_a_waiting_job(charlie_client, job):
    charlie_client.post(reverse("jobs-cancel", args=[job.uuid]))
    job.refresh_from_db()
    assert job.status == JobStatus.WAITING


def test_teammate_sees_the_job_and_its_files(client, bob, alice_snapshot, alice):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=_jsonl(2))
    client.force_login(bob)
    for name, url in _job_urls(job).items():
        assert client.get(url).status_code in (200, 286), name


def test_staff_sees_every_teams_jobs(client, staff, job):
    client.force_login(staff)
    assert str(job.uuid)[:8] in client.get(reverse("jobs-list")).text
    assert client.get(reverse("jobs-detail", args=[job.uuid])).status_code == 200


def test_jobs_list_hides_other_teams_jobs(alice_client, alice, job):
    other = SnapshotFactory(model=ModelFactory(team=GroupFactory(name="gamma")))
    hidden = make_job(other, other.created_by)
    page = alice_client.get(reverse("jobs-list")).text
    assert str(job.uuid)[:8] in page
    assert str(hidden.uuid)[:8] not in page


def test_bad_uuid_in_a_job_url_is_404(alice_client):
    assert alice_client.get("/jobs/not-a-uuid/").status_code == 404


# --- Jobs list -------------------------------------------------------------------------------


def test_home_page_is_the_jobs_list(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("jobs-list")


def test_jobs_list_is_newest_first_with_badges_and_progress(alice_client, alice, alice_snapshot):
    older = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    newer = make_job(
        alice_snapshot, alice, status=JobStatus.RUNNING, bytes_total=100, bytes_read=40,
        records_read=1234, started_at=timezone.now() - timedelta(seconds=5),
    )  # fmt: skip
    page = alice_client.get(reverse("jobs-list")).text
    assert page.index(str(newer.uuid)[:8]) < page.index(str(older.uuid)[:8])
    assert '<span class="badge badge-running">Running</span>' in page
    assert '<span class="badge badge-complete">Complete</span>' in page
    assert '<progress max="100" value="40"' in page and "1,234 read" in page


def test_jobs_list_filters_by_status_type_and_model(alice_client, alice, alice_snapshot):
    other_model = SnapshotFactory(model=ModelFactory(team=alice_snapshot.model.team, owner=alice))
    waiting = make_job(alice_snapshot, alice)
    failed = make_job(alice_snapshot, alice, status=JobStatus.ERROR)
    metrics = make_job(alice_snapshot, alice, job_type=JobType.METRICS)
    elsewhere = make_job(other_model, alice)

    def listed(**params):
        page = alice_client.get(reverse("jobs-list"), params).text
        return {j for j in (waiting, failed, metrics, elsewhere) if str(j.uuid)[:8] in page}

    assert listed(status="ERROR") == {failed}
    assert listed(job_type="metrics") == {metrics}
    assert listed(model=str(other_model.model.uuid)) == {elsewhere}
    assert listed(status="WAITING", job_type="scoring", model=str(alice_snapshot.model.uuid)) == {
        waiting
    }


def test_jobs_list_shows_bad_filter_values_as_form_errors(alice_client, job):
    response = alice_client.get(reverse("jobs-list"), {"status": "BOGUS", "model": "nope"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.text


def _link(page: str, rel: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*rel="{rel}"', page)
    return html.unescape(match[1]) if match else ""


def test_jobs_list_pages_by_25(alice_client, alice, alice_snapshot):
    jobs = [make_job(alice_snapshot, alice) for _ in range(30)]
    first = alice_client.get(reverse("jobs-list")).text
    assert sum(str(j.uuid)[:8] in first for j in jobs) == 25
    assert "30 jobs" in first and not _link(first, "prev")
    second = alice_client.get(reverse("jobs-list") + _link(first, "next")).text
    assert sum(str(j.uuid)[:8] in second for j in jobs) == 5
    assert not _link(second, "next")
    back = alice_client.get(reverse("jobs-list") + _link(second, "prev")).text
    assert [j for j in jobs if str(j.uuid)[:8] in back] == [
        j for j in jobs if str(j.uuid)[:8] in first
    ]
    # A cursor or page number that is not ours falls back to the first page, not an error.
    for bad in ({"after": "garbage"}, {"before": "W10"}, {"page": "x", "sort": "duration"}):
        assert alice_client.get(reverse("jobs-list"), bad).status_code == 200


def test_jobs_list_keeps_filters_in_page_links(alice_client, alice, alice_snapshot):
    for _ in range(26):
        make_job(alice_snapshot, alice)
    page = alice_client.get(reverse("jobs-list"), {"status": "WAITING"}).text
    assert _link(page, "next").startswith("?status=WAITING&after=")


def test_htmx_jobs_list_request_returns_only_the_results(alice_client, job):
    response = alice_client.get(reverse("jobs-list"), headers=HTMX)
    assert response.text.lstrip().startswith('<div id="results">')
    assert "<html" not in response.text and str(job.uuid)[:8] in response.text
    assert "HX-Request" in response["Vary"]


# --- Job page ------------------------------------------------------------------------------------


def test_job_page_shows_progress_rate_and_eta_while_running(alice_client, alice, alice_snapshot):
    job = make_job(
        alice_snapshot, alice, status=JobStatus.RUNNING, bytes_total=1000, bytes_read=250,
        records_read=5000, records_written=4990, records_rejected=10,
        started_at=timezone.now() - timedelta(seconds=10),
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert '<progress max="100" value="25.0"' in page
    assert "5,000" in page and "4,990" in page
    assert "/s" in page  # records per second
    # ETA: 10 s for 25 % → 30 s to go (a little more when the page is slow to answer)
    assert re.search(r"\b3[0-5]s\b", page)
    assert f'hx-get="{reverse("jobs-status", args=[job.uuid])}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "Cancel job" in page


def test_job_page_shows_the_error_of_a_failed_job(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.ERROR, error_message="KeyError: 'x'")
    page = alice_client.get(job.get_absolute_url()).text
    assert "The job failed." in page and "KeyError: &#x27;x&#x27;" in page
    assert "every 1s" not in page and "http-equiv" not in page and "Cancel job" not in page


def test_job_page_shows_the_log_tail(alice_client, alice, alice_snapshot):
    log = "\n".join(f"line {i}" for i in range(500))
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, log=log)
    page = alice_client.get(job.get_absolute_url()).text
    assert "line 499" in page and "line 300" in page
    assert "line 299\n" not in page  # only the last 200 lines


def test_status_view_polls_while_the_job_runs(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING)
    response = alice_client.get(reverse("jobs-status", args=[job.uuid]), headers=HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="job-live"')
    assert 'hx-trigger="every 1s"' in response.text


def test_status_view_stops_polling_with_286_when_the_job_has_ended(alice_client, job):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETE)
    response = alice_client.get(reverse("jobs-status", args=[job.uuid]), headers=HTMX)
    assert response.status_code == 286
    assert '<span class="badge badge-complete">Complete</span>' in response.text
    assert "every 1s" not in response.text


def test_cancel_moves_a_waiting_job_to_cancelled(alice_client, alice, job):
    response = alice_client.post(reverse("jobs-cancel", args=[job.uuid]))
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancelled_by == alice
    assert "Job cancelled." in alice_client.get(job.get_absolute_url()).text


def test_cancel_over_htmx_answers_the_final_live_region(alice_client, job):
    response = alice_client.post(reverse("jobs-cancel", args=[job.uuid]), headers=HTMX)
    assert response.status_code == 200
    assert '<span class="badge badge-cancelled">Cancelled</span>' in response.text
    assert "<html" not in response.text and "every 1s" not in response.text


def test_cancel_of_an_ended_job_changes_nothing(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE)
    alice_client.post(reverse("jobs-cancel", args=[job.uuid]))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE


def test_cancel_only_accepts_post(alice_client, job):
    assert alice_client.get(reverse("jobs-cancel", args=[job.uuid])).status_code == 405


# --- Output ----------------------------------------------------------------------------------


def test_complete_job_previews_the_first_20_output_records(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=_jsonl(50))
    page = alice_client.get(job.get_absolute_url()).text
    assert "First 20 records" in page
    assert "<th>x</th><th>doubled</th>" in page
    assert "<td>19</td><td>38</td>" in page and "<td>20</td><td>40</td>" not in page


def test_csv_output_preview(alice_client, alice, alice_snapshot):
    csv = b"id,score\n" + b"".join(f"{i},{i / 10}\n".encode() for i in range(30))
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=csv, fmt="csv")
    page = alice_client.get(job.get_absolute_url()).text
    assert "<th>id</th><th>score</th>" in page and "<td>19</td><td>1.9</td>" in page
    assert "<td>20</td>" not in page


def test_parquet_output_preview(alice_client, alice, alice_snapshot):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(100)), "label": ["a"] * 100}), buffer)
    job = make_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE, output=buffer.getvalue(), fmt="parquet"
    )
    page = alice_client.get(job.get_absolute_url()).text
    assert "<th>id</th><th>label</th>" in page and "<td>19</td><td>a</td>" in page
    assert "<td>20</td>" not in page


def test_unreadable_output_shows_a_message_not_an_error(alice_client, alice, alice_snapshot):
    job = make_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE, output=b"not parquet", fmt="parquet"
    )
    response = alice_client.get(job.get_absolute_url())
    assert response.status_code == 200
    assert "The output could not be previewed" in response.text


def test_output_download_streams_the_file(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=_jsonl(3))
    response = alice_client.get(reverse("jobs-output-download", args=[job.uuid]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == _jsonl(3)
    assert 'filename="output.jsonl"' in response["Content-Disposition"]


def test_output_download_is_404_before_the_job_has_output(alice_client, job):
    assert alice_client.get(reverse("jobs-output-download", args=[job.uuid])).status_code == 404


def test_embedded_input_downloads_as_given(alice_client, job):
    (asset,) = job.input_assets()
    response = alice_client.get(reverse("jobs-asset-download", args=[job.uuid, asset.uuid]))
    assert response.content == b'{"x": 1}\n{"x": 2}\n'


def test_rejects_file_is_linked_and_downloadable(alice_client, alice, alice_snapshot):
    job = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, output=_jsonl(1))
    (asset,) = job.input_assets()
    asset.rejects_file.save("rejects.jsonl", ContentFile(b'{"reason": "bad"}\n'))
    url = reverse("jobs-rejects-download", args=[job.uuid, asset.uuid])
    assert url in alice_client.get(job.get_absolute_url()).text
    response = alice_client.get(url)
    assert b"".join(response.streaming_content) == b'{"reason": "bad"}\n'
    output = job.output_asset()
    no_rejects = reverse("jobs-rejects-download", args=[job.uuid, output.uuid])
    assert alice_client.get(no_rejects).status_code == 404


# --- External assets (S3, HDFS, SQL) -------------------------------------------------------------


@pytest.fixture
def lake(db):
    return Connection.objects.create(name="lake", kind="s3", secret_access_key="s-81xq")


@pytest.fixture
def warehouse(db):
    return Connection.objects.create(name="warehouse", kind="sql", dsn="postgresql://u:pw9x@h/d")


def external_job(snapshot, user, *, status, inputs, output) -> Job:
    """A job whose assets are given as JobAsset field dicts, created directly."""
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, status=status, runtime=runtime_default()
    )
    for position, fields in enumerate(inputs):
        JobAsset.objects.create(job=job, direction="in", position=position, **fields)
    JobAsset.objects.create(job=job, direction="out", **output)
    return job


@pytest.fixture
def fake_s3_module(monkeypatch):
    """jobs.assets.s3 as the job page sees it: only presigned_url, which the test sets."""
    module = types.ModuleType("jobs.assets.s3")
    monkeypatch.setitem(sys.modules, "jobs.assets.s3", module)
    return module


def test_job_page_shows_external_inputs_and_a_sql_output(
    alice_client, alice, alice_snapshot, lake, warehouse
):
    query = "SELECT id, amount FROM payments WHERE " + " AND ".join(f"c{i} > 0" for i in range(40))
    job = external_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE,
        inputs=[
            {"kind": "s3", "connection": lake, "location": "s3://bucket/in/", "name": "s3://bucket/in/"},
            {"kind": "sql", "connection": warehouse, "query": query, "format": "parquet"},
        ],
        output={"kind": "sql", "connection": warehouse, "location": "scores", "format": "parquet",
                "write_mode": "append", "published": {"table": "scores", "rows": 1234}},
    )  # fmt: skip
    response = alice_client.get(job.get_absolute_url())
    assert response.status_code == 200
    page = response.text
    assert "s3://bucket/in/" in page and "lake" in page and "warehouse" in page
    assert "SELECT id, amount FROM payments" in page and "c39 &gt; 0</code>" not in page
    assert 'Output written to <span class="mono">scores</span> on warehouse' in page
    assert "(append)" in page and '<dt>Rows written</dt><dd class="mono">1,234</dd>' in page
    assert "First" not in page and "could not be previewed" not in page
    for asset in job.input_assets():  # external inputs have nothing to download here
        assert reverse("jobs-asset-download", args=[job.uuid, asset.uuid]) not in page
    assert "s-81xq" not in page and "pw9x" not in page


def test_complete_s3_output_links_a_presigned_download(
    alice_client, alice, alice_snapshot, lake, fake_s3_module
):
    calls = []

    def presigned_url(asset, *, expires=3600):
        calls.append((asset.location, expires))
        return "https://minio.example/out/scores.jsonl?X-Amz-Signature=abc&amp=1"

    fake_s3_module.presigned_url = presigned_url
    job = external_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE,
        inputs=[{"kind": "embedded", "data": "{}", "name": "e.jsonl"}],
        output={"kind": "s3", "connection": lake, "location": "s3://out/scores.jsonl",
                "published": {"location": "s3://out/scores.jsonl", "keys": ["scores.jsonl"],
                              "bytes": 2048}},
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert calls == [("s3://out/scores.jsonl", 3600)]
    assert "Download (link valid 1 hour)" in page
    assert 'href="https://minio.example/out/scores.jsonl?X-Amz-Signature=abc&amp;amp=1"' in page
    assert "Output written to" in page and "2.0\xa0KB" in page and "scores.jsonl" in page


def test_job_page_shows_the_location_when_presigned_url_fails(
    alice_client, alice, alice_snapshot, lake, fake_s3_module
):
    def presigned_url(asset, *, expires=3600):
        raise RuntimeError("no credentials")

    fake_s3_module.presigned_url = presigned_url
    job = external_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE,
        inputs=[{"kind": "embedded", "data": "{}", "name": "e.jsonl"}],
        output={"kind": "s3", "connection": lake, "location": "s3://out/scores.jsonl"},
    )  # fmt: skip
    for url in (job.get_absolute_url(), reverse("jobs-status", args=[job.uuid])):
        response = alice_client.get(url)
        assert response.status_code in (200, 286)
        assert "s3://out/scores.jsonl" in response.text
        assert "Download (link valid" not in response.text


def test_job_page_without_an_s3_module_shows_the_location(
    alice_client, alice, alice_snapshot, lake, monkeypatch
):
    monkeypatch.setitem(sys.modules, "jobs.assets.s3", None)  # import raises ImportError
    job = external_job(
        alice_snapshot, alice, status=JobStatus.COMPLETE,
        inputs=[{"kind": "embedded", "data": "{}", "name": "e.jsonl"}],
        output={"kind": "s3", "connection": lake, "location": "s3://out/x.jsonl"},
    )  # fmt: skip
    response = alice_client.get(job.get_absolute_url())
    assert response.status_code == 200 and "s3://out/x.jsonl" in response.text
    assert "Download (link valid" not in response.text


def test_running_job_says_where_its_external_output_will_go(
    alice_client, alice, alice_snapshot, lake, fake_s3_module
):
    fake_s3_module.presigned_url = pytest.fail  # no link before the job completes
    job = external_job(
        alice_snapshot, alice, status=JobStatus.RUNNING,
        inputs=[{"kind": "embedded", "data": "{}", "name": "e.jsonl"}],
        output={"kind": "hdfs", "connection": lake, "location": "hdfs://nn/out/scores.jsonl"},
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert 'is written to <span class="mono">hdfs://nn/out/scores.jsonl</span> when' in page
    assert "The output appears here" not in page


def test_failed_job_says_nothing_was_written(alice_client, alice, alice_snapshot, warehouse):
    job = external_job(
        alice_snapshot, alice, status=JobStatus.ERROR,
        inputs=[{"kind": "embedded", "data": "{}", "name": "e.jsonl"}],
        output={"kind": "sql", "connection": warehouse, "location": "scores"},
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert 'Nothing was written to <span class="mono">scores</span>' in page
