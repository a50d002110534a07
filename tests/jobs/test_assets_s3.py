"""S3 inputs and outputs against moto's S3 server on loopback (tests/servers.py)."""

from __future__ import annotations

import io
import urllib.request

import pandas as pd
import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.exceptions import ValidationError

from jobs.assets import AssetError, Declined, connection_test, location_validate
from jobs.assets import s3 as s3_assets
from jobs.formats import format_from_name
from jobs.models import JobAsset
from tests.servers import closed_port, spark_parts

IN, OUT = JobAsset.Direction.INPUT, JobAsset.Direction.OUTPUT


def _asset(connection, location, *, direction=IN, fmt=""):
    return JobAsset(
        kind=JobAsset.Kind.S3, direction=direction, connection=connection, location=location,
        # As job_submit stores them: inputs keep a blank format unless one was chosen (each
        # file's extension decides); outputs get the one their name gives.
        format=fmt or ("" if direction == IN else format_from_name(location)),
    )  # fmt: skip


@pytest.fixture
def lake(s3_server):
    return s3_server.connection()


@pytest.fixture
def put(s3_server, s3_bucket):
    client = s3_server.client()

    def put(key: str, body: bytes) -> None:
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)

    return put


# --- Reading ----------------------------------------------------------------------------------


def test_a_single_key_is_fetched_whole_with_its_size(lake, s3_bucket, put, tmp_path):
    body = b'{"a": 1}\n{"a": 2}\n'
    put("in/records.jsonl", body)
    source = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/in/records.jsonl"))

    fetched = source.fetch(dest=tmp_path)

    assert [(f.name, f.format) for f in fetched] == [
        (f"s3://{s3_bucket}/in/records.jsonl", "jsonl")
    ]
    assert fetched[0].path.read_bytes() == body
    assert fetched[0].path.parent == tmp_path
    assert source.size() == len(body)


def test_a_prefix_fetches_every_object_under_it_in_key_order(lake, s3_bucket, put, tmp_path):
    for key in ("day/b.jsonl", "day/a.jsonl", "day/c.jsonl", "other/z.jsonl"):
        put(key, f'{{"key": "{key}"}}\n'.encode())
    put("day/_SUCCESS", b"")  # written by Spark next to its output: not data
    put("day/", b"")  # a "folder" made in a console

    source = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/"))
    fetched = source.fetch(dest=tmp_path)

    assert [f.name.rsplit("/", 1)[-1] for f in fetched] == ["a.jsonl", "b.jsonl", "c.jsonl"]
    assert [f.path.read_text() for f in fetched] == [f'{{"key": "day/{n}.jsonl"}}\n' for n in "abc"]
    assert source.size() == sum(f.path.stat().st_size for f in fetched)


def test_a_location_written_without_its_slash_reads_the_folder(lake, s3_bucket, put, tmp_path):
    put("day/a.jsonl", b"{}\n")
    put("day/b.jsonl", b"{}\n")

    fetched = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day")).fetch(dest=tmp_path)

    assert len(fetched) == 2


def test_each_object_format_comes_from_its_extension(lake, s3_bucket, put, tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    put("mixed/1.csv", frame.to_csv(index=False).encode())
    put("mixed/2.json", frame.to_json(orient="records").encode())
    put("mixed/3.jsonl", frame.to_json(orient="records", lines=True).encode())
    put("mixed/4.parquet", parquet.getvalue())

    fetched = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/mixed/")).fetch(dest=tmp_path)

    assert [f.format for f in fetched] == ["csv", "jsonl", "jsonl", "parquet"]
    assert pd.read_csv(fetched[0].path).equals(frame)
    assert pd.read_parquet(fetched[3].path).equals(frame)


def test_a_format_chosen_for_the_asset_holds_for_every_object(lake, s3_bucket, put, tmp_path):
    put("exports/part-0.txt", b"x,y\n1,a\n")
    put("exports/part-1.jsonl", b"x,y\n2,b\n")

    asset = _asset(lake, f"s3://{s3_bucket}/exports/", fmt="csv")
    fetched = s3_assets.Source(asset).fetch(dest=tmp_path)

    assert [f.format for f in fetched] == ["csv", "csv"]


# --- Writing ----------------------------------------------------------------------------------


def test_a_small_output_is_written_in_one_request(s3_server, lake, s3_bucket, tmp_path):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b'{"score": 1}\n')
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/out/scores.jsonl", direction=OUT))

    published = target.publish(staged=staged)

    body = s3_server.client().get_object(Bucket=s3_bucket, Key="out/scores.jsonl")["Body"]
    assert body.read() == b'{"score": 1}\n'
    assert published == {
        "location": f"s3://{s3_bucket}/out/scores.jsonl",
        "keys": [f"s3://{s3_bucket}/out/scores.jsonl"],
        "bytes": 13,
        "parts": 1,
    }


