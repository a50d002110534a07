"""SQL inputs and outputs against real databases: SQLite files in tmp_path always, and
PostgreSQL on 127.0.0.1:5432 when it answers (a scratch database per test session, dropped
at the end; the PostgreSQL cases are skipped, with the reason, when it does not)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from psycopg import sql

from jobs.assets import AssetError, Declined, connection_test, location_validate
from jobs.assets.sql import Source, Target
from jobs.assets.sql.columns import ColumnError, SqlColumn
from jobs.assets.sql.databases import (
    Timeout,
    dsn_parse,
    postgres_connect,
    postgres_rearm,
    sqlite_connect,
)
from jobs.models import Connection, Job, JobAsset
from models_registry.models import Attachment
from tests.demo import demo_snapshot

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# PostgreSQL here trusts local connections, so this password is never checked: it is in the
# DSN to prove that no message ever shows it.
PASSWORD = "pw-never-shown-7f3a"

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_dsn():
    """A scratch database, cc_sql_<random>, for this session; dropped at the end."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as postgres ({exc})")
    name = f"cc_sql_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{name}"
    finally:
        # A new connection: the suite restarts PostgreSQL meanwhile (tests/test_fault_outages.py).
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Database:
    """A database for one test, and a way to look at it from outside the code under test."""

    engine: str
    dsn: str
    conn: psycopg.Connection | sqlite3.Connection

    def run(self, statement: str, params: tuple = ()) -> list[tuple]:
        cursor = self.conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []

    def rows(self, table: str, order: str = "id") -> list[tuple]:
        return self.run(f"SELECT * FROM {table} ORDER BY {order}")

    def tables(self) -> set[str]:
        if self.engine == "sqlite":
            return {r[0] for r in self.run("SELECT name FROM sqlite_master WHERE type='table'")}
        return {
            r[0] for r in self.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }


def _database(engine: str, request, tmp_path: Path):
    if engine == "sqlite":
        path = tmp_path / "data.sqldb"
        conn = sqlite3.connect(path, isolation_level=None)
        yield Database("sqlite", f"sqlite://{path}", conn)
        conn.close()
        return
    dsn = request.getfixturevalue("postgres_dsn")
    conn = psycopg.connect(dsn, autocommit=True)
    yield Database("postgresql", dsn, conn)
    conn.execute("DROP SCHEMA public CASCADE")
    conn.execute("CREATE SCHEMA public")
    conn.close()


@pytest.fixture(params=ENGINES)
def sqldb(request, tmp_path):
    yield from _database(request.param, request, tmp_path)


@pytest.fixture
def pg(request, tmp_path):
    yield from _database("postgresql", request, tmp_path)


@pytest.fixture
def lite(request, tmp_path):
    yield from _database("sqlite", request, tmp_path)


@pytest.fixture
def iris(sqldb):
    sqldb.run(
        "CREATE TABLE iris (id bigint, sepal_length double precision, species text, wide integer)"
    )
    for i in range(1, 11):
        sqldb.run(
            f"INSERT INTO iris VALUES ({i}, {4 + i / 10}, '{'setosa' if i % 2 else 'virginica'}',"
            f" {i * 1000})"
        )
    return sqldb


def connection_for(dsn: str, *, timeout: int = 30) -> Connection:
    return Connection(name="warehouse", kind="sql", dsn=dsn, statement_timeout_seconds=timeout)


def fetch(dsn: str, query: str, dest: Path, *, timeout: int = 30) -> Path:
    asset = JobAsset(
        kind="sql", direction="in", name="SQL on warehouse", query=query,
        connection=connection_for(dsn, timeout=timeout),
    )  # fmt: skip
    dest.mkdir(exist_ok=True)
    [fetched] = Source(asset).fetch(dest=dest)
    assert fetched.format == "parquet"
    return fetched.path


# --- Input -------------------------------------------------------------------------------


def test_a_select_is_streamed_in_chunks_and_keeps_its_column_types(iris, tmp_path, settings):
    settings.JOB_CHUNK_ROWS = 4

    path = fetch(iris.dsn, "SELECT * FROM iris ORDER BY id;", tmp_path / "in")

    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3  # 4 + 4 + 2 rows
    table = parquet.read()
    assert table.column("id").to_pylist() == list(range(1, 11))
    assert table.column("sepal_length").to_pylist()[0] == pytest.approx(4.1)
    assert table.column("species").to_pylist()[:2] == ["setosa", "virginica"]
    assert pa.types.is_integer(table.schema.field("id").type)
    assert pa.types.is_floating(table.schema.field("sepal_length").type)
    assert pa.types.is_string(table.schema.field("species").type)
    assert pa.types.is_integer(table.schema.field("wide").type)


