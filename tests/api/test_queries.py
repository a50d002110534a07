"""List pages cost a fixed number of queries, however many rows they show."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_registry.models import Model
from tests.factories import SnapshotFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_runtime_online")]

EMBEDDED = {"kind": "embedded", "data": '{"x": 1}\n'}


def queries(api, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        answer = api.get(url)
    assert answer.status_code == 200
    return len(captured)


def test_the_job_list_costs_the_same_for_2_or_20_jobs(alice_api, alice_snapshot):
    def add(n: int) -> None:
        for _ in range(n):
            body = {"snapshot": str(alice_snapshot.uuid), "inputs": [EMBEDDED]}
            assert alice_api.post("/api/jobs/", body, format="json").status_code == 201

    add(2)
    few = queries(alice_api, "/api/jobs/")
    add(18)
    assert queries(alice_api, "/api/jobs/") == few


def test_the_model_list_costs_the_same_for_2_or_20_models(alice_api, alice, team_alpha):
    def add(n: int) -> None:
        for _ in range(n):
            SnapshotFactory(model=Model.objects.create(name="m", owner=alice, team=team_alpha))

    add(2)
    few = queries(alice_api, "/api/models/")
    add(18)
    assert queries(alice_api, "/api/models/") == few