def _large_file(path, size):
    with open(path, "wb") as f:
        for i in range(size // 1024):
            f.write(f"{i:1023d}\n".encode())
    return path


def test_a_large_output_is_a_multipart_upload_committed_at_the_end(
    s3_server, lake, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setattr(s3_assets, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_assets, "PART_BYTES", 5 * 1024 * 1024)  # S3's smallest part
    staged = _large_file(tmp_path / "out.jsonl", 11 * 1024 * 1024)
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/big.jsonl", direction=OUT))

    published = target.publish(staged=staged)

    client = s3_server.client()
    assert published["parts"] == 3
    head = client.head_object(Bucket=s3_bucket, Key="big.jsonl")
    assert head["ContentLength"] == staged.stat().st_size
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of an object made of 3 parts
    with open(staged, "rb") as f:
        assert client.get_object(Bucket=s3_bucket, Key="big.jsonl")["Body"].read() == f.read()
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


class _FailingSecondPart:
    """A boto3 client whose second upload_part fails as a dropped connection does."""

    def __init__(self, client):
        self._client, self.parts_sent = client, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def upload_part(self, **kwargs):
        self.parts_sent += 1
        if self.parts_sent == 2:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1/")
        return self._client.upload_part(**kwargs)


def test_a_failure_mid_upload_leaves_no_object_and_no_open_upload(
    s3_server, lake, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setattr(s3_assets, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_assets, "PART_BYTES", 5 * 1024 * 1024)
    clients = []
    real_client = s3_assets._client
    monkeypatch.setattr(
        s3_assets,
        "_client",
        lambda c, **kw: clients.append(_FailingSecondPart(real_client(c, **kw))) or clients[-1],
    )
    staged = _large_file(tmp_path / "out.jsonl", 11 * 1024 * 1024)
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/big.jsonl", direction=OUT))

    with pytest.raises(AssetError) as failure:
        target.publish(staged=staged)

    client = s3_server.client()
    assert clients[0].parts_sent == 2  # one part was stored before the failure
    assert str(failure.value).startswith(f"output 's3://{s3_bucket}/big.jsonl': cannot reach")
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


def test_a_failed_upload_keeps_the_object_that_was_there(
    s3_server, lake, s3_bucket, put, tmp_path, monkeypatch
):
    put("big.jsonl", b"yesterday's scores\n")
    monkeypatch.setattr(s3_assets, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_assets, "PART_BYTES", 5 * 1024 * 1024)
    real_client = s3_assets._client
    monkeypatch.setattr(
        s3_assets, "_client", lambda c, **kw: _FailingSecondPart(real_client(c, **kw))
    )
    staged = _large_file(tmp_path / "out.jsonl", 11 * 1024 * 1024)

    with pytest.raises(AssetError):
        s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/big.jsonl", direction=OUT)).publish(
            staged=staged
        )

    body = s3_server.client().get_object(Bucket=s3_bucket, Key="big.jsonl")["Body"].read()
    assert body == b"yesterday's scores\n"


@pytest.mark.parametrize("size", ["small", "multipart"])
def test_a_publish_declined_at_the_point_of_no_return_keeps_the_object_that_was_there(
    s3_server, lake, s3_bucket, put, tmp_path, monkeypatch, size
):
    put("out.jsonl", b"yesterday's scores\n")
    monkeypatch.setattr(s3_assets, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_assets, "PART_BYTES", 5 * 1024 * 1024)
    staged = _large_file(tmp_path / "out.jsonl", (11 if size == "multipart" else 1) * 2**20)
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/out.jsonl", direction=OUT))

    with pytest.raises(Declined):
        target.publish(staged=staged, decide=lambda record: False)

    client = s3_server.client()
    assert client.get_object(Bucket=s3_bucket, Key="out.jsonl")["Body"].read() == (
        b"yesterday's scores\n"
    )
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


def _keys(s3_server, bucket, prefix=""):
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_folder_of_parts_replaces_the_objects_under_the_prefix(
    s3_server, lake, s3_bucket, put, tmp_path
):
    put("out/scores/part-00000-old.json", b'{"old": 1}\n')
    put("out/scores/_SUCCESS", b"")
    put("out/other.json", b"{}\n")  # beside the folder: untouched
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/out/scores", direction=OUT,
                                     fmt="jsonl"))  # fmt: skip

    published = target.publish_parts(parts=spark_parts(tmp_path))

    assert _keys(s3_server, s3_bucket) == [
        "out/other.json", "out/scores/_SUCCESS", "out/scores/part-00000-a.json",
        "out/scores/part-00001-a.json",
    ]  # fmt: skip
    body = s3_server.client().get_object(Bucket=s3_bucket, Key="out/scores/part-00001-a.json")
    assert body["Body"].read() == b'{"id": 1}\n'
    assert published["location"] == f"s3://{s3_bucket}/out/scores/"
    assert published["parts"] == 2 and published["bytes"] == 20