def test_postgresql_column_types_survive_as_arrow_types(pg, tmp_path):
    pg.run(
        "CREATE TABLE t (id int8, small int2, ok boolean, price numeric(10,2), day date, "
        "at timestamptz, doc jsonb, ref uuid, late text)"
    )
    pg.run(
        "INSERT INTO t VALUES (1, 2, true, 12.50, '2024-02-29', '2024-01-01 12:00+02', "
        "'{\"a\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'text after a null')"
    )

    table = pq.read_table(fetch(pg.dsn, "SELECT * FROM t ORDER BY id", tmp_path / "in"))

    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64() and types["small"] == pa.int16()
    assert types["ok"] == pa.bool_() and types["price"] == pa.decimal128(10, 2)
    assert types["day"] == pa.date32() and types["at"] == pa.timestamp("us", tz="UTC")
    assert types["doc"] == pa.string() and types["ref"] == pa.string()
    first = table.to_pylist()[0]
    assert str(first["price"]) == "12.50"
    assert first["at"].isoformat() == "2024-01-01T10:00:00+00:00"
    assert first["doc"] == '{"a":[1,2]}'
    assert table.column("late").to_pylist() == [None, "text after a null"]


def test_a_sqlite_column_null_in_the_first_chunk_still_takes_later_values(lite, tmp_path, settings):
    settings.JOB_CHUNK_ROWS = 2
    lite.run("CREATE TABLE t (id integer, note text)")
    lite.run("INSERT INTO t VALUES (1, NULL), (2, NULL), (3, 'three')")

    table = pq.read_table(fetch(lite.dsn, "SELECT * FROM t ORDER BY id", tmp_path / "in"))

    assert table.column("note").to_pylist() == [None, None, "three"]


def test_with_select_is_accepted(iris, tmp_path):
    query = (
        "WITH odd AS (SELECT id, species FROM iris WHERE id % 2 = 1) "
        "SELECT species, count(*) AS n FROM odd GROUP BY species"
    )
    table = pq.read_table(fetch(iris.dsn, query, tmp_path / "in"))

    assert table.to_pylist() == [{"species": "setosa", "n": 5}]


WRITING = [
    "INSERT INTO iris (id) VALUES (99)",
    "UPDATE iris SET species = 'x'",
    "DELETE FROM iris",
    "DROP TABLE iris",
    "CREATE TABLE other (id int)",
    "SELECT 1; DROP TABLE iris",
    "WITH gone AS (DELETE FROM iris RETURNING id) SELECT * FROM gone",
    "SELECT * INTO copied FROM iris",
    "SELECT * FROM iris FOR UPDATE",
    "SELECT * FROM iris FOR SHARE",
    "SELECT * FROM iris FOR NO KEY UPDATE",
    "SET statement_timeout = 0",
    "SET LOCAL statement_timeout = 0",
    "RESET statement_timeout",
    "DO $$ BEGIN DELETE FROM iris; END $$",
    "CALL cleanup()",
    "COPY iris TO STDOUT",
    "LOCK TABLE iris",
]


@pytest.mark.parametrize("query", WRITING)
def test_a_statement_that_writes_is_refused_before_it_runs(iris, tmp_path, query):
    before = iris.rows("iris")
    connection = connection_for(iris.dsn)

    with pytest.raises(ValidationError, match="(?i)refused before running"):
        location_validate(
            kind="sql", connection=connection, location="", query=query, direction="in"
        )
    with pytest.raises(AssetError, match="input 'SQL on warehouse': refused before running"):
        fetch(iris.dsn, query, tmp_path / "in")

    assert iris.rows("iris") == before
    assert iris.tables() == {"iris"}


def test_validate_returns_the_select_without_its_trailing_semicolon(sqldb):
    cleaned = location_validate(
        kind="sql", connection=connection_for(sqldb.dsn), location="",
        query="  SELECT id FROM iris -- the ids\n;  ", direction="in",
    )  # fmt: skip

    assert cleaned == "SELECT id FROM iris -- the ids"


def test_the_database_itself_refuses_writes_on_an_input_connection(iris):
    dsn = dsn_parse(connection_for(iris.dsn))
    if iris.engine == "sqlite":
        conn = sqlite_connect(dsn, read_only=True, timeout=Timeout(5))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM iris")
        conn.close()
    else:
        with (
            postgres_connect(dsn, read_only=True, timeout=Timeout(5)) as conn,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        ):
            conn.execute("DELETE FROM iris")

    assert len(iris.rows("iris")) == 10


def test_a_function_with_side_effects_is_refused_and_the_transaction_would_stop_it_too(
    pg, tmp_path
):
    pg.run("CREATE SEQUENCE seq")

    with pytest.raises(AssetError, match=r"input 'SQL on warehouse': the query calls nextval\(\)"):
        fetch(pg.dsn, "SELECT nextval('seq')", tmp_path / "in")
    # Had it slipped past the check, the read-only transaction is the second lock.
    with (
        postgres_connect(
            dsn_parse(connection_for(pg.dsn)), read_only=True, timeout=Timeout(5)
        ) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="nextval"),
    ):
        conn.execute("SELECT nextval('seq')")

    assert pg.run("SELECT last_value, is_called FROM seq") == [(1, False)]


