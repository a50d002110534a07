from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.models import Job, JobStatus
from jobs.services import runtime_default
from models_registry.models import Promotion, Snapshot
from models_registry.services import snapshot_promote
from tests.factories import ECHO_SOURCE, SnapshotFactory


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


def test_the_admin_shows_the_champion_read_only_and_the_history_cannot_be_edited(
    admin_client, alice, alice_snapshot
):
    snapshot_promote(snapshot=alice_snapshot, user=alice, source="page", reason="go")
    model_page = admin_client.get(
        reverse("admin:models_registry_model_change", args=[alice_snapshot.model.pk])
    )
    assert model_page.status_code == 200
    html = model_page.content.decode()
    assert 'name="champion"' not in html and "echo v1" in html
    assert (
        "echo v1"
        in admin_client.get(reverse("admin:models_registry_model_changelist")).content.decode()
    )
    promotion = Promotion.objects.get()
    listing = admin_client.get(reverse("admin:models_registry_promotion_changelist"))
    assert listing.status_code == 200 and "echo v1" in listing.content.decode()
    change = reverse("admin:models_registry_promotion_change", args=[promotion.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and "go" in page.content.decode()
    assert admin_client.post(change, {"reason": "edited"}).status_code == 403
    assert admin_client.get(reverse("admin:models_registry_promotion_add")).status_code == 403
    delete = reverse("admin:models_registry_promotion_delete", args=[promotion.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    promotion.refresh_from_db()
    assert promotion.reason == "go"


def test_the_snapshot_admin_action_promotes_from_the_admin(admin_client, staff, alice_model):
    v1 = SnapshotFactory(model=alice_model, version=1)
    v2 = SnapshotFactory(model=alice_model, version=2)
    url = reverse("admin:models_registry_snapshot_changelist")
    response = admin_client.post(
        url, {"action": "promote", "_selected_action": [v2.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Echo v2 is now the champion." in response.content.decode()  # capitalised by Django
    alice_model.refresh_from_db()
    assert alice_model.champion == v2
    promotion = Promotion.objects.get()
    assert (promotion.source, promotion.promoted_by) == ("admin", staff)
    again = admin_client.post(url, {"action": "promote", "_selected_action": [v2.pk]}, follow=True)
    assert "already the champion" in again.content.decode()
    assert v1.promotions.count() == 0
