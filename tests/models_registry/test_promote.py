from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from models_registry.models import Promotion
from models_registry.services import snapshot_promote
from tests.factories import SnapshotFactory


@pytest.fixture
def two_versions(alice_model):
    return (
        SnapshotFactory(model=alice_model, version=1),
        SnapshotFactory(model=alice_model, version=2),
    )


def test_promoting_makes_the_snapshot_champion_and_records_who_and_from_what(
    alice, bob, two_versions
):
    v1, v2 = two_versions
    first = snapshot_promote(snapshot=v1, user=alice, source="page", reason="first release")
    second = snapshot_promote(snapshot=v2, user=bob, source="api")
    v1.model.refresh_from_db()
    assert v1.model.champion == v2
    assert (first.previous, first.promoted_by, first.reason) == (None, alice, "first release")
    assert (second.previous, second.promoted_by, second.source) == (v1, bob, "api")
    assert list(v1.model.promotions.all()) == [second, first]  # newest first


def test_a_promotion_is_audited(alice, two_versions):
    v1, _ = two_versions
    snapshot_promote(snapshot=v1, user=alice, source="cli", reason="why not")
    event = AuditEvent.objects.get(action="model.promoted")
    assert event.actor == alice
    assert event.object_id == str(v1.model.uuid)
    assert event.details["version"] == 1
    assert event.details["previous"] is None
    assert event.details["source"] == "cli"
    assert event.details["reason"] == "why not"


def test_an_outsider_may_not_promote_and_nothing_changes(charlie, two_versions):
    v1, _ = two_versions
    with pytest.raises(PermissionDenied, match="may not change"):
        snapshot_promote(snapshot=v1, user=charlie, source="api")
    v1.model.refresh_from_db()
    assert v1.model.champion is None
    assert not Promotion.objects.exists()
    assert not AuditEvent.objects.filter(action="model.promoted").exists()


def test_staff_may_promote_any_model(staff, two_versions):
    v1, _ = two_versions
    assert snapshot_promote(snapshot=v1, user=staff, source="admin").promoted_by == staff


def test_promoting_the_champion_again_is_refused(alice, two_versions):
    v1, _ = two_versions
    snapshot_promote(snapshot=v1, user=alice, source="page")
    with pytest.raises(ValidationError, match="already the champion"):
        snapshot_promote(snapshot=v1, user=alice, source="page")
    assert Promotion.objects.count() == 1


def test_a_process_promotes_without_a_user_once_per_run(two_versions):
    v1, _ = two_versions
    run = uuid.uuid4()
    first = snapshot_promote(snapshot=v1, source="process", process_run=run, reason="gate")
    again = snapshot_promote(snapshot=v1, source="process", process_run=run)
    assert again == first
    assert Promotion.objects.count() == 1
    assert AuditEvent.objects.get(action="model.promoted").actor is None
    assert first.process_run == run


def test_without_a_user_only_a_process_may_promote(two_versions):
    with pytest.raises(ValidationError, match="Only a process"):
        snapshot_promote(snapshot=two_versions[0], source="api")


def test_an_unknown_source_is_refused(alice, two_versions):
    with pytest.raises(ValidationError, match="Unknown promotion source"):
        snapshot_promote(snapshot=two_versions[0], user=alice, source="email")