@pytest.mark.parametrize(
    ("query", "reasons"),
    [
        ("SELECT id FROM iris WHERE", ("syntax error", "incomplete input")),
        ("SELECT nope FROM iris", ('column "nope" does not exist', "no such column: nope")),
        ("SELECT * FROM missing", ('relation "missing" does not exist', "no such table")),
    ],
)
def test_a_failing_select_names_the_asset_and_gives_the_database_reason(
    iris, tmp_path, query, reasons
):
    with pytest.raises(AssetError) as caught:
        fetch(iris.dsn, query, tmp_path / "in")

    message = str(caught.value)
    assert message.startswith("input 'SQL on warehouse': ")
    assert any(reason in message for reason in reasons), message
    assert not list((tmp_path / "in").iterdir())  # no half-written file left behind


def test_a_select_that_runs_too_long_is_stopped_by_the_statement_timeout(sqldb, tmp_path):
    # Counts for ever (pg_sleep() is refused before running).
    query = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    started = time.monotonic()

    with pytest.raises(AssetError) as caught:
        fetch(sqldb.dsn, query, tmp_path / "in", timeout=1)

    assert str(caught.value) == (
        "input 'SQL on warehouse': stopped after 1 s (the connection's statement timeout)"
    )
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "dsn",
    [
        # No such role: the server's message names the role, which is the password too.
        f"postgresql://{PASSWORD}:{PASSWORD}@127.0.0.1:5432/postgres",
        f"postgres://postgres:{PASSWORD}@127.0.0.1:1/{PASSWORD}",  # nothing listens there
    ],
    ids=["refused-login", "refused-port"],
)
def test_a_connection_failure_never_shows_the_password(postgres_dsn, tmp_path, dsn):
    with pytest.raises(AssetError) as fetching:
        fetch(dsn, "SELECT 1", tmp_path / "in")
    with pytest.raises(AssetError) as testing:
        connection_test(connection_for(dsn))

    for caught in (fetching, testing):
        message = str(caught.value)
        assert "cannot connect" in message
        assert PASSWORD not in message
        assert "***" in message or "refused" in message


def test_redaction_covers_the_password_as_written_and_as_decoded():
    dsn = dsn_parse(connection_for("postgresql://u:p%40ss%2Fw@db.example:5432/x"))

    text = dsn.redact("p@ss/w and p%40ss%2Fw in postgresql://u:p%40ss%2Fw@db.example:5432/x")

    assert "p@ss" not in text and "p%40ss" not in text
    assert "postgresql://u:***@db.example:5432/x" in text


def test_a_missing_sqlite_file_is_named(tmp_path):
    with pytest.raises(AssetError, match="cannot open the SQLite database .*missing.sqldb"):
        fetch(f"sqlite://{tmp_path}/missing.sqldb", "SELECT 1", tmp_path / "in")
    assert not (tmp_path / "missing.sqldb").exists()  # an input never creates the file


def test_connection_test_of_a_sqlite_file_not_made_yet_says_jobs_can_create_it(tmp_path):
    text = connection_test(connection_for(f"sqlite://{tmp_path}/new.db"))

    assert "does not exist yet" in text and "created on the first write" in text
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(AssetError, match="not a folder this machine can write to"):
        connection_test(connection_for(f"sqlite://{tmp_path}/no/such/folder/new.db"))


def test_connection_test_says_what_it_reached_without_the_password(sqldb):
    text = connection_test(connection_for(sqldb.dsn))

    if sqldb.engine == "postgresql":
        database = sqldb.dsn.rsplit("/", 1)[1]
        assert text.startswith("reached PostgreSQL ")
        assert text.endswith(f" at 127.0.0.1:5432/{database}")
        assert PASSWORD not in text
    else:
        assert text == f"reached SQLite {sqlite3.sqlite_version} at {sqldb.dsn[len('sqlite://') :]}"


@pytest.mark.parametrize(
    "dsn", ["", "mysql://u:p@h/db", "sqlite://relative.sqldb", "postgresql://"]
)
def test_a_dsn_that_cannot_be_used_is_refused_at_validation(dsn):
    with pytest.raises(ValidationError, match="DSN"):
        location_validate(
            kind="sql", connection=connection_for(dsn), location="t", query="", direction="out"
        )


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [("scores", "scores"), ("Mart.Scores", "mart.scores"), (" _s2 ", "_s2"), ("order", "order")],
)
def test_an_output_table_name_is_a_plain_or_schema_qualified_identifier(name, cleaned):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    assert location_validate(
        kind="sql", connection=connection, location=name, query="", direction="out"
    ) == cleaned  # fmt: skip


