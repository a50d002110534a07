"""S3 connections reach only what they are given keys for: blank keys use the worker's own
credentials only where staff allowed it, and the command center's storage bucket is never
reachable through a connection (against moto's S3 server, tests/servers.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.assets import AssetError, connection_test, input_source, location_validate
from jobs.assets import s3 as s3_assets
from jobs.models import Connection, JobAsset
from tests.api.conftest import token_client

IN, OUT = JobAsset.Direction.INPUT, JobAsset.Direction.OUTPUT
NO_KEYS = "this connection has no keys; ask staff to add keys or allow the worker's own credentials"


def _asset(connection, location, *, direction=IN):
    return JobAsset(
        kind=JobAsset.Kind.S3, direction=direction, connection=connection, location=location,
        format="" if direction == IN else "jsonl",
    )  # fmt: skip


@pytest.fixture
def worker_has_credentials(s3_server, monkeypatch):
    """The worker's own credentials (boto3's chain) reach the S3 server, as an instance role
    that also backs the storage bucket would."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)


@pytest.fixture
def keyless(s3_server, db):
    return s3_server.connection(name="keyless", access_key_id="", secret_access_key="")


@pytest.fixture
def put(s3_server, s3_bucket):
    def put(key: str, body: bytes) -> None:
        s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=body)

    return put


@pytest.fixture
def storage_bucket(settings, s3_server, s3_bucket, put):
    """S3_BUCKET is the command center's storage bucket, holding another team's snapshot."""
    settings.STORAGE_S3_BUCKET = s3_bucket
    settings.STORAGE_S3_ENDPOINT_URL = s3_server.endpoint
    put("snapshots/other-team/model.py", b"# another team's model\n")
    return s3_bucket


# --- Blank keys ------------------------------------------------------------------------------


def test_a_connection_without_keys_refuses_to_read(
    keyless, s3_bucket, put, tmp_path, worker_has_credentials
):
    put("in/a.jsonl", b"{}\n")
    source = s3_assets.Source(_asset(keyless, f"s3://{s3_bucket}/in/a.jsonl"))

    with pytest.raises(AssetError, match=NO_KEYS):
        source.fetch(dest=tmp_path)
    with pytest.raises(AssetError, match=NO_KEYS):
        source.size()
    assert not list(tmp_path.iterdir())


def test_a_connection_without_keys_refuses_to_write(
    s3_server, keyless, s3_bucket, tmp_path, worker_has_credentials
):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"{}\n")
    target = s3_assets.Target(_asset(keyless, f"s3://{s3_bucket}/out.jsonl", direction=OUT))

    with pytest.raises(AssetError, match=NO_KEYS):
        target.publish(staged=staged)
    assert "Contents" not in s3_server.client().list_objects_v2(Bucket=s3_bucket)


@pytest.mark.parametrize("direction", [IN, OUT])
def test_a_job_on_a_connection_without_keys_is_refused_at_submit(keyless, direction):
    keyless.save()

    with pytest.raises(ValidationError, match=NO_KEYS):
        location_validate(
            kind="s3", connection=keyless, location="s3://bucket/x.jsonl", query="",
            direction=direction,
        )  # fmt: skip


def test_the_connection_test_of_a_connection_without_keys_says_why(keyless):
    with pytest.raises(AssetError, match=NO_KEYS):
        connection_test(keyless)


def test_half_a_key_pair_is_refused(s3_server, db):
    half = s3_server.connection(secret_access_key="", use_worker_credentials=True)

    with pytest.raises(AssetError, match="only half its keys"):
        connection_test(half)


def test_with_staffs_leave_a_keyless_connection_uses_the_workers_credentials(
    s3_server, s3_bucket, put, tmp_path, worker_has_credentials
):
    put("in/a.jsonl", b'{"a": 1}\n')
    allowed = s3_server.connection(
        access_key_id="", secret_access_key="", use_worker_credentials=True
    )

    fetched = s3_assets.Source(_asset(allowed, f"s3://{s3_bucket}/in/a.jsonl")).fetch(dest=tmp_path)

    assert fetched[0].path.read_bytes() == b'{"a": 1}\n'


