from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.services import runtime_default
from models_registry.models import Snapshot
from tests.factories import ECHO_SOURCE


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_every_admin_list_and_add_page_opens(admin_client, alice, alice_snapshot):
    job = Job.objects.create(
        snapshot=alice_snapshot, created_by=alice, runtime=runtime_default(),
        status=JobStatus.WAITING,
    )  # fmt: skip
    for model in ("models_registry/model", "models_registry/snapshot", "models_registry/attachment",
                  "jobs/runtime", "jobs/job", "jobs/jobasset", "jobs/upload"):  # fmt: skip
        assert admin_client.get(f"/admin/{model}/").status_code == 200, model
    for name in ("models_registry_snapshot_add", "models_registry_model_add", "jobs_runtime_add"):
        assert admin_client.get(reverse(f"admin:{name}")).status_code == 200, name
    change = reverse("admin:models_registry_snapshot_change", args=[alice_snapshot.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.get(reverse("admin:jobs_job_change", args=[job.pk])).status_code == 200
    assert admin_client.get(reverse("admin:jobs_job_add")).status_code == 403


def test_admin_snapshot_add_goes_through_the_service(admin_client, staff, alice_snapshot):
    response = admin_client.post(
        reverse("admin:models_registry_snapshot_add"),
        {
            "model": alice_snapshot.model.pk,
            "source_file": SimpleUploadedFile("model.py", ECHO_SOURCE.encode()),
            "attachments": [SimpleUploadedFile("weights.bin", b"123")],
            "notes": "from the admin",
            "tags": "[]",
        },
    )
    assert response.status_code == 302
    new = alice_snapshot.model.latest_snapshot()
    assert (new.version, new.parent, new.created_by) == (2, alice_snapshot, staff)
    assert new.smart_tags["functions"] == {"init": "begin", "score": "action"}
    assert new.attachments.get().size == 3


def test_admin_snapshot_add_refuses_a_source_without_tagged_function(admin_client, alice_snapshot):
    response = admin_client.post(
        reverse("admin:models_registry_snapshot_add"),
        {
            "model": alice_snapshot.model.pk,
            "source_file": SimpleUploadedFile("model.py", b"def action(x):\n    return x\n"),
            "tags": "[]",
        },
    )
    assert response.status_code == 200
    assert "has no function tagged" in response.text
    assert Snapshot.objects.count() == 1


def test_admin_snapshot_source_is_read_only_after_creation(admin_client, alice_snapshot):
    change = reverse("admin:models_registry_snapshot_change", args=[alice_snapshot.pk])
    management = {"attachments-TOTAL_FORMS": 0, "attachments-INITIAL_FORMS": 0}
    response = admin_client.post(
        change, {"notes": "edited", "tags": "[]", "source": "x = 1", **management}
    )
    assert response.status_code == 302
    alice_snapshot.refresh_from_db()
    assert alice_snapshot.notes == "edited"
    assert alice_snapshot.source == ECHO_SOURCE