@pytest.mark.parametrize(
    "name", ["", "scores; DROP TABLE x", "a.b.c", "1abc", 'x"y', "sc ores", "s" * 64, "a."]
)
def test_an_output_table_name_that_is_not_an_identifier_is_refused(name):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    with pytest.raises(ValidationError):
        location_validate(
            kind="sql", connection=connection, location=name, query="", direction="out"
        )


# --- Output ------------------------------------------------------------------------------


@pytest.fixture
def job(alice, team_alpha):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    return Job.objects.create(snapshot=snapshot, created_by=alice)


def stage(path: Path, *batches: list[dict], schema: pa.Schema | None = None) -> Path:
    """A staged output file with one row group per batch."""
    tables = [pa.Table.from_pylist(rows, schema=schema) for rows in batches]
    with pq.ParquetWriter(path, schema or tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return path


def publish(job, dsn: str, table: str, staged: Path, *, mode: str = "replace") -> dict:
    asset = JobAsset(
        job=job, kind="sql", direction="out", location=table, write_mode=mode,
        connection=connection_for(dsn),
    )  # fmt: skip
    return Target(asset).publish(staged=staged)


def test_output_replace_writes_a_new_table_in_place_of_the_old_one(sqldb, job, tmp_path):
    sqldb.run("CREATE TABLE scores (old_column text)")
    sqldb.run("INSERT INTO scores VALUES ('old')")
    staged = stage(tmp_path / "out.parquet", [{"id": 1, "score": 0.5, "label": "a"}])

    published = publish(job, sqldb.dsn, "Scores", staged)

    assert published == {"table": "scores", "mode": "replace", "rows": 1}
    assert sqldb.rows("scores") == [(1, 0.5, "a")]
    assert sqldb.tables() == {"scores"}  # no staging table left behind


def test_output_append_adds_rows_and_makes_the_table_when_missing(sqldb, job, tmp_path):
    first = stage(tmp_path / "1.parquet", [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}])
    second = stage(tmp_path / "2.parquet", [{"id": 3, "label": "c"}])

    publish(job, sqldb.dsn, "scores", first, mode="append")
    published = publish(job, sqldb.dsn, "scores", second, mode="append")

    assert published["rows"] == 1 and published["mode"] == "append"
    assert sqldb.rows("scores") == [(1, "a"), (2, "b"), (3, "c")]


def test_output_columns_and_types_come_from_the_output_schema(pg, job, tmp_path):
    job.output_schema = "output_schema.avsc"
    row = {
        "id": 7, "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
        "petal_width": 0.2, "predicted_species": "setosa", "probability": 0.98,
    }  # fmt: skip
    staged = stage(tmp_path / "out.parquet", [row])

    publish(job, pg.dsn, "predictions", staged)

    columns = pg.run(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'predictions' ORDER BY ordinal_position"
    )
    assert columns[0] == ("id", "bigint", "NO")
    assert ("predicted_species", "text", "NO") in columns
    assert ("probability", "double precision", "NO") in columns
    assert pg.rows("predictions")[0][5:] == ("setosa", 0.98)


def test_an_output_column_outside_the_output_schema_is_refused(sqldb, job, tmp_path):
    job.output_schema = "output_schema.avsc"
    staged = stage(tmp_path / "out.parquet", [{"id": 1, "surprise": "x"}])

    with pytest.raises(AssetError, match="'surprise' of the output are not in the output schema"):
        publish(job, sqldb.dsn, "predictions", staged)
    assert sqldb.tables() == set()


def test_nested_values_go_in_as_json(sqldb, job, tmp_path):
    staged = stage(tmp_path / "out.parquet", [{"id": 1, "detail": {"a": [1, 2], "b": "x"}}])

    publish(job, sqldb.dsn, "scores", staged)

    if sqldb.engine == "postgresql":
        assert sqldb.run("SELECT detail->'a'->>1, pg_typeof(detail)::text FROM scores") == [
            ("2", "jsonb")
        ]
    else:
        assert sqldb.run("SELECT json_extract(detail, '$.a[1]') FROM scores") == [(2,)]


def test_a_reserved_word_and_a_schema_are_quoted_properly(pg, job, tmp_path):
    pg.run("CREATE SCHEMA mart")
    staged = stage(tmp_path / "out.parquet", [{"id": 1, "select": "quoted column"}])

    publish(job, pg.dsn, "mart.order", staged)

    assert pg.run('SELECT "select" FROM mart."order"') == [("quoted column",)]
    pg.run("DROP SCHEMA mart CASCADE")


SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string())])


