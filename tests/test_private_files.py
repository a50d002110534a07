"""What the server writes is readable by the server's user only: files without group or other
bits, DATA_DIR and its folders 0700 (settings set a umask of 0o077 for every process)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from jobs.models import JobAsset, JobStatus, Upload
from jobs.services import InputSpec, job_submit
from jobs.worker.supervisor import job_execute
from models_registry.services import model_create
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db(transaction=True)

OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO

# The model reports what its own files look like: they are written inside the work dir.
MODE_PROBE = """\
import os, stat

# modelop.score
def action(datum):
    with open("scratch.txt", "w") as f:
        f.write("the model's own file")
    yield {
        "file": stat.S_IMODE(os.stat("scratch.txt").st_mode),
        "workdir": stat.S_IMODE(os.stat(".").st_mode),
        "umask": os.umask(0o077),
    }
"""


def open_paths(top: Path) -> list[str]:
    """Every file or folder under TOP (TOP too) that its group or others may use."""
    found = []
    for folder, dirs, files in os.walk(top):
        for path in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            if os.lstat(path).st_mode & OPEN_BITS and not os.path.islink(path):
                found.append(f"{path} {stat.filemode(os.lstat(path).st_mode)}")
    return found


@pytest.fixture
def in_data_dir(in_process_executor, settings):
    """Uploads, outputs and work dirs in DATA_DIR, as on the embedded default (the executor
    fixture keeps them in tmp_path), in folders of this test's own."""
    run = settings.DATA_DIR / "media" / f"private-files-test-{uuid.uuid4().hex[:8]}"
    settings.MEDIA_ROOT, settings.JOB_WORK_DIR = run / "media", run / "work"
    yield run
    subprocess.run(["rm", "-rf", str(run)], check=False)


def test_an_upload_and_a_job_leave_nothing_others_can_read(in_data_dir, alice, team_alpha):
    answer = token_client(alice).post(
        "/api/uploads/",
        {"file": SimpleUploadedFile("records.jsonl", b'{"x": 1}\n{"x": 2}\n')},
        format="multipart",
    )
    assert answer.status_code == 201, answer.content
    upload = Upload.objects.get()
    model = model_create(
        owner=alice, team=team_alpha, name="modes", source_name="model.py", source=MODE_PROBE
    )
    job = job_submit(
        user=alice, snapshot=model.latest_snapshot(),
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-2000:]
    with job.output_asset().file.open("rb") as f:
        reported = [orjson.loads(line) for line in f]
    assert reported[0] == {"file": 0o600, "workdir": reported[0]["workdir"], "umask": 0o077}
    assert reported[0]["workdir"] & OPEN_BITS == 0, oct(reported[0]["workdir"])
    assert Path(upload.file.path).is_relative_to(in_data_dir)
    assert open_paths(in_data_dir) == []


def test_data_dir_its_folders_and_its_secrets_are_the_owners_only():
    data = settings.DATA_DIR
    folders = [data, data / "static", data / "media", data / "work", data / "tmp"]
    if not settings.BROKER_URL:
        folders += [data / "broker", *(data / "broker").iterdir()]
    files = [data / "secret_key", data / "field_encryption_key"]
    if connection.vendor == "sqlite":
        files.append(Path(connection.settings_dict["NAME"]))  # the test database

    for path in folders + files:
        assert stat.S_IMODE(path.stat().st_mode) & OPEN_BITS == 0, path
    for path in folders:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_a_data_dir_an_older_version_left_open_is_closed_at_start(tmp_path):
    data = tmp_path / "data"
    (data / "media").mkdir(parents=True)
    for path in (data, data / "media"):
        path.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, capture_output=True,
        text=True, timeout=120, env={**os.environ, "DATA_DIR": str(data)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    made = [data, data / "media", data / "static"]
    for path in made + ([] if os.environ.get("BROKER_URL") else [data / "broker"]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for key in ("secret_key", "field_encryption_key"):
        assert stat.S_IMODE((data / key).stat().st_mode) == 0o600
