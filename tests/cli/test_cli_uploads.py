"""`moc` uploads through the real console script and server: the file streams (memory stays
flat), the server hashes what it received, and a file the team already uploaded is not sent
again."""

from __future__ import annotations

import hashlib
import subprocess
import time

import psutil
import pytest
from django.core.files import File
from django.urls import reverse

from jobs.models import Job, JobAsset, Upload
from jobs.services import upload_create
from tests.cli.conftest import MOC, last_word
from tests.demo import demo_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def _create(moc, snapshot, path) -> subprocess.CompletedProcess:
    return moc("job", "create", "batchjob", str(snapshot.uuid), str(path), "out.jsonl")


def test_a_file_the_team_uploaded_is_not_sent_again(make_moc, alice, bob, team_alpha, iris_sample):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    first = _create(make_moc(alice), snapshot, iris_sample)
    assert "Uploaded iris.jsonl" in first.stderr, first.stderr
    upload = Upload.objects.get()
    assert upload.sha256 == hashlib.sha256(iris_sample.read_bytes()).hexdigest()
    assert upload.team == team_alpha

    # Bob, in the same team, submits the same bytes: nothing is sent, a new upload of his
    # names the stored file, and his job reads it.
    second = _create(make_moc(bob), snapshot, iris_sample)
    assert "on the server already (same SHA-256); not sent again" in second.stderr
    theirs = Upload.objects.exclude(pk=upload.pk).get()
    assert theirs.owner == bob and theirs.file.name == upload.file.name
    job = Job.objects.get(uuid=last_word(second))
    asset = job.assets.get(direction=JobAsset.Direction.INPUT)
    assert asset.file.name == upload.file.name and asset.name == "iris.jsonl"


def test_changed_bytes_are_sent(moc, alice, team_alpha, iris_sample):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    _create(moc, snapshot, iris_sample)
    iris_sample.write_text(iris_sample.read_text() + iris_sample.read_text().splitlines()[0] + "\n")
    again = _create(moc, snapshot, iris_sample)
    assert "Uploaded iris.jsonl" in again.stderr, again.stderr
    assert Upload.objects.count() == 2
    assert len(set(Upload.objects.values_list("sha256", flat=True))) == 2


def test_another_team_cannot_reuse_a_file_by_its_hash(
    alice_client, charlie, alice, team_alpha, iris_sample, client
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    with open(iris_sample, "rb") as f:
        made = alice_client.post(reverse("api-upload-create"), {"file": f}).json()
    assert made["sha256"] == hashlib.sha256(iris_sample.read_bytes()).hexdigest()
    client.force_login(charlie)
    answer = client.post(
        reverse("api-upload-reuse"),
        {"sha256": made["sha256"], "name": "x.jsonl"},
        content_type="application/json",
    )
    assert answer.status_code == 404 and "send the file" in answer.json()["detail"]
    assert Upload.objects.count() == 1
    assert snapshot  # alice's model, which charlie cannot see either


def test_the_server_hashes_the_bytes_not_the_clients_claim(alice_client, alice, tmp_path):
    # No upload has this digest: a claim alone gets nothing.
    claim = hashlib.sha256(b"what I say I have").hexdigest()
    answer = alice_client.post(
        reverse("api-upload-reuse"), {"sha256": claim, "name": "a.csv"},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 404
    bad = alice_client.post(
        reverse("api-upload-reuse"), {"sha256": "zz", "name": "a.csv"},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400 and "64 hexadecimal digits" in bad.text
    # A large upload (past the in-memory size, so a temporary file) is hashed as it streams.
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,x\n" + b"1,2.5\n" * 2_000_000)
    with open(big, "rb") as f:
        made = alice_client.post(reverse("api-upload-create"), {"file": f}).json()
    assert made["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()


def test_a_file_given_to_the_service_is_hashed_too(alice, team_alpha, iris_sample):
    with open(iris_sample, "rb") as f:
        upload = upload_create(owner=alice, content=File(f, name="iris.jsonl"))
    assert upload.sha256 == hashlib.sha256(iris_sample.read_bytes()).hexdigest()


def test_moc_streams_a_large_upload_in_flat_memory(make_moc, alice, team_alpha, tmp_path):
    """moc's peak memory for a 300 MB file stays within 32 MiB of its peak for a tiny one."""
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    moc = make_moc(alice)

    def peak_kib(path) -> int:
        """moc's peak resident memory, sampled every 10 ms (ru_maxrss of a forked child would
        count the test process it was forked from)."""
        proc = subprocess.Popen(
            [*MOC, "job", "create", "batchjob", str(snapshot.uuid), str(path), "out.jsonl"],
            env=moc.env, cwd=moc.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        watched, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert b"Uploaded" in err, err.decode()
        return peak // 1024

    small = tmp_path / "small.jsonl"
    small.write_text('{"x": 1}\n')
    large = tmp_path / "large.jsonl"
    with open(large, "wb") as f:
        line = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}\n'
        block = line * 16_000
        for _ in range(300_000_000 // len(block)):
            f.write(block)
    base, big = peak_kib(small), peak_kib(large)
    print(f"moc peak RSS: {base / 1024:.0f} MiB for 9 bytes, {big / 1024:.0f} MiB for 300 MB")
    assert big - base < 32 * 1024, (base, big)
    assert Upload.objects.get(name="large.jsonl").size == large.stat().st_size


@pytest.mark.worker
def test_a_job_on_a_reused_upload_runs_on_a_real_worker(
    celery_worker, make_moc, alice, bob, team_alpha, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    with open(iris_sample, "rb") as f:
        upload_create(owner=alice, content=File(f, name="iris.jsonl"))  # alice's, no job
    done = make_moc(bob)(
        "job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "out.jsonl",
        "--wait", "--no-progress",
    )  # fmt: skip
    job = Job.objects.get(uuid=done.stdout.split()[-1])
    assert done.returncode == 0, (done.stderr, job.log)
    assert "not sent again" in done.stderr
    assert job.status == "COMPLETE" and job.records_written == 150