def test_a_folder_publish_declined_keeps_the_objects_that_were_there(
    s3_server, lake, s3_bucket, put, tmp_path
):
    put("out/scores/part-00000-old.json", b'{"old": 1}\n')
    target = s3_assets.Target(_asset(lake, f"s3://{s3_bucket}/out/scores", direction=OUT,
                                     fmt="jsonl"))  # fmt: skip

    with pytest.raises(Declined):
        target.publish_parts(parts=spark_parts(tmp_path), decide=lambda record: False)

    assert _keys(s3_server, s3_bucket) == ["out/scores/part-00000-old.json"]


def test_a_presigned_url_downloads_the_output_without_credentials(lake, s3_bucket, tmp_path):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b'{"score": 0.5}\n')
    asset = _asset(lake, f"s3://{s3_bucket}/results/out.jsonl", direction=OUT)
    asset.published = s3_assets.Target(asset).publish(staged=staged)

    url = s3_assets.presigned_url(asset, expires=60)

    assert "X-Amz-Expires=60" in url
    assert lake.secret_access_key not in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b'{"score": 0.5}\n'
        assert 'filename="out.jsonl"' in answer.headers.get("Content-Disposition", "")


# --- Failures, each naming the asset and the reason ---------------------------------------------


def _fetch_error(connection, location, tmp_path) -> str:
    with pytest.raises(AssetError) as failure:
        s3_assets.Source(_asset(connection, location)).fetch(dest=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was half-fetched
    return str(failure.value)


def test_a_missing_bucket_is_named(lake, tmp_path):
    message = _fetch_error(lake, "s3://no-such-bucket/data.jsonl", tmp_path)

    assert (
        message == "input 's3://no-such-bucket/data.jsonl': bucket 'no-such-bucket' does not exist"
    )


def test_a_missing_bucket_is_named_for_a_prefix_too(lake, tmp_path):
    message = _fetch_error(lake, "s3://no-such-bucket/day/", tmp_path)

    assert message == "input 's3://no-such-bucket/day/': bucket 'no-such-bucket' does not exist"


def test_a_missing_key_is_named(lake, s3_bucket, tmp_path):
    message = _fetch_error(lake, f"s3://{s3_bucket}/nope.jsonl", tmp_path)

    assert message == (
        f"input 's3://{s3_bucket}/nope.jsonl': no object s3://{s3_bucket}/nope.jsonl"
    )


def test_an_empty_prefix_is_an_error(lake, s3_bucket, put, tmp_path):
    put("elsewhere/a.jsonl", b"{}\n")

    message = _fetch_error(lake, f"s3://{s3_bucket}/day/", tmp_path)

    assert message == (
        f"input 's3://{s3_bucket}/day/': no objects under the prefix 'day/' (nothing to read)"
    )


def test_a_wrong_secret_key_is_access_denied_and_the_secret_is_never_shown(
    s3_auth_enforced, s3_bucket, put, tmp_path
):
    put("data.jsonl", b"{}\n")
    good = s3_auth_enforced.connection()
    wrong = s3_auth_enforced.connection(secret_access_key="not-the-secret-at-all")
    location = f"s3://{s3_bucket}/data.jsonl"

    message = _fetch_error(wrong, location, tmp_path)
    with pytest.raises(AssetError) as test_failure:
        connection_test(wrong)
    fetched = s3_assets.Source(_asset(good, location)).fetch(dest=tmp_path)

    assert message.startswith(f"input '{location}': access denied")
    assert "secret access key does not match" in str(test_failure.value)
    for text in (message, str(test_failure.value)):
        assert "not-the-secret-at-all" not in text
        assert good.secret_access_key not in text
    assert fetched[0].path.read_bytes() == b"{}\n"  # the right keys are let in


def test_an_unknown_access_key_is_access_denied(s3_auth_enforced, s3_bucket, tmp_path):
    stranger = s3_auth_enforced.connection(access_key_id="AKIANOBODYKNOWS00000")

    message = _fetch_error(stranger, f"s3://{s3_bucket}/", tmp_path)

    assert message == (
        f"input 's3://{s3_bucket}/': access denied: the connection's access key ID is not "
        "known to this endpoint"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_an_unreachable_endpoint_is_named(s3_server, tmp_path, host):
    endpoint = f"http://{host}:{closed_port()}"  # refused, or a name DNS cannot resolve
    nowhere = s3_server.connection(endpoint_url=endpoint)

    message = _fetch_error(nowhere, "s3://bucket/data.jsonl", tmp_path)

    assert message.startswith(f"input 's3://bucket/data.jsonl': cannot reach {endpoint}")


def test_writing_to_a_missing_bucket_is_named(lake, tmp_path):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"{}\n")
    target = s3_assets.Target(_asset(lake, "s3://no-such-bucket/out.jsonl", direction=OUT))

    with pytest.raises(AssetError, match="bucket 'no-such-bucket' does not exist"):
        target.publish(staged=staged)


# --- Validation and the connection test -------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "direction", "message"),
    [
        ("https://bucket/key", IN, "is not an S3 location"),
        ("bucket/key.csv", IN, "is not an S3 location"),
        ("s3:///key.csv", IN, "names no bucket"),
        ("s3://Bad_Bucket/key.csv", IN, "is not a valid bucket name"),
        ("s3://bucket", OUT, "Name the object to write"),
        ("s3://bucket/scores/", OUT, "is a prefix; an output is one object"),
    ],
)
def test_validate_refuses_malformed_locations(db, lake, location, direction, message):
    lake.save()
    with pytest.raises(ValidationError, match=message):
        location_validate(
            kind="s3", connection=lake, location=location, query="", direction=direction
        )