def test_an_append_that_fails_part_way_leaves_the_table_as_it_was(sqldb, job, tmp_path, settings):
    settings.JOB_CHUNK_ROWS = 2
    sqldb.run("CREATE TABLE scores (id bigint NOT NULL, label text)")
    sqldb.run("INSERT INTO scores VALUES (1, 'kept')")
    good = [{"id": i, "label": "new"} for i in range(10, 16)]
    staged = stage(tmp_path / "out.parquet", good, [{"id": None, "label": "bad"}], schema=SCHEMA)

    with pytest.raises(AssetError) as caught:
        publish(job, sqldb.dsn, "scores", staged, mode="append")

    message = str(caught.value)
    assert message.startswith("output table 'scores': ")
    assert "null" in message.lower() and "left as it was" in message
    assert sqldb.rows("scores") == [(1, "kept")]


def test_an_append_of_a_value_of_the_wrong_type_leaves_the_table_as_it_was(pg, job, tmp_path):
    pg.run("CREATE TABLE scores (id bigint, label text)")
    pg.run("INSERT INTO scores VALUES (1, 'kept')")
    staged = stage(tmp_path / "out.parquet", [{"id": "seven", "label": "x"}])

    with pytest.raises(AssetError, match='invalid input syntax for type bigint: "seven"'):
        publish(job, pg.dsn, "scores", staged, mode="append")
    assert pg.rows("scores") == [(1, "kept")]


def test_an_append_with_columns_the_table_lacks_is_refused(sqldb, job, tmp_path):
    sqldb.run("CREATE TABLE scores (id bigint, label text)")
    sqldb.run("INSERT INTO scores VALUES (1, 'kept')")
    staged = stage(tmp_path / "out.parquet", [{"id": 2, "score": 0.5}])

    with pytest.raises(AssetError, match=r"cannot append: the table has no column\(s\) 'score'"):
        publish(job, sqldb.dsn, "scores", staged, mode="append")
    assert sqldb.rows("scores") == [(1, "kept")]


def _break_last_row_group(path: Path) -> None:
    """Overwrite the data of the file's last row group, as a disk or a crash might."""
    metadata = pq.ParquetFile(path).metadata
    column = metadata.row_group(metadata.num_row_groups - 1).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(b"\xff" * column.total_compressed_size)


def test_a_replace_whose_staged_file_breaks_half_way_leaves_the_old_table(
    sqldb, job, tmp_path, settings
):
    settings.JOB_CHUNK_ROWS = 3
    sqldb.run("CREATE TABLE scores (id bigint, label text)")
    sqldb.run("INSERT INTO scores VALUES (1, 'kept')")
    batches = [[{"id": i, "label": "new"} for i in range(n, n + 3)] for n in (10, 20, 30)]
    staged = stage(tmp_path / "out.parquet", *batches, schema=SCHEMA)
    _break_last_row_group(staged)

    with pytest.raises(AssetError, match="the staged output cannot be read.*left as it was"):
        publish(job, sqldb.dsn, "scores", staged)

    assert sqldb.rows("scores") == [(1, "kept")]
    assert sqldb.tables() == {"scores"}


def _target(job, dsn: str, table: str, mode: str) -> Target:
    return Target(
        JobAsset(
            job=job,
            kind="sql",
            direction="out",
            location=table,
            write_mode=mode,
            connection=connection_for(dsn),
        )  # fmt: skip
    )


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_a_publish_declined_at_the_point_of_no_return_leaves_the_table_as_it_was(
    sqldb, job, tmp_path, mode
):
    sqldb.run("CREATE TABLE scores (id bigint, label text)")
    sqldb.run("INSERT INTO scores VALUES (1, 'kept')")
    staged = stage(tmp_path / "out.parquet", [{"id": 2, "label": "new"}])
    asked = []

    with pytest.raises(Declined, match="not published, the job ended meanwhile"):
        _target(job, sqldb.dsn, "scores", mode).publish(
            staged=staged, decide=lambda record: asked.append(record) or False
        )

    assert len(asked) == 1  # with every row written, just before the commit
    assert sqldb.rows("scores") == [(1, "kept")]
    assert sqldb.tables() == {"scores"}


def test_an_append_published_again_by_a_later_attempt_is_there_once(sqldb, job, tmp_path):
    # The worker died after the commit, before COMPLETE: the next attempt (or the same
    # attempt's commit tried again) gets what the first one recorded as EARLIER.
    sqldb.run("CREATE TABLE scores (id bigint, label text)")
    sqldb.run("INSERT INTO scores VALUES (1, 'kept')")
    first = stage(
        tmp_path / "1.parquet", [{"id": 2, "label": "try 1"}, {"id": 3, "label": "try 1"}]
    )
    second = stage(
        tmp_path / "2.parquet", [{"id": 2, "label": "try 2"}, {"id": 3, "label": "try 2"}]
    )
    records: list[dict] = []
    target = _target(job, sqldb.dsn, "scores", "append")

    target.publish(staged=first, decide=lambda record: records.append(record) or True)
    sqldb.run("INSERT INTO scores VALUES (4, 'someone else')")
    target.publish(
        staged=second, decide=lambda record: records.append(record) or True, earlier=records[-1]
    )
    target.publish(staged=second, decide=lambda record: True, earlier=records[-1])

    assert sqldb.rows("scores") == [(1, "kept"), (2, "try 2"), (3, "try 2"), (4, "someone else")]


