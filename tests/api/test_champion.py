"""The champion through the API: promote a snapshot, read a model's champion and history."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from models_registry.models import Promotion
from tests.api.conftest import assert_matches_schema
from tests.factories import SnapshotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(alice_model):
    return [SnapshotFactory(model=alice_model, version=v) for v in (1, 2)]


def promote(api, snapshot, **body):
    return api.post(f"/api/snapshots/{snapshot.uuid}/promote/", body, format="json")


def test_promoting_answers_the_promotion_and_the_model_shows_its_champion(
    alice_api, bob_api, versions
):
    v1, v2 = versions
    first = promote(alice_api, v1, reason="first release")
    assert first.status_code == 201, first.content
    assert_matches_schema(first)
    assert first.json()["snapshot"] == {"uuid": str(v1.uuid), "version": 1}
    assert first.json()["previous"] is None
    assert (first.json()["promoted_by"], first.json()["source"]) == ("alice", "api")
    assert first.json()["reason"] == "first release"

    second = promote(bob_api, v2)
    assert second.status_code == 201
    assert second.json()["previous"] == {"uuid": str(v1.uuid), "version": 1}

    model = alice_api.get(f"/api/models/{v1.model.uuid}/")
    assert_matches_schema(model)
    assert model.json()["champion"] == {"uuid": str(v2.uuid), "version": 2}
    listed = alice_api.get("/api/models/").json()["results"]
    assert listed[0]["champion"] == {"uuid": str(v2.uuid), "version": 2}

    history = alice_api.get(model.json()["promotions_url"])
    assert history.status_code == 200
    assert_matches_schema(history)
    rows = history.json()["results"]
    assert [(r["snapshot"]["version"], r["promoted_by"]) for r in rows] == [
        (2, "bob"),
        (1, "alice"),
    ]
    assert AuditEvent.objects.filter(action="model.promoted").count() == 2


def test_a_model_without_champion_says_null(alice_api, versions):
    answer = alice_api.get(f"/api/models/{versions[0].model.uuid}/")
    assert answer.json()["champion"] is None
    assert alice_api.get(answer.json()["promotions_url"]).json()["count"] == 0


def test_an_outsider_can_neither_promote_nor_read_the_history(charlie_api, versions):
    v1, _ = versions
    refused = promote(charlie_api, v1)
    assert refused.status_code == 404
    assert_matches_schema(refused)
    assert charlie_api.get(f"/api/models/{v1.model.uuid}/promotions/").status_code == 404
    assert not Promotion.objects.exists()


def test_promoting_needs_a_login(anon_api, versions):
    assert promote(anon_api, versions[0]).status_code == 401
    assert not Promotion.objects.exists()


def test_promoting_the_champion_again_is_a_400_that_says_why(alice_api, versions):
    assert promote(alice_api, versions[0]).status_code == 201
    again = promote(alice_api, versions[0])
    assert again.status_code == 400
    assert_matches_schema(again)
    assert "already the champion" in again.json()["detail"]


def test_a_too_long_or_odd_reason_is_a_400(alice_api, versions):
    too_long = promote(alice_api, versions[0], reason="x" * 2001)
    assert too_long.status_code == 400 and "reason" in too_long.json()
    odd = alice_api.post(
        f"/api/snapshots/{versions[0].uuid}/promote/", '["a"]', content_type="application/json"
    )
    assert odd.status_code == 400
    assert not Promotion.objects.exists()
