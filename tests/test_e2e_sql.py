"""SQL inputs and outputs through a real Celery worker: a scoring job with the demo model reads
iris rows from a PostgreSQL table and writes its predictions into another one.

The PostgreSQL data lives in a scratch database of its own (see tests/jobs/test_assets_sql.py),
whatever database Django's tables are in; without PostgreSQL these tests are skipped."""

from __future__ import annotations

import psycopg
import pytest
from django.core.exceptions import ValidationError

from jobs.models import Connection, Job, JobAsset, JobStatus
from jobs.services import InputSpec, OutputSpec, job_submit
from models_registry import demo
from tests.conftest import wait_for_job
from tests.demo import demo_snapshot
from tests.jobs.test_assets_sql import PASSWORD, postgres_dsn  # noqa: F401 - a fixture

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SPECIES = {"setosa", "versicolor", "virginica"}
COLUMNS = "id, sepal_length, sepal_width, petal_length, petal_width"


@pytest.fixture
def warehouse(postgres_dsn):  # noqa: F811
    """The iris measurements in a PostgreSQL table, and a connection to reach them."""
    conn = psycopg.connect(postgres_dsn, autocommit=True)
    conn.execute(
        "CREATE TABLE iris (id bigint PRIMARY KEY, sepal_length double precision, "
        "sepal_width double precision, petal_length double precision, "
        "petal_width double precision)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO iris ({COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
            [tuple(row.values()) for row in demo.sample_rows()],
        )
    connection = Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=postgres_dsn, statement_timeout_seconds=30
    )
    connection.db = conn
    yield connection
    conn.execute("DROP SCHEMA public CASCADE")
    conn.execute("CREATE SCHEMA public")
    conn.close()


def count(connection: Connection, table: str) -> int:
    return connection.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def score(user, snapshot, connection, query: str, *, table: str, mode: str) -> Job:
    return job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.SQL, connection=connection, query=query)],
        output=OutputSpec(
            kind=JobAsset.Kind.SQL, connection=connection, location=table, write_mode=mode
        ),
        input_schema="input_schema.avsc",
        output_schema="output_schema.avsc",
        check_input_schema=True,
    )


def test_a_scoring_job_reads_a_table_and_replaces_then_appends_predictions(
    celery_worker, warehouse, alice, team_alpha
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    job = wait_for_job(
        score(alice, snapshot, warehouse, f"SELECT {COLUMNS} FROM iris ORDER BY id;",
              table="predictions", mode="replace")
    )  # fmt: skip

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.records_read, job.records_written, job.records_rejected) == (150, 150, 0)
    assert job.output_asset().published == {"table": "predictions", "mode": "replace", "rows": 150}
    rows = warehouse.db.execute(
        "SELECT id, predicted_species, probability FROM predictions ORDER BY id"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, 151))
    assert {r[1] for r in rows} <= SPECIES
    assert all(0 < r[2] <= 1 for r in rows)

    appended = wait_for_job(
        score(alice, snapshot, warehouse, f"WITH few AS (SELECT {COLUMNS} FROM iris "
              "WHERE id <= 10) SELECT * FROM few", table="predictions", mode="append")
    )  # fmt: skip

    assert appended.status == JobStatus.COMPLETE, appended.error_message
    assert count(warehouse, "predictions") == 160
    assert count(warehouse, "predictions WHERE id <= 10") == 20


def test_sql_that_writes_is_refused_at_submit(warehouse, alice, team_alpha):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    with pytest.raises(ValidationError, match="Refused before running: DELETE"):
        score(alice, snapshot, warehouse,
              f"WITH gone AS (DELETE FROM iris RETURNING *) SELECT {COLUMNS} FROM gone",
              table="predictions", mode="replace")  # fmt: skip

    assert not Job.objects.exists()
    assert count(warehouse, "iris") == 150


def test_a_select_that_fails_at_run_time_ends_the_job_in_error(
    celery_worker, warehouse, alice, team_alpha
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    job = wait_for_job(
        score(alice, snapshot, warehouse, "SELECT * FROM irises", table="predictions",
              mode="replace")
    )  # fmt: skip

    assert job.status == JobStatus.ERROR
    assert job.error_message.startswith(
        "input 'SQL on warehouse': relation \"irises\" does not exist"
    )
    assert PASSWORD not in job.error_message + job.log


def test_a_write_that_fails_at_run_time_leaves_the_target_table_as_it_was(
    celery_worker, warehouse, alice, team_alpha
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    # A column the model's output lacks, which may not be null: every row fails.
    warehouse.db.execute(
        "CREATE TABLE reviewed AS SELECT *, 'setosa'::text AS predicted_species, "
        "1.0::double precision AS probability, 'alice'::text AS reviewer FROM iris "
        "WHERE id <= 5"
    )
    warehouse.db.execute("ALTER TABLE reviewed ALTER COLUMN reviewer SET NOT NULL")
    before = warehouse.db.execute("SELECT * FROM reviewed ORDER BY id").fetchall()

    job = wait_for_job(
        score(alice, snapshot, warehouse, f"SELECT {COLUMNS} FROM iris", table="reviewed",
              mode="append")
    )  # fmt: skip

    assert job.status == JobStatus.ERROR
    assert job.error_message.startswith("output table 'reviewed': ")
    assert 'column "reviewer"' in job.error_message
    assert "left as it was" in job.error_message
    assert PASSWORD not in job.error_message + job.log
    assert warehouse.db.execute("SELECT * FROM reviewed ORDER BY id").fetchall() == before
