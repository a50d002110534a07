"""The Connection admin: secrets are write-only, and a connection can be tested from it."""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.assets import AssetError
from jobs.models import Connection, Job, JobAsset
from jobs.services import runtime_default
from tests.factories import GroupFactory

S3_SECRET = "s3cr3t-KEY-d0-not-show-9f8e7d"
DSN_PASSWORD = "pw-Zq81-never-shown"
DSN = f"postgresql://reporter:{DSN_PASSWORD}@db.internal:5432/warehouse"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def s3_connection(db):
    return Connection.objects.create(
        name="lake", kind="s3", endpoint_url="http://minio:9000", region="eu-west-1",
        access_key_id="AKIAEXAMPLE", secret_access_key=S3_SECRET,
    )  # fmt: skip


@pytest.fixture
def sql_connection(db):
    return Connection.objects.create(name="warehouse", kind="sql", dsn=DSN)


def change_url(connection: Connection) -> str:
    return reverse("admin:jobs_connection_change", args=[connection.pk])


def form_data(connection: Connection, **changes) -> dict:
    """What the change form posts when the person edits nothing (secrets left blank)."""
    data = {
        "name": connection.name, "kind": connection.kind, "description": connection.description,
        "endpoint_url": connection.endpoint_url, "region": connection.region,
        "access_key_id": connection.access_key_id, "secret_access_key": "",
        "webhdfs_url": connection.webhdfs_url, "hdfs_user": connection.hdfs_user, "dsn": "",
        "statement_timeout_seconds": connection.statement_timeout_seconds,
    }  # fmt: skip
    return {**data, **changes}


# --- Secrets are write-only ------------------------------------------------------------------


def test_change_and_list_pages_never_show_the_secrets(admin_client, s3_connection, sql_connection):
    pages = [
        admin_client.get(change_url(s3_connection)),
        admin_client.get(change_url(sql_connection)),
        admin_client.get(reverse("admin:jobs_connection_changelist")),
        admin_client.get(reverse("admin:jobs_connection_changelist"), {"q": "lake"}),
    ]
    for response in pages:
        assert response.status_code == 200
        for secret in (S3_SECRET, DSN, DSN_PASSWORD):
            assert secret not in response.text
    assert "AKIAEXAMPLE" in pages[0].text  # the key id is not a secret
    assert "set — leave blank to keep" in pages[0].text
    assert 'type="password" name="secret_access_key"' in pages[0].text
    assert 'type="password" name="dsn"' in pages[1].text


def test_blank_secret_on_change_keeps_the_stored_value(admin_client, s3_connection):
    response = admin_client.post(change_url(s3_connection), form_data(s3_connection, region="x"))
    assert response.status_code == 302, response.text[:3000]
    s3_connection.refresh_from_db()
    assert (s3_connection.region, s3_connection.secret_access_key) == ("x", S3_SECRET)


def test_a_new_secret_replaces_the_stored_one(admin_client, sql_connection):
    new_dsn = "sqlite:////tmp/other.db"
    admin_client.post(change_url(sql_connection), form_data(sql_connection, dsn=new_dsn))
    sql_connection.refresh_from_db()
    assert sql_connection.dsn == new_dsn


def test_the_clear_box_removes_a_stored_secret(admin_client, s3_connection):
    data = form_data(s3_connection, clear_secret_access_key="on")
    assert admin_client.post(change_url(s3_connection), data).status_code == 302
    s3_connection.refresh_from_db()
    assert s3_connection.secret_access_key == ""
    page = admin_client.get(change_url(s3_connection)).text
    assert "set — leave blank to keep" not in page and "clear_secret_access_key" not in page


def test_adding_a_connection_with_teams(admin_client):
    team = GroupFactory(name="alpha")
    data = {
        **form_data(Connection(name="hdfs-prod", kind="hdfs", webhdfs_url="http://nn:9870")),
        "teams": [team.pk],
    }
    response = admin_client.post(reverse("admin:jobs_connection_add"), data)
    assert response.status_code == 302, response.text[:3000]
    connection = Connection.objects.get(name="hdfs-prod")
    assert list(connection.teams.all()) == [team] and connection.hdfs_user == ""
    page = admin_client.get(change_url(connection)).text
    assert "filter_horizontal" in page or "selectfilter" in page.lower()
    assert "not set" in page


def test_connection_admin_is_staff_only(client, alice, s3_connection):
    client.force_login(alice)
    response = client.get(change_url(s3_connection))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- Test connection ------------------------------------------------------------------------


def button_url(connection: Connection) -> str:
    return reverse("admin:jobs_connection_test", args=[connection.pk])


def test_the_button_reports_success(admin_client, s3_connection, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "jobs.assets.connection_test", lambda c: seen.append(c) or "bucket listing works"
    )
    page = admin_client.get(change_url(s3_connection)).text
    assert f'action="{button_url(s3_connection)}"' in page and "Test connection" in page
    response = admin_client.post(button_url(s3_connection), follow=True)
    assert seen == [s3_connection]
    assert response.redirect_chain[-1][0] == change_url(s3_connection)
    assert "Reached lake: bucket listing works" in response.text
    assert 'class="success"' in response.text