def test_the_workers_credentials_are_off_by_default(db):
    assert Connection.objects.create(name="new", kind="s3").use_worker_credentials is False


def test_the_admin_shows_the_choice_with_its_warning(client, staff):
    client.force_login(staff)

    page = client.get(reverse("admin:jobs_connection_add")).content.decode()

    assert 'name="use_worker_credentials"' in page
    assert "checked" not in page.split('name="use_worker_credentials"')[1].split(">")[0]
    assert "Warning: the worker's own AWS credentials" in page


# --- The storage bucket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "direction"),
    [("snapshots/other-team/model.py", IN), ("snapshots/", IN), ("", IN), ("x.jsonl", OUT)],
)
def test_submit_refuses_the_storage_bucket(s3_server, storage_bucket, db, where, direction):
    lake = s3_server.connection()

    with pytest.raises(ValidationError, match="command center's own storage bucket"):
        location_validate(
            kind="s3", connection=lake, location=f"s3://{storage_bucket}/{where}", query="",
            direction=direction,
        )  # fmt: skip


def test_the_worker_will_not_read_or_list_the_storage_bucket(s3_server, storage_bucket, tmp_path):
    lake = s3_server.connection()
    for location in (f"s3://{storage_bucket}/snapshots/other-team/model.py",
                     f"s3://{storage_bucket}/snapshots/"):  # fmt: skip
        source = input_source(_asset(lake, location))  # as the worker and the wizard get one
        with pytest.raises(AssetError, match="storage bucket"):
            source.fetch(dest=tmp_path)
        with pytest.raises(AssetError, match="storage bucket"):
            source.size()  # the wizard's review step asks for it
    assert not list(tmp_path.iterdir())


def test_the_worker_will_not_write_the_storage_bucket(s3_server, storage_bucket, tmp_path):
    staged = tmp_path / "evil.py"
    staged.write_bytes(b"# overwritten\n")
    location = f"s3://{storage_bucket}/snapshots/other-team/model.py"
    target = s3_assets.Target(_asset(s3_server.connection(), location, direction=OUT))

    with pytest.raises(AssetError, match="storage bucket"):
        target.publish(staged=staged)
    with pytest.raises(AssetError, match="storage bucket"):
        s3_assets.presigned_url(target.asset)
    body = s3_server.client().get_object(Bucket=storage_bucket, Key="snapshots/other-team/model.py")
    assert body["Body"].read() == b"# another team's model\n"


def test_other_buckets_still_work_beside_the_storage_bucket(
    s3_server, storage_bucket, s3_bucket, tmp_path
):
    other = f"{s3_bucket}-data"
    s3_server.client().create_bucket(Bucket=other)
    s3_server.client().put_object(Bucket=other, Key="in.jsonl", Body=b"{}\n")

    source = s3_assets.Source(_asset(s3_server.connection(), f"s3://{other}/in.jsonl"))

    assert source.fetch(dest=tmp_path)[0].path.read_bytes() == b"{}\n"


@pytest.mark.parametrize(
    "endpoint", ["https://{b}.s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000/{b}"]
)
def test_an_endpoint_that_names_the_storage_bucket_is_refused(
    s3_server, storage_bucket, endpoint, tmp_path
):
    lake = s3_server.connection(endpoint_url=endpoint.format(b=storage_bucket))

    with pytest.raises(AssetError, match="storage bucket"):
        s3_assets.Source(_asset(lake, "s3://some-other-bucket/in.jsonl")).fetch(dest=tmp_path)


def test_the_api_refuses_a_job_on_the_storage_bucket(
    s3_server, storage_bucket, alice, alice_snapshot
):
    s3_server.connection().save()
    body = {
        "snapshot": str(alice_snapshot.uuid),
        "inputs": [{"kind": "s3", "location": f"s3://{storage_bucket}/snapshots/"}],
    }

    answer = token_client(alice).post("/api/jobs/", body, format="json")

    assert answer.status_code == 400
    assert "command center's own storage bucket" in str(answer.json()), answer.json()