@pytest.mark.parametrize(
    ("location", "direction", "cleaned"),
    [
        ("  s3://bucket/day/ ", IN, "s3://bucket/day/"),
        ("s3://bucket", IN, "s3://bucket/"),
        ("S3://bucket/out/scores.csv", OUT, "s3://bucket/out/scores.csv"),
    ],
)
def test_validate_cleans_good_locations(db, lake, location, direction, cleaned):
    lake.save()
    assert (
        location_validate(
            kind="s3", connection=lake, location=location, query="", direction=direction
        )
        == cleaned
    )


def test_connection_test_counts_the_buckets(db, s3_server, lake, s3_bucket):
    lake.save()
    s3_server.client().create_bucket(Bucket=f"{s3_bucket}-2")
    count = len(s3_server.client().list_buckets()["Buckets"])

    assert connection_test(lake) == f"reached {s3_server.endpoint}: {count} buckets"


def test_connection_test_names_an_unreachable_endpoint(db, s3_server):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    nowhere = s3_server.connection(endpoint_url=endpoint)
    nowhere.save()

    with pytest.raises(AssetError, match=f"connection 'lake': cannot reach {endpoint}"):
        connection_test(nowhere)


def test_an_object_of_unknown_format_fails_naming_it(lake, s3_bucket, put, tmp_path):
    put("book.xlsx", b"PK\x03\x04")
    source = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/book.xlsx"))

    with pytest.raises(AssetError, match=r"unknown format \(extension '\.xlsx' in 'book\.xlsx'\)"):
        source.fetch(dest=tmp_path)


def test_a_chosen_format_holds_for_every_object(lake, s3_bucket, put, tmp_path):
    put("raw/a.txt", b"x,y\n1,2\n")
    put("raw/b.data", b"x,y\n3,4\n")
    source = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/raw/", fmt="csv"))

    assert [f.format for f in source.fetch(dest=tmp_path)] == ["csv", "csv"]


# --- Bounds: a prefix is listed whole before it is read -----------------------------------------


def test_a_prefix_with_more_objects_than_a_job_reads_is_refused(
    lake, s3_bucket, put, tmp_path, settings
):
    settings.S3_PREFIX_MAX_OBJECTS = 3
    for n in range(4):
        put(f"day/{n}.jsonl", b"{}\n")
    source = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/"))
    expected = f"input 's3://{s3_bucket}/day/': more than 3 objects under this prefix"
    with pytest.raises(AssetError, match=expected):
        source.size()
    with pytest.raises(AssetError, match=expected):
        s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/")).fetch(dest=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_prefix_at_the_limit_is_read(lake, s3_bucket, put, tmp_path, settings):
    settings.S3_PREFIX_MAX_OBJECTS = 3
    for n in range(3):
        put(f"day/{n}.jsonl", b"{}\n")
    assert s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/")).size() == 9


def test_the_size_of_a_prefix_is_listed_for_a_bounded_time_only(
    lake, s3_bucket, put, tmp_path, settings
):
    settings.S3_LIST_TIMEOUT_SECONDS = 0.0  # past as soon as the first page is in
    put("day/a.jsonl", b"{}\n")
    with pytest.raises(AssetError, match=r"listing this prefix took longer than 0 s \(1 listed"):
        s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/")).size()
    # A job's worker lists without that bound (the job's own time limit applies).
    fetched = s3_assets.Source(_asset(lake, f"s3://{s3_bucket}/day/")).fetch(dest=tmp_path)
    assert len(fetched) == 1