@pytest.mark.parametrize(
    "error",
    [
        AssetError(f"access denied with {S3_SECRET}"),
        ValidationError(f"bad endpoint, key {S3_SECRET}"),
        RuntimeError(f"boom {S3_SECRET}"),
    ],
    ids=["asset-error", "validation-error", "any-exception"],
)
def test_the_button_reports_failure_without_the_secret(
    admin_client, s3_connection, monkeypatch, error
):
    def failing(connection):
        raise error

    monkeypatch.setattr("jobs.assets.connection_test", failing)
    response = admin_client.post(button_url(s3_connection), follow=True)
    assert response.status_code == 200
    assert "Could not reach lake:" in response.text and 'class="error"' in response.text
    assert S3_SECRET not in response.text and "•••" in response.text


def test_a_dsn_password_is_scrubbed_from_failures(admin_client, sql_connection, monkeypatch):
    def failing(connection):
        raise AssetError(f"could not connect: password {DSN_PASSWORD} rejected")

    monkeypatch.setattr("jobs.assets.connection_test", failing)
    response = admin_client.post(button_url(sql_connection), follow=True)
    assert "could not connect: password ••• rejected" in response.text
    assert DSN_PASSWORD not in response.text


def test_the_test_view_needs_post(admin_client, s3_connection, monkeypatch):
    monkeypatch.setattr("jobs.assets.connection_test", pytest.fail)
    assert admin_client.get(button_url(s3_connection)).status_code == 405


def test_the_test_view_is_staff_only(client, alice, s3_connection, monkeypatch):
    monkeypatch.setattr("jobs.assets.connection_test", pytest.fail)
    client.force_login(alice)
    assert client.post(button_url(s3_connection)).status_code == 302  # to the admin login


def test_the_action_tests_every_selected_connection(
    admin_client, s3_connection, sql_connection, monkeypatch
):
    def fake_test(connection):
        if connection.kind == "sql":
            raise AssetError("timeout")
        return "ok"

    monkeypatch.setattr("jobs.assets.connection_test", fake_test)
    response = admin_client.post(
        reverse("admin:jobs_connection_changelist"),
        {"action": "test_connections", "_selected_action": [s3_connection.pk, sql_connection.pk]},
        follow=True,
    )
    assert "Reached lake: ok" in response.text
    assert "Could not reach warehouse: timeout" in response.text


def test_a_kind_whose_module_is_missing_is_reported_not_raised(
    admin_client, s3_connection, monkeypatch
):
    def missing(connection):
        raise ModuleNotFoundError("No module named 'jobs.assets.s3'")

    monkeypatch.setattr("jobs.assets.connection_test", missing)
    response = admin_client.post(button_url(s3_connection), follow=True)
    assert "are not supported yet" in response.text


def test_a_real_sqlite_connection_can_be_tested(admin_client, tmp_path):
    """Through the real SQL kind, once its module (written separately) is there."""
    import sqlite3

    if importlib.util.find_spec("jobs.assets.sql") is None:
        pytest.skip("jobs.assets.sql is not there yet")
    if not hasattr(importlib.import_module("jobs.assets.sql"), "connection_test"):
        pytest.skip("jobs.assets.sql has no connection_test yet")
    path = tmp_path / "data.db"
    sqlite3.connect(path).close()
    connection = Connection.objects.create(name="local", kind="sql", dsn=f"sqlite:///{path}")
    response = admin_client.post(button_url(connection), follow=True)
    assert "Reached local" in response.text, response.text[-3000:]


# --- Job assets in the admin ---------------------------------------------------------------


def test_job_asset_admin_shows_connection_location_and_query(
    admin_client, alice_snapshot, alice, sql_connection
):
    job = Job.objects.create(snapshot=alice_snapshot, created_by=alice, runtime=runtime_default())
    asset = JobAsset.objects.create(
        job=job, direction="in", kind="sql", connection=sql_connection,
        query="SELECT id FROM customers", format="parquet",
    )  # fmt: skip
    listing = admin_client.get(reverse("admin:jobs_jobasset_changelist")).text
    assert "warehouse" in listing
    page = admin_client.get(reverse("admin:jobs_jobasset_change", args=[asset.pk])).text
    assert "SELECT id FROM customers" in page
    job_page = admin_client.get(reverse("admin:jobs_job_change", args=[job.pk])).text
    assert "SELECT id FROM customers" in job_page and DSN_PASSWORD not in job_page


# --- The statement timeout -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "reason"),
    [(0, "A statement timeout is at least 1 second."), (-1, "greater than or equal to 0")],
)
def test_a_statement_timeout_under_one_second_is_refused(
    admin_client, sql_connection, seconds, reason
):
    response = admin_client.post(
        change_url(sql_connection), form_data(sql_connection, statement_timeout_seconds=seconds)
    )

    assert response.status_code == 200
    assert reason in response.text
    sql_connection.refresh_from_db()
    assert sql_connection.statement_timeout_seconds == 300
    sql_connection.statement_timeout_seconds = 0
    with pytest.raises(ValidationError, match="A statement timeout is at least 1 second."):
        sql_connection.full_clean()
