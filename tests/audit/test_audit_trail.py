"""The audit trail: who registered snapshots, created, cancelled or re-ran jobs, changed
connections, and when; the staff page and the short History lists."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_record
from jobs.models import Connection, JobAsset
from jobs.services import InputSpec, job_cancel, job_rerun, job_submit
from models_registry.services import model_create, snapshot_create
from tests.conftest import PASSWORD

SOURCE = "# modelop.score\ndef score(r):\n    yield r\n"
EMBEDDED = InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"x": 1}\n')
DSN_PASSWORD = "pw-audit-never-shown-71"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("jobs.services.placement.job_enqueue", lambda *, job_uuid, queue: True)


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("at", "id").values_list("action", flat=True))


def register(owner, team):
    return model_create(
        owner=owner, team=team, name="echo", source_name="model.py", source=SOURCE,
        attachments=[ContentFile(b"{}", name="input_schema.avsc")],
    )  # fmt: skip


def test_registering_a_model_records_the_model_and_its_snapshot(alice, team_alpha):
    model = register(alice, team_alpha)

    snapshot_event, model_event = AuditEvent.objects.order_by("at", "id")
    assert (snapshot_event.action, snapshot_event.actor, snapshot_event.object_type) == (
        "snapshot.registered", alice, "snapshot",
    )  # fmt: skip
    assert snapshot_event.object_id == str(model.latest_snapshot().uuid)
    assert snapshot_event.details["attachments"] == ["input_schema.avsc"]
    assert (model_event.action, model_event.object_label) == ("model.created", "echo")


def test_a_refused_registration_records_nothing(alice, team_alpha):
    with pytest.raises(Exception):  # noqa: B017  (ValidationError: no tagged functions)
        model_create(owner=alice, team=team_alpha, name="x", source_name="m.py", source="x = 1\n")

    assert actions() == []


def test_a_new_snapshot_records_who_registered_it(alice, bob, team_alpha):
    model = register(alice, team_alpha)
    snapshot = snapshot_create(model=model, created_by=bob, source_name="model.py", source=SOURCE)

    event = AuditEvent.objects.get(object_id=str(snapshot.uuid))
    assert (event.action, event.actor_name, event.details["version"]) == (
        "snapshot.registered", "bob", 2,
    )  # fmt: skip


def test_job_created_cancelled_and_rerun_are_recorded_once(alice, bob, alice_snapshot):
    job = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED], idempotency_key="k")
    job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED], idempotency_key="k")
    assert job_cancel(job=job, by=bob)
    assert not job_cancel(job=job, by=bob)  # already ended: no effect, no event
    new_job = job_rerun(job=job, user=alice)

    assert actions() == ["job.created", "job.cancelled", "job.created", "job.rerun"]
    cancelled = AuditEvent.objects.get(action="job.cancelled")
    assert (cancelled.actor, cancelled.object_id) == (bob, str(job.uuid))
    rerun = AuditEvent.objects.get(action="job.rerun")
    assert rerun.details == {"new_job": str(new_job.uuid)}
    created = AuditEvent.objects.filter(action="job.created").order_by("at", "id").last()
    assert created.details["rerun_of"] == str(job.uuid)
    assert created.details["snapshot"] == str(alice_snapshot.uuid)


def test_a_system_event_has_no_actor(db):
    event = audit_record(action="job.recovered", object_type="job", object_id="x")

    assert event.actor is None and str(event).split()[2] == "system"


def test_events_made_during_a_request_carry_the_client_address(alice_client, alice_snapshot):
    job = job_submit(user=alice_snapshot.model.owner, snapshot=alice_snapshot, inputs=[EMBEDDED])

    alice_client.post(reverse("jobs-cancel", args=[job.uuid]), REMOTE_ADDR="10.1.2.3")

    assert AuditEvent.objects.get(action="job.cancelled").ip == "10.1.2.3"


# --- Connections in the admin ----------------------------------------------------------------


def _connection_form(**values) -> dict:
    data = {
        "name": "warehouse", "kind": "sql", "description": "", "endpoint_url": "", "region": "",
        "access_key_id": "", "secret_access_key": "", "webhdfs_url": "", "hdfs_user": "",
        "dsn": "", "statement_timeout_seconds": 30,
    }  # fmt: skip
    return {**data, **values}


def test_connection_changes_list_field_names_never_values(admin_client, staff):
    dsn = f"postgresql://reporter:{DSN_PASSWORD}@db.internal:5432/warehouse"
    add = admin_client.post(reverse("admin:jobs_connection_add"), _connection_form(dsn=dsn))
    assert add.status_code == 302, add.content.decode()[:2000]
    connection = Connection.objects.get(name="warehouse")
    change_url = reverse("admin:jobs_connection_change", args=[connection.pk])

    admin_client.post(change_url, _connection_form(description="nightly"))  # DSN kept
    admin_client.post(change_url, _connection_form(description="nightly"))  # nothing changed
    admin_client.post(change_url, _connection_form(description="nightly", dsn=dsn + "x"))
    admin_client.post(
        reverse("admin:jobs_connection_delete", args=[connection.pk]), {"post": "yes"}
    )

    assert actions() == [
        "connection.created", "connection.changed", "connection.changed", "connection.deleted",
    ]  # fmt: skip
    changes = AuditEvent.objects.filter(action="connection.changed").order_by("at", "id")
    assert [e.details["fields"] for e in changes] == [["description"], ["dsn"]]
    assert {e.actor for e in AuditEvent.objects.all()} == {staff}
    for event in AuditEvent.objects.all():
        assert DSN_PASSWORD not in str(event.details) + event.object_label


# --- Pages -----------------------------------------------------------------------------------


def test_the_audit_page_is_for_staff_only(alice_client):
    assert alice_client.get(reverse("audit-list")).status_code == 403


def test_the_audit_page_filters_by_actor_and_action_newest_first(
    admin_client, alice, bob, alice_snapshot
):
    first = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED])
    second = job_submit(user=bob, snapshot=alice_snapshot, inputs=[EMBEDDED])
    job_cancel(job=first, by=bob)

    response = admin_client.get(reverse("audit-list"))
    shown = [(e.action, e.object_id) for e in response.context["page"].object_list]
    assert shown == [
        ("job.cancelled", str(first.uuid)), ("job.created", str(second.uuid)),
        ("job.created", str(first.uuid)),
    ]  # fmt: skip
    assert 'href="/audit/"' in response.content.decode()  # the nav link for staff

    bobs = admin_client.get(reverse("audit-list"), {"actor": "bob"}).content.decode()
    assert str(second.uuid) in bobs and "job.cancelled" in bobs
    created = admin_client.get(reverse("audit-list"), {"action": "job.created"})
    assert created.context["page"].paginator.count == 2
    by_prefix = admin_client.get(reverse("audit-list"), {"action": "job."})
    assert by_prefix.context["page"].paginator.count == 3
    assert admin_client.get(reverse("audit-list"), {"page": "999x"}).status_code == 200


def test_the_nav_has_no_audit_link_for_others(alice_client):
    assert 'href="/audit/"' not in alice_client.get(reverse("jobs-list")).content.decode()


def test_job_and_snapshot_pages_show_their_history(alice_client, alice, bob, alice_snapshot):
    job = job_submit(user=alice, snapshot=alice_snapshot, inputs=[EMBEDDED])
    job_cancel(job=job, by=bob)

    job_page = alice_client.get(job.get_absolute_url()).content.decode()
    history = job_page[job_page.index("<h2>History</h2>") :]
    assert "job.cancelled" in history and "job.created" in history
    assert history.index("bob") < history.index("alice")  # newest first

    snapshot_page = alice_client.get(alice_snapshot.get_absolute_url()).content.decode()
    history = snapshot_page[snapshot_page.index("<h2>History</h2>") :]
    assert "job.created" in history and str(job.uuid) in history


# --- Log-ins ---------------------------------------------------------------------------------


def test_a_failed_login_is_recorded_with_the_name_tried_not_the_password(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": "wrong-pw-123"})

    event = AuditEvent.objects.get(action="login.failed")
    assert (event.object_label, event.actor) == ("alice", None)
    assert "wrong-pw-123" not in str(event.details)
    assert client.login(username="alice", password=PASSWORD)