def test_a_later_attempts_append_waits_for_an_earlier_ones_open_transaction(pg, job, tmp_path):
    # The earlier attempt's worker was paused after its point of no return, before its
    # COMMIT: the later attempt waits for that transaction, then deletes what it committed.
    pg.run("CREATE TABLE scores (id bigint, label text)")
    paused = psycopg.connect(pg.dsn)
    paused.execute("INSERT INTO scores VALUES (2, 'try 1')")
    xid = str(paused.execute("SELECT txid_current() % 4294967296").fetchone()[0])
    later = stage(tmp_path / "2.parquet", [{"id": 2, "label": "try 2"}])
    target = _target(job, pg.dsn, "scores", "append")
    thread = threading.Thread(
        target=lambda: target.publish(staged=later, earlier={"attempt": 1, "xids": [xid]})
    )

    thread.start()
    time.sleep(1)
    assert thread.is_alive()  # waiting for the earlier transaction
    paused.commit()
    paused.close()
    thread.join(10)

    assert pg.rows("scores") == [(2, "try 2")]


def attach_output_schema(job, *fields: dict) -> None:
    schema = {"type": "record", "name": "crafted", "fields": list(fields)}
    Attachment.objects.create(
        snapshot=job.snapshot, name="crafted.avsc",
        file=ContentFile(json.dumps(schema).encode(), name="crafted.avsc"),
    )  # fmt: skip
    job.output_schema = "crafted.avsc"


