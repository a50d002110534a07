"""HDFS inputs and outputs through HdfsCLI against a WebHDFS server on loopback
(tests/servers.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jobs.assets import AssetError, Declined, connection_test, location_validate
from jobs.assets import hdfs as hdfs_assets
from jobs.formats import format_from_name
from jobs.models import JobAsset
from tests.servers import closed_port, spark_parts

IN, OUT = JobAsset.Direction.INPUT, JobAsset.Direction.OUTPUT


def _asset(connection, location, *, direction=IN, fmt=""):
    return JobAsset(
        kind=JobAsset.Kind.HDFS, direction=direction, connection=connection, location=location,
        # As job_submit stores them: inputs keep a blank format unless one was chosen (each
        # file's extension decides); outputs get the one their name gives.
        format=fmt or ("" if direction == IN else format_from_name(location)),
    )  # fmt: skip


@pytest.fixture
def hadoop(webhdfs_server):
    return webhdfs_server.connection()


@pytest.fixture
def put(webhdfs_server):
    def put(path: str, body: bytes) -> None:
        local = webhdfs_server.local(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(body)

    return put


# --- Reading ----------------------------------------------------------------------------------


def test_a_file_is_read_through_the_datanode_redirect(
    webhdfs_server, hadoop, put, tmp_path, monkeypatch
):
    monkeypatch.setattr(hdfs_assets, "CHUNK_BYTES", 1000)  # several chunks
    body = b"".join(f'{{"id": {i}}}\n'.encode() for i in range(1000))
    put("/data/records.jsonl", body)
    source = hdfs_assets.Source(_asset(hadoop, "hdfs://nn/data/records.jsonl"))

    fetched = source.fetch(dest=tmp_path)

    assert [(f.name, f.format) for f in fetched] == [("hdfs://nn/data/records.jsonl", "jsonl")]
    assert fetched[0].path.read_bytes() == body
    assert source.size() == len(body)
    opens = [r for r in webhdfs_server.requests if r[1] == "OPEN"]
    assert len(opens) == 2  # the namenode's redirect, then the datanode's data


def test_a_folder_reads_every_file_in_name_order(hadoop, put, tmp_path):
    for name in ("b.csv", "a.csv", "c.parquet"):
        put(f"/data/day/{name}", name.encode())
    put("/data/day/_SUCCESS", b"")
    put("/data/day/.a.csv.crc", b"checksum")
    put("/data/day/nested/d.csv", b"not read: folders are not walked")

    source = hdfs_assets.Source(_asset(hadoop, "hdfs://nn/data/day"))
    fetched = source.fetch(dest=tmp_path)

    assert [(f.name, f.format) for f in fetched] == [
        ("hdfs://nn/data/day/a.csv", "csv"),
        ("hdfs://nn/data/day/b.csv", "csv"),
        ("hdfs://nn/data/day/c.parquet", "parquet"),
    ]
    assert [f.path.read_bytes() for f in fetched] == [b"a.csv", b"b.csv", b"c.parquet"]
    assert source.size() == 5 + 5 + 9


def test_a_format_chosen_for_the_asset_holds_for_every_file(hadoop, put, tmp_path):
    put("/exports/part-00000", b"x\n1\n")
    put("/exports/part-00001", b"x\n2\n")

    fetched = hdfs_assets.Source(_asset(hadoop, "hdfs://nn/exports/", fmt="csv")).fetch(
        dest=tmp_path
    )

    assert [f.format for f in fetched] == ["csv", "csv"]


# --- Writing ----------------------------------------------------------------------------------


def test_output_is_written_to_a_temporary_name_and_renamed_into_place(
    webhdfs_server, hadoop, tmp_path
):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b'{"score": 1}\n')
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT))

    published = target.publish(staged=staged)

    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b'{"score": 1}\n'
    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores.jsonl"]
    created = [path for method, op, path in webhdfs_server.requests if op == "CREATE"]
    assert created and all(p.startswith("/results/.scores.jsonl.") for p in created)
    assert any(op == "RENAME" for _, op, _ in webhdfs_server.requests)
    assert published == {
        "location": "hdfs://nn/results/scores.jsonl",
        "paths": ["hdfs://nn/results/scores.jsonl"],
        "bytes": 13,
    }


def test_output_replaces_an_existing_file(webhdfs_server, hadoop, put, tmp_path):
    put("/results/scores.jsonl", b"old\n")
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"new\n")

    hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT)).publish(
        staged=staged
    )

    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b"new\n"
    assert len(list(webhdfs_server.local("/results").iterdir())) == 1


def test_a_write_that_fails_midway_leaves_no_file_and_the_old_one_intact(
    webhdfs_server, hadoop, put, tmp_path
):
    put("/results/scores.jsonl", b"yesterday's scores\n")
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"x" * 3_000_000)
    webhdfs_server.fail_next_write = True
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT))

    with pytest.raises(AssetError) as failure:
        target.publish(staged=staged)

    assert str(failure.value) == (
        "output 'hdfs://nn/results/scores.jsonl': WebHDFS refused (IOException): "
        "All datanodes are bad. Aborting..."
    )
    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores.jsonl"]
    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b"yesterday's scores\n"
    deleted = [path for _, op, path in webhdfs_server.requests if op == "DELETE"]
    assert len(deleted) == 1 and deleted[0].startswith("/results/.scores.jsonl.")


def test_output_onto_a_folder_is_refused_before_writing(webhdfs_server, hadoop, put, tmp_path):
    put("/results/scores.jsonl/part-0", b"a folder, as Spark writes")
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"{}\n")
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT))

    with pytest.raises(AssetError, match="/results/scores.jsonl is a folder, not a file"):
        target.publish(staged=staged)
    assert not any(op == "CREATE" for _, op, _ in webhdfs_server.requests)


def test_a_publish_declined_at_the_point_of_no_return_keeps_the_file_that_was_there(
    webhdfs_server, hadoop, put, tmp_path
):
    put("/results/scores.jsonl", b"yesterday's scores\n")
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"new\n")
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT))

    with pytest.raises(Declined):
        target.publish(staged=staged, decide=lambda record: False)

    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores.jsonl"]
    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b"yesterday's scores\n"


def test_an_old_file_left_aside_by_a_worker_that_died_is_put_back_first(
    webhdfs_server, hadoop, put, tmp_path
):
    # Killed between the two renames: the old file aside, none in place.
    put("/results/.scores.jsonl.previous", b"yesterday's scores\n")
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"new\n")
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores.jsonl", direction=OUT))

    with pytest.raises(Declined):
        target.publish(staged=staged, decide=lambda record: False)
    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b"yesterday's scores\n"

    target.publish(staged=staged)
    assert webhdfs_server.local("/results/scores.jsonl").read_bytes() == b"new\n"
    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores.jsonl"]


# --- Failures, each naming the asset and the reason ---------------------------------------------


# --- A folder of part files (a Spark job's output) ---------------------------------------------


def test_a_folder_of_parts_replaces_the_folder_that_was_there(
    webhdfs_server, hadoop, put, tmp_path
):
    put("/results/scores/part-00000-old.json", b'{"old": 1}\n')
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores", direction=OUT,
                                       fmt="jsonl"))  # fmt: skip

    published = target.publish_parts(parts=spark_parts(tmp_path))

    folder = webhdfs_server.local("/results/scores")
    assert sorted(p.name for p in folder.iterdir()) == [
        "_SUCCESS", "part-00000-a.json", "part-00001-a.json"
    ]  # fmt: skip
    assert (folder / "part-00001-a.json").read_bytes() == b'{"id": 1}\n'
    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores"]
    assert published["location"] == "hdfs://nn/results/scores"
    assert published["paths"] == [
        "hdfs://nn/results/scores/part-00000-a.json", "hdfs://nn/results/scores/part-00001-a.json"
    ]  # fmt: skip
    renames = [r for r in webhdfs_server.requests if r[1] == "RENAME"]
    assert len(renames) == 2  # the old folder aside, the new one into place: one step each


@pytest.mark.parametrize("how", ["declined", "a datanode fails"])
def test_a_folder_publish_that_does_not_finish_keeps_the_old_folder(
    webhdfs_server, hadoop, put, tmp_path, how
):
    put("/results/scores/part-00000-old.json", b'{"old": 1}\n')
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores", direction=OUT,
                                       fmt="jsonl"))  # fmt: skip
    if how == "a datanode fails":
        webhdfs_server.fail_next_write = True

    with pytest.raises((Declined, AssetError)):
        target.publish_parts(parts=spark_parts(tmp_path),
                             decide=(lambda record: False) if how == "declined" else None)  # fmt: skip

    assert [p.name for p in webhdfs_server.local("/results").iterdir()] == ["scores"]
    assert [p.name for p in webhdfs_server.local("/results/scores").iterdir()] == [
        "part-00000-old.json"
    ]


def test_a_folder_of_parts_onto_a_file_is_refused(webhdfs_server, hadoop, put, tmp_path):
    put("/results/scores", b"a file\n")
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/results/scores", direction=OUT,
                                       fmt="jsonl"))  # fmt: skip

    with pytest.raises(AssetError, match="is a file; a Spark job's output is a folder"):
        target.publish_parts(parts=spark_parts(tmp_path))
    assert webhdfs_server.local("/results/scores").read_bytes() == b"a file\n"


def test_a_missing_path_is_named(hadoop, tmp_path):
    with pytest.raises(AssetError) as failure:
        hdfs_assets.Source(_asset(hadoop, "hdfs://nn/no/such.csv")).fetch(dest=tmp_path)

    assert (
        str(failure.value) == "input 'hdfs://nn/no/such.csv': no such file or folder /no/such.csv"
    )
    assert not any(tmp_path.iterdir())


def test_an_empty_folder_is_an_error(hadoop, webhdfs_server, tmp_path):
    webhdfs_server.local("/empty").mkdir()

    with pytest.raises(AssetError) as failure:
        hdfs_assets.Source(_asset(hadoop, "hdfs://nn/empty/")).fetch(dest=tmp_path)

    assert str(failure.value) == (
        "input 'hdfs://nn/empty/': the folder /empty holds no files (nothing to read)"
    )


def test_reading_a_forbidden_path_is_permission_denied(hadoop, put, tmp_path):
    put("/secure/salaries.csv", b"name,salary\n")

    with pytest.raises(AssetError) as failure:
        hdfs_assets.Source(_asset(hadoop, "hdfs://nn/secure/salaries.csv")).fetch(dest=tmp_path)

    assert str(failure.value).startswith(
        "input 'hdfs://nn/secure/salaries.csv': permission denied for user alice "
        "(Permission denied: user=alice, access=READ_EXECUTE"
    )


def test_writing_a_forbidden_path_is_permission_denied_and_writes_nothing(
    webhdfs_server, hadoop, tmp_path
):
    staged = tmp_path / "out.jsonl"
    staged.write_bytes(b"{}\n")
    target = hdfs_assets.Target(_asset(hadoop, "hdfs://nn/secure/out.jsonl", direction=OUT))

    with pytest.raises(AssetError, match="permission denied for user alice"):
        target.publish(staged=staged)
    assert not webhdfs_server.local("/secure").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_an_unreachable_namenode_is_named(webhdfs_server, tmp_path, host):
    url = f"http://{host}:{closed_port()}"  # refused, or a name DNS cannot resolve
    nowhere = webhdfs_server.connection(webhdfs_url=url)

    with pytest.raises(AssetError) as failure:
        hdfs_assets.Source(_asset(nowhere, "hdfs://nn/data.csv")).fetch(dest=tmp_path)

    assert str(failure.value).startswith(
        f"input 'hdfs://nn/data.csv': cannot reach WebHDFS at {url} (connection failed)"
    )


# --- Validation and the connection test -------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "direction", "message"),
    [
        ("s3://bucket/key", IN, "is not an HDFS location"),
        ("/data/file.csv", IN, "is not an HDFS location"),
        ("hdfs://namenode", IN, "names no path"),
        ("hdfs://nn/data/../etc/passwd", IN, "'..' is not allowed"),
        ("hdfs://nn/results/", OUT, "is a folder; an output is one file"),
        ("hdfs://nn/", OUT, "is a folder; an output is one file"),
        ("hdfs://nn/results/_scores.jsonl", OUT, "hidden from HDFS readers"),
    ],
)
def test_validate_refuses_malformed_locations(db, hadoop, location, direction, message):
    hadoop.save()
    with pytest.raises(ValidationError, match=message):
        location_validate(
            kind="hdfs", connection=hadoop, location=location, query="", direction=direction
        )


def test_validate_cleans_a_good_location(db, hadoop):
    hadoop.save()
    cleaned = location_validate(
        kind="hdfs", connection=hadoop, location=" hdfs://nn//data//day/ ", query="",
        direction=IN,
    )  # fmt: skip

    assert cleaned == "hdfs://nn/data/day"


def test_validate_needs_a_webhdfs_url_on_the_connection(db, webhdfs_server):
    bare = webhdfs_server.connection(webhdfs_url="")
    bare.save()

    with pytest.raises(ValidationError, match="has no WebHDFS URL"):
        location_validate(
            kind="hdfs", connection=bare, location="hdfs://nn/x.csv", query="", direction=IN
        )


def test_connection_test_reads_the_status_of_the_root(webhdfs_server, hadoop, put):
    put("/data/a.csv", b"")
    put("/user/alice/b.csv", b"")

    assert connection_test(hadoop) == f"reached {webhdfs_server.url} as alice: / holds 2 entries"
    assert ("GET", "GETFILESTATUS", "/") in webhdfs_server.requests


def test_connection_test_names_an_unreachable_namenode(webhdfs_server):
    url = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(AssetError, match=f"connection 'hadoop': cannot reach WebHDFS at {url}"):
        connection_test(webhdfs_server.connection(webhdfs_url=url))
