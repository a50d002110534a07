"""Uploads are bounded while they stream in (commandcenter.lib.uploads), and uploads no job
uses are swept away after UPLOAD_UNUSED_HOURS (jobs.services.upload_sweep)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobAsset, Upload
from jobs.services import upload_create, upload_sweep
from tests.api.conftest import token_client
from tests.jobs.test_wizard import answers, step, walk_to_inputs

LIMIT = 1000


@pytest.fixture(autouse=True)
def small_limits(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_MAX_BYTES = LIMIT
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "upload-tmp"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload streams into a temporary file
    return settings


def _leftovers(settings) -> list[str]:
    return os.listdir(settings.FILE_UPLOAD_TEMP_DIR)


def test_a_wizard_upload_over_the_limit_is_refused_while_it_streams(
    alice_client, alice_snapshot, small_limits
):
    walk_to_inputs(alice_client, alice_snapshot)
    big = SimpleUploadedFile("big.csv", b"x\n" + b"1\n" * LIMIT)
    response = alice_client.post(step("inputs"), {"file": big, "action": "add"})
    assert response.status_code == 200
    assert "big.csv is larger than 1000 bytes (1,000 bytes), the largest file allowed here " in (
        response.text
    )
    assert "(UPLOAD_MAX_BYTES); it was not stored." in response.text
    assert not Upload.objects.exists() and "inputs" not in answers(alice_client)
    assert _leftovers(small_limits) == []


def test_a_wizard_upload_within_the_limit_is_stored(alice_client, alice_snapshot, small_limits):
    walk_to_inputs(alice_client, alice_snapshot)
    small = SimpleUploadedFile("small.csv", b"x\n1\n")
    response = alice_client.post(step("inputs"), {"file": small, "action": "add"})
    assert response.status_code == 200 and Upload.objects.get().size == 4
    assert _leftovers(small_limits) == []


def test_the_api_refuses_an_upload_over_the_limit_with_a_400(alice, small_limits):
    big = SimpleUploadedFile("big.jsonl", b"{}\n" * LIMIT)
    response = token_client(alice).post(reverse("api-upload-create"), {"file": big})
    assert response.status_code == 400
    (message,) = response.json()["file"]
    assert message.startswith("big.jsonl is larger than 1000 bytes") and "UPLOAD_MAX_BYTES" in (
        message
    )
    assert not Upload.objects.exists() and _leftovers(small_limits) == []


def test_a_request_whose_content_length_is_over_the_limit_is_refused_unread(alice, small_limits):
    small_limits.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # the request may carry 1,100 bytes
    big = SimpleUploadedFile("big.jsonl", b"{}\n" * LIMIT)
    response = token_client(alice).post(reverse("api-upload-create"), {"file": big})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The upload is larger than 1.1 KB (1,100 bytes), the most one request "
        "may carry here; nothing was stored."
    }
    assert not Upload.objects.exists() and _leftovers(small_limits) == []


# --- Unused uploads ----------------------------------------------------------------------------


def _upload(owner, *, hours_old: float, name: str = "in.csv") -> Upload:
    upload = upload_create(owner=owner, content=ContentFile(b"x\n1\n", name=name))
    Upload.objects.filter(pk=upload.pk).update(
        created_at=timezone.now() - timedelta(hours=hours_old)
    )
    return upload


def test_an_upload_no_job_uses_is_deleted_with_its_file_after_the_hours(alice, small_limits):
    small_limits.UPLOAD_UNUSED_HOURS = 24
    old, recent = _upload(alice, hours_old=25), _upload(alice, hours_old=23)
    swept = upload_sweep()
    assert swept["uploads"] == 1 and swept["files"] == 1
    assert list(Upload.objects.all()) == [recent]
    assert not old.file.storage.exists(old.file.name)
    assert recent.file.storage.exists(recent.file.name)


def test_an_upload_a_job_uses_is_kept(alice, alice_snapshot, small_limits):
    upload = _upload(alice, hours_old=100)
    job = Job.objects.create(snapshot=alice_snapshot, created_by=alice)
    JobAsset.objects.create(
        job=job, direction="in", kind="upload", name=upload.name, file=upload.file.name
    )
    assert upload_sweep()["uploads"] == 0
    assert Upload.objects.filter(pk=upload.pk).exists()
    assert upload.file.storage.exists(upload.file.name)


def test_a_file_another_upload_still_names_is_kept(alice, bob, small_limits):
    old = _upload(alice, hours_old=100)
    Upload.objects.create(owner=bob, name=old.name, file=old.file.name, size=old.size)
    assert upload_sweep() == {"uploads": 1, "files": 0, "temporary": 0}
    assert old.file.storage.exists(old.file.name)


def test_temporary_files_left_by_interrupted_uploads_are_swept(db, small_limits):
    stale = small_limits.FILE_UPLOAD_TEMP_DIR / "stale.upload"
    live = small_limits.FILE_UPLOAD_TEMP_DIR / "live.upload"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    long_ago = time.time() - 25 * 3600
    os.utime(stale, (long_ago, long_ago))
    assert upload_sweep()["temporary"] == 1
    assert _leftovers(small_limits) == ["live.upload"]


def test_the_upload_sweep_command_says_what_it_deleted(alice, small_limits, capsys):
    _upload(alice, hours_old=48)
    call_command("upload_sweep")
    assert "Deleted 1 upload(s) unused for 24 h (1 stored file(s))" in capsys.readouterr().out


def test_a_view_that_declares_no_limits_answers_400_to_a_file_over_the_default(
    client, staff, alice_snapshot, small_limits
):
    """The admin's forms would not look for refusals, so there the whole request is refused."""
    small_limits.ATTACHMENT_MAX_BYTES = LIMIT
    client.force_login(staff)
    big = SimpleUploadedFile("weights.bin", b"\x00" * (LIMIT + 1))
    response = client.post(
        reverse("admin:models_registry_snapshot_add"),
        {"model": alice_snapshot.model.pk, "attachments": [big]},
    )
    assert response.status_code == 400
    assert alice_snapshot.model.snapshots.count() == 1 and _leftovers(small_limits) == []