DROP_VICTIM = "); DROP TABLE victim; --"
CRAFTED = {
    "decimal-scale": (
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10,
                                    "scale": f"2{DROP_VICTIM}"}},
        f"field 'amount': the decimal's scale '2{DROP_VICTIM}' is not a whole number from 0 "
        f"to its precision (10)",
    ),
    "decimal-precision": (
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                    "precision": f"10{DROP_VICTIM}", "scale": 2}},
        f"field 'amount': the decimal's precision '10{DROP_VICTIM}' is not a whole number",
    ),
    "column-name": (
        {"name": f'amount" int{DROP_VICTIM}', "type": "int"},
        f"""field 'amount" int{DROP_VICTIM}' has no usable name""",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_output_schema_is_refused_naming_the_field_and_runs_no_sql(
    sqldb, job, tmp_path, case
):
    sqldb.run("CREATE TABLE victim (id integer)")
    sqldb.run("INSERT INTO victim VALUES (1)")
    field, reason = CRAFTED[case]
    attach_output_schema(job, {"name": "id", "type": "long"}, field)
    staged = stage(tmp_path / "out.parquet", [{"id": 1}])

    with pytest.raises(AssetError) as caught:
        publish(job, sqldb.dsn, "scores", staged)

    message = str(caught.value)
    assert message.startswith(
        f"output table 'scores': the output schema 'crafted.avsc' cannot make a table: {reason}"
    )
    assert message.endswith("; the table was left as it was")
    assert sqldb.rows("victim") == [(1,)]
    assert sqldb.tables() == {"victim"}


def test_a_staged_column_named_like_sql_is_quoted_and_never_run(sqldb, job, tmp_path):
    sqldb.run("CREATE TABLE victim (id integer)")
    name = f'x" int{DROP_VICTIM}'
    staged = stage(tmp_path / "out.parquet", [{"id": 1, name: 2}])

    publish(job, sqldb.dsn, "scores", staged)

    assert sqldb.tables() == {"victim", "scores"}
    assert sqldb.rows("scores") == [(1, 2)]
    assert sqldb.run(f'SELECT "{name.replace(chr(34), chr(34) * 2)}" FROM scores') == [(2,)]


@pytest.mark.parametrize(
    ("postgres", "sqlite"),
    [("text); DROP TABLE victim; --", "TEXT"), ("text", "TEXT); DROP TABLE victim; --"),
     ("numeric(10,2); DROP TABLE victim; --", "NUMERIC"), ("numeric(5,7)", "NUMERIC"),
     ("numeric(1001,0)", "NUMERIC")],
)  # fmt: skip
def test_a_column_type_outside_the_allow_list_is_refused(postgres, sqlite):
    with pytest.raises(ColumnError, match="column 'a': "):
        SqlColumn("a", postgres, sqlite)


# --- Functions an input may not call ---------------------------------------------------------

DENIED_CALLS = [
    ("SELECT pg_terminate_backend(pg_backend_pid())", "pg_terminate_backend"),
    ("SELECT pg_catalog.PG_CANCEL_BACKEND(1)", "pg_cancel_backend"),
    ('SELECT "pg_catalog"."pg_reload_conf"()', "pg_reload_conf"),
    ("SELECT pg_rotate_logfile()", "pg_rotate_logfile"),
    ("SELECT * FROM dblink('dbname=x', 'DELETE FROM iris') AS t(id int)", "dblink"),
    ("SELECT dblink_exec('dbname=x', 'DROP TABLE iris')", "dblink_exec"),
    ("SELECT dblink_connect('x')", "dblink_connect"),
    ("SELECT lo_import('/etc/passwd')", "lo_import"),
    ("SELECT lo_export(1, '/tmp/out')", "lo_export"),
    ("SELECT lo_unlink(1)", "lo_unlink"),
    ("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
    ("SELECT pg_advisory_xact_lock_shared(1)", "pg_advisory_xact_lock_shared"),
    ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
    ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
    ("SELECT pg_sleep(3600)", "pg_sleep"),
    ("SELECT pg_sleep_for('1 hour')", "pg_sleep_for"),
    ("SELECT nextval('seq')", "nextval"),
    ("SELECT setval('seq', 1)", "setval"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT pg_read_binary_file('/etc/passwd')", "pg_read_binary_file"),
    ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
    ("SELECT pg_stat_file('postgresql.conf')", "pg_stat_file"),
    ("SELECT pg_logical_emit_message(true, 'p', 'x')", "pg_logical_emit_message"),
    ("SELECT pg_create_logical_replication_slot('s', 'pgoutput')", "pg_create_logical_replication_slot"),
    ("SELECT pg_drop_replication_slot('s')", "pg_drop_replication_slot"),
    ("SELECT pg_switch_wal()", "pg_switch_wal"),
    ("SELECT pg_notify('channel', 'x')", "pg_notify"),
    ("SELECT txid_current()", "txid_current"),
    ("SELECT pg_current_xact_id()", "pg_current_xact_id"),
    ("SELECT query_to_xml('DELETE FROM iris RETURNING *', true, true, '')", "query_to_xml"),
    ("SELECT cursor_to_xml('c', 1, true, true, '')", "cursor_to_xml"),
    ("SELECT * FROM ts_stat('SELECT 1')", "ts_stat"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("SELECT readfile('/etc/passwd')", "readfile"),
    ("SELECT writefile('/tmp/x', 'y')", "writefile"),
    ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
    # However it is written: quoted, in capitals, with a comment or a line break before "(".
    ('SELECT "PG_SLEEP"(1)', "pg_sleep"),
    ("SELECT `pg_sleep`(1), 2", "pg_sleep"),
    ("SELECT [load_extension]('x')", "load_extension"),
    ("SELECT pg_sleep /* wait */ (10)", "pg_sleep"),
    ("SELECT pg_sleep\n-- wait\n(10)", "pg_sleep"),
    ("SELECT id FROM iris WHERE id = (SELECT PG_TERMINATE_BACKEND(1))", "pg_terminate_backend"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "function"), DENIED_CALLS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(DENIED_CALLS)]
)
def test_a_function_that_does_more_than_read_is_refused_by_name(query, function):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    with pytest.raises(ValidationError) as refused:
        location_validate(
            kind="sql", connection=connection, location="", query=query, direction="in"
        )

    assert refused.value.messages == [
        f"The query calls {function}(), which is not allowed in an input query: input queries "
        f"may only read."
    ]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT lo_price, nextval, pg_sleep FROM t",  # columns with such names are fine
        "SELECT currval('seq'), current_setting('statement_timeout')",
        "SELECT count(*) FROM pg_stat_activity",
        "SELECT substring(name FROM 1 FOR 2) FROM t",
        "SELECT \"set\", 'SET' FROM t",
        "SELECT x#>>'{a,b}', 5#3, '{}'::jsonb ? 'a' FROM t",
    ],
)
def test_a_query_that_only_reads_passes_the_check(query):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    assert location_validate(
        kind="sql", connection=connection, location="", query=query, direction="in"
    ) == query  # fmt: skip


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT 'a\\', pg_cancel_backend(1) --'", "a backslash before a quote"),
        ('SELECT 1 AS "a\\", 2 AS "b"', "a backslash before a quote"),
        ("SELECT 1 # 2", "'# ' starts a comment for this check but not for PostgreSQL"),
        ("SELECT 1 /* a /* b */ */", "a comment inside a comment"),
        ('SELECT U&"\\0070g_sleep"(1)', "U&… names and strings cannot be checked"),
        ("SELECT 'unclosed", "a quote in the statement is not closed"),
    ],
)
def test_text_the_database_could_read_differently_from_the_check_is_refused(query, reason):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    with pytest.raises(ValidationError, match="Refused before running: " + re.escape(reason)):
        location_validate(
            kind="sql", connection=connection, location="", query=query, direction="in"
        )


