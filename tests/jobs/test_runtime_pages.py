"""The Runtimes pages (every logged-in user), the job page's placement reason, and where staff
and model owners set tags: the Runtime admin, the read-only Worker admin, snapshot forms."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobAsset, JobStatus, Runtime, Worker
from jobs.services import InputSpec, job_submit
from models_registry.models import Snapshot
from models_registry.services import snapshot_create
from tests.factories import ECHO_SOURCE

LIST = reverse("runtimes-list")


@pytest.fixture(autouse=True)
def no_workers(db):
    Worker.objects.all().delete()


@pytest.fixture
def gpu(db):
    runtime = Runtime.objects.create(
        name="gpu-1", queue="gpu-1", tags=["PROD", "gpu"], time_limit_seconds=3600,
        memory_limit_mb=2048, max_attempts=2,
    )  # fmt: skip
    now = timezone.now()
    Worker.objects.create(
        name="gpu-1@box-a", runtime=runtime, queue="gpu-1", host="box-a", pid=4242,
        concurrency=4, versions={"python": "3.11.9", "pandas": "2.2.3"}, last_seen_at=now,
    )  # fmt: skip
    Worker.objects.create(
        name="gpu-1@box-b", runtime=runtime, queue="gpu-1", host="box-b", pid=77,
        last_seen_at=now - timedelta(hours=1),
    )  # fmt: skip
    return runtime


@pytest.fixture
def alice_job(alice, alice_snapshot, gpu):
    return Job.objects.create(
        snapshot=alice_snapshot, runtime=gpu, created_by=alice, status=JobStatus.RUNNING,
        worker="gpu-1@box-a",
    )  # fmt: skip


def test_runtime_pages_need_a_login(client, gpu):
    for url in (LIST, reverse("runtimes-detail", args=[gpu.uuid])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_list_shows_health_tags_limits_workers_and_current_jobs(alice_client, alice_job):
    page = alice_client.get(LIST).text
    for expected in (
        "gpu-1", 'badge-online">online', "PROD", "gpu", "job time: 1h 00m", "2,048 MB", "attempts: 2",
        "1 running on 4 online slots", "box-a", "4242", "pandas 2.2.3", "python 3.11.9",
        'badge-offline">offline', alice_job.get_absolute_url(), 'hx-trigger="every 5s"',
    ):  # fmt: skip
        assert expected in page, expected
    assert "Edit tags and limits" not in page  # alice is not staff


def test_the_default_runtime_without_workers_is_offline(alice_client, db):
    page = alice_client.get(LIST).text
    assert "default" in page and 'badge-offline">offline' in page
    assert "manage.py runworker --runtime default" in page


def test_an_outsider_sees_runtimes_but_not_other_teams_jobs(charlie_client, alice_job):
    page = charlie_client.get(LIST).text
    assert "gpu-1" in page and "1 running" in page
    assert alice_job.get_absolute_url() not in page


def test_staff_get_a_link_to_edit_a_runtime(client, staff, gpu):
    client.force_login(staff)
    page = client.get(LIST).text
    assert reverse("admin:jobs_runtime_change", args=[gpu.pk]) in page


def test_htmx_polling_gets_only_the_runtimes_region(alice_client, gpu):
    response = alice_client.get(LIST, headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<div id="runtimes"')
    assert "<html" not in response.text


def test_the_detail_page_shows_one_runtime_and_its_recent_jobs(alice_client, alice_job, gpu):
    page = alice_client.get(reverse("runtimes-detail", args=[gpu.uuid])).text
    assert "Runtime gpu-1" in page and "box-b" in page and alice_job.get_absolute_url() in page
    assert alice_client.get(reverse("runtimes-detail", args=[alice_job.uuid])).status_code == 404


def test_a_job_no_runtime_takes_shows_why_it_waits(alice_client, alice, alice_snapshot):
    Snapshot.objects.filter(pk=alice_snapshot.pk).update(runtime_tags=["PROD", "gpu"])
    alice_snapshot.refresh_from_db()
    job = job_submit(
        user=alice, snapshot=alice_snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"x": 1}\n')],
    )  # fmt: skip
    page = alice_client.get(job.get_absolute_url()).text
    assert "Waiting for a runtime:</strong> no online runtime with tags PROD, gpu." in page
    runtimes = alice_client.get(LIST).text
    assert (
        "Waiting for a runtime" in runtimes and "no online runtime with tags PROD, gpu" in runtimes
    )


# --- Admin ----------------------------------------------------------------------------------


def _runtime_form(runtime: Runtime, **changes) -> dict:
    data = {
        "name": runtime.name, "queue": runtime.queue, "description": "", "tags": "",
        "time_limit_seconds": "", "memory_limit_mb": "", "max_attempts": runtime.max_attempts,
    }  # fmt: skip
    return data | changes


def test_staff_set_runtime_tags_and_limits_in_the_admin(client, staff, gpu):
    client.force_login(staff)
    url = reverse("admin:jobs_runtime_change", args=[gpu.pk])
    assert 'value="PROD, gpu"' in client.get(url).text
    response = client.post(
        url,
        _runtime_form(gpu, tags="UAT, gpu, GPU, ", time_limit_seconds="600", max_attempts="5"),
    )
    assert response.status_code == 302
    gpu.refresh_from_db()
    assert (gpu.tags, gpu.time_limit_seconds, gpu.memory_limit_mb, gpu.max_attempts) == (
        ["UAT", "gpu"], 600, None, 5,
    )  # fmt: skip


def test_a_tag_with_a_space_is_refused_with_a_reason(client, staff, gpu):
    client.force_login(staff)
    url = reverse("admin:jobs_runtime_change", args=[gpu.pk])
    response = client.post(url, _runtime_form(gpu, tags="PROD, big gpu"))
    assert response.status_code == 200 and "is not a tag" in response.text
    gpu.refresh_from_db()
    assert gpu.tags == ["PROD", "gpu"]


def test_workers_are_read_only_in_the_admin(client, staff, gpu):
    client.force_login(staff)
    worker = Worker.objects.get(name="gpu-1@box-a")
    assert client.get(reverse("admin:jobs_worker_changelist")).status_code == 200
    assert client.get(reverse("admin:jobs_worker_add")).status_code == 403
    url = reverse("admin:jobs_worker_change", args=[worker.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"host": "elsewhere"})
    worker.refresh_from_db()
    assert worker.host == "box-a"


# --- Snapshot runtime tags ----------------------------------------------------------------------


def test_registering_a_model_may_ask_for_runtime_tags(alice_client, team_alpha, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    source = SimpleUploadedFile("model.py", ECHO_SOURCE.encode(), content_type="text/x-python")
    data = {"name": "churn", "team": team_alpha.pk, "source": source, "runtime_tags": "PROD,gpu"}
    response = alice_client.post(reverse("registry-model-create"), data)
    assert response.status_code == 302
    assert Snapshot.objects.get().runtime_tags == ["PROD", "gpu"]


def test_a_new_snapshot_keeps_its_parents_runtime_tags_unless_told(alice, alice_snapshot):
    Snapshot.objects.filter(pk=alice_snapshot.pk).update(runtime_tags=["PROD"])
    alice_snapshot.refresh_from_db()
    common = {"model": alice_snapshot.model, "created_by": alice, "source_name": "m.py"}
    v2 = snapshot_create(**common, source=ECHO_SOURCE, parent=alice_snapshot)
    v3 = snapshot_create(**common, source=ECHO_SOURCE, parent=v2, runtime_tags=["DEV", " "])
    assert (v2.runtime_tags, v3.runtime_tags) == (["PROD"], ["DEV"])


def test_staff_change_a_snapshots_runtime_tags_in_the_admin(client, staff, alice_snapshot):
    client.force_login(staff)
    url = reverse("admin:models_registry_snapshot_change", args=[alice_snapshot.pk])
    form = {"notes": "", "tags": "[]", "runtime_tags": "PROD, gpu"}
    form |= {"attachments-TOTAL_FORMS": "0", "attachments-INITIAL_FORMS": "0"}
    response = client.post(url, form)
    assert response.status_code == 302, response.text[-2000:]
    alice_snapshot.refresh_from_db()
    assert alice_snapshot.runtime_tags == ["PROD", "gpu"]


def test_the_list_shows_each_workers_sandbox_and_warns_where_it_is_off(alice_client, gpu):
    Worker.objects.filter(name="gpu-1@box-a").update(
        sandbox={"mode": "auto", "on": True, "abi": 7, "note": "Landlock ABI 7"}
    )
    Worker.objects.filter(name="gpu-1@box-b").update(
        sandbox={
            "mode": "auto",
            "on": False,
            "abi": 0,
            "note": "this kernel (4.19) has no Landlock",
        }
    )
    page = alice_client.get(LIST).text
    assert 'badge-sandbox-on" title="Landlock ABI 7">sandbox on' in page
    assert "ABI 7" in page
    assert 'badge-sandbox-off" title="this kernel (4.19) has no Landlock">sandbox: off' in page
    assert "Model network</dt><dd>off" in page


def test_staff_allow_a_runtime_network_to_listed_ports_only(client, staff, gpu):
    client.force_login(staff)
    url = reverse("admin:jobs_runtime_change", args=[gpu.pk])
    form = _runtime_form(gpu, tags="PROD, gpu", max_attempts="2")
    response = client.post(url, {**form, "allow_network": "on", "network_ports": "443, 5432"})
    assert response.status_code == 302
    gpu.refresh_from_db()
    assert (gpu.allow_network, gpu.network_port_list(), gpu.network_text) == (
        True, [443, 5432], "ports 443, 5432",
    )  # fmt: skip
    bad = client.post(url, {**form, "allow_network": "on", "network_ports": "443, http"})
    assert "Ports are whole numbers" in bad.text
    unticked = client.post(url, {**form, "network_ports": "443"})
    assert "tick allow network too" in unticked.text


def test_the_job_page_says_what_its_model_ran_under(alice_client, alice_job):
    alice_job.sandbox = {"on": True, "abi": 7, "user": "nobody", "network": "off"}
    alice_job.save()
    page = alice_client.get(alice_job.get_absolute_url()).text
    assert "sandbox on" in page and "Landlock ABI 7, user nobody, network off" in page
    alice_job.sandbox = {"on": False, "note": "switched off (MODEL_SANDBOX=off)"}
    alice_job.save()
    page = alice_client.get(alice_job.get_absolute_url()).text
    assert "badge-sandbox-off" in page and "switched off (MODEL_SANDBOX=off)" in page


def test_a_worker_that_lived_through_a_database_outage_says_so(alice_client, gpu):
    Worker.objects.filter(name="gpu-1@box-a").update(
        health={
            "database_outage": {
                "since": "2026-12-02T00:28:04+00:00",
                "until": "2026-12-02T00:28:16+00:00",
                "seconds": 12,
            }
        }
    )
    page = alice_client.get(LIST).text
    assert "database unreachable for 12 s, until 00:28:16 UTC" in page


def test_staff_set_a_spark_runtime_whose_secret_configuration_is_write_only(client, staff, gpu):
    client.force_login(staff)
    url = reverse("admin:jobs_runtime_change", args=[gpu.pk])
    secret = '{"spark.hadoop.fs.s3a.secret.key": "very-secret-42"}'
    form = _runtime_form(
        gpu, kind="spark", spark_master="local[2]",
        spark_conf='{"spark.executor.memory": "2g"}', spark_secret_conf=secret,
    )  # fmt: skip
    assert client.post(url, form).status_code == 302
    gpu.refresh_from_db()
    assert (gpu.kind, gpu.spark_master, gpu.spark_conf) == (
        "spark", "local[2]", {"spark.executor.memory": "2g"},
    )  # fmt: skip
    assert json.loads(gpu.spark_secret_conf) == {"spark.hadoop.fs.s3a.secret.key": "very-secret-42"}
    page = client.get(url).text
    assert "very-secret-42" not in page and "set — leave blank to keep" in page
    # Blank keeps it; the Runtimes page shows the engine, never the secret.
    form["spark_secret_conf"] = ""
    assert client.post(url, form).status_code == 302
    gpu.refresh_from_db()
    assert "very-secret-42" in gpu.spark_secret_conf
    runtimes = client.get(reverse("runtimes-list")).text
    assert "local[2]" in runtimes and "very-secret-42" not in runtimes


def test_a_spark_secret_configuration_that_is_not_json_is_refused_without_echoing_it(
    client, staff, gpu
):
    client.force_login(staff)
    url = reverse("admin:jobs_runtime_change", args=[gpu.pk])
    form = _runtime_form(gpu, kind="spark", spark_master="local[2]", spark_secret_conf="oops-42")
    response = client.post(url, form)
    assert response.status_code == 200 and "Enter a JSON object" in response.text
    assert "oops-42" not in response.text