def test_pg_terminate_backend_and_set_config_are_refused_on_a_real_server_and_nothing_happens(
    pg, tmp_path
):
    other = psycopg.connect(pg.dsn, autocommit=True)
    pid = other.info.backend_pid
    long_count = (
        "(WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n)"
    )

    with pytest.raises(AssetError, match=r"calls pg_terminate_backend\(\), which is not allowed"):
        fetch(pg.dsn, f"SELECT pg_terminate_backend({pid})", tmp_path / "in")
    with pytest.raises(AssetError, match=r"calls set_config\(\), which is not allowed"):
        fetch(
            pg.dsn,
            f"SELECT set_config('statement_timeout', '0', false), {long_count}",
            tmp_path / "in",
            timeout=1,
        )

    assert other.execute("SELECT 1").fetchone() == (1,)  # the other session is alive
    other.close()
    assert not (tmp_path / "in" / "result.parquet").exists()


def test_the_statement_timeout_is_set_again_whatever_the_session_was_changed_to(pg):
    dsn = dsn_parse(connection_for(pg.dsn))
    timeout = Timeout(1)
    with postgres_connect(dsn, read_only=True, timeout=timeout) as conn:
        conn.execute("SELECT set_config('statement_timeout', '0', false)")  # had it slipped by

        postgres_rearm(conn, timeout)
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
                "SELECT count(*) FROM n"
            )

    assert time.monotonic() - started < 5


# --- Statement timeouts and checks that cannot finish -------------------------------------------


@pytest.mark.parametrize("seconds", [0, -5])
def test_a_connection_without_a_statement_timeout_is_refused(sqldb, job, tmp_path, seconds):
    message = (
        f"connection 'warehouse' has a statement timeout of {seconds} s; it must be at least 1"
    )
    connection = connection_for(sqldb.dsn, timeout=seconds)

    for direction, location, query in (("in", "", "SELECT 1"), ("out", "scores", "")):
        with pytest.raises(ValidationError, match="(?i)" + message):
            location_validate(
                kind="sql", connection=connection, location=location, query=query,
                direction=direction,
            )  # fmt: skip
    with pytest.raises(AssetError, match=message):
        fetch(sqldb.dsn, "SELECT 1", tmp_path / "in", timeout=seconds)
    asset = JobAsset(job=job, kind="sql", direction="out", location="scores", connection=connection)
    with pytest.raises(AssetError, match=message):
        Target(asset).publish(staged=stage(tmp_path / "out.parquet", [{"id": 1}]))

    assert sqldb.tables() == set()
    with pytest.raises(ValueError, match="whole number of seconds"):
        Timeout(0)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT " + ", ".join(f"c{i}" for i in range(12_000)) + " FROM t",  # sqlparse's tokens
        "SELECT " + "(" * 300 + "1" + ")" * 300,  # nested deeper than sqlparse goes
        "SELECT 1" + " + 1" * 40_000,  # longer than the check reads at all
    ],
    ids=["many-tokens", "deep", "long"],
)
def test_a_query_too_long_or_too_complex_to_check_is_a_validation_error(query):
    connection = connection_for("sqlite:///tmp/x.sqldb")

    with pytest.raises(ValidationError) as refused:
        location_validate(
            kind="sql", connection=connection, location="", query=query, direction="in"
        )

    assert refused.value.messages[0].startswith(
        f"The query is too long or too complex to check ({len(query):,} characters)"
    )


# --- The result's digest (an MLC process's SQL trigger) --------------------------------------


def _digest(dsn: str, query: str, *, timeout: int = 30) -> tuple[str, int]:
    asset = JobAsset(
        kind="sql", direction="in", name="trigger query", query=query,
        connection=connection_for(dsn, timeout=timeout),
    )  # fmt: skip
    return Source(asset).digest()


def test_the_digest_of_a_result_changes_with_its_rows_only(iris, settings):
    settings.JOB_CHUNK_ROWS = 3  # several chunks
    query = "SELECT id, species FROM iris ORDER BY id"
    first, rows = _digest(iris.dsn, query)
    assert rows == 10
    assert _digest(iris.dsn, query) == (first, 10)  # the same result, the same hash
    iris.run("UPDATE iris SET species = 'versicolor' WHERE id = 7")
    changed, rows = _digest(iris.dsn, query)
    assert changed != first and rows == 10
    renamed, _ = _digest(iris.dsn, "SELECT id AS key, species FROM iris ORDER BY id")
    assert renamed != changed  # the column names count too


def test_the_digest_refuses_a_statement_that_writes_and_names_the_database_reason(iris):
    with pytest.raises(AssetError, match="not DELETE"):
        _digest(iris.dsn, "DELETE FROM iris")
    with pytest.raises(AssetError, match="trigger query"):
        _digest(iris.dsn, "SELECT nope FROM iris")
