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


def test_the_job_list_pages_with_a_bounded_count_and_no_count_of_every_job(
    alice_api, alice, alice_snapshot, monkeypatch
):
    from api.pagination import BoundedCountPagination
    from tests.jobs.test_job_list_rows import make_job

    monkeypatch.setattr(BoundedCountPagination, "counted", 4)
    jobs = [make_job(alice_snapshot, alice) for _ in range(7)]
    with CaptureQueriesContext(connection) as captured:
        first = alice_api.get("/api/jobs/?page_size=3")
    assert first.status_code == 200
    body = first.json()
    assert (body["count"], body["count_capped"], body["previous"]) == (4, True, None)
    assert [j["uuid"] for j in body["results"]] == [str(j.uuid) for j in jobs[::-1][:3]]
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"]]
    assert counts and all("LIMIT" in sql for sql in counts)

    seen = [j["uuid"] for j in body["results"]]
    while body["next"]:
        body = alice_api.get(body["next"]).json()
        assert body["previous"]
        seen += [j["uuid"] for j in body["results"]]
    assert seen == [str(j.uuid) for j in jobs[::-1]]
    assert alice_api.get("/api/jobs/?page=9").status_code == 404
    assert alice_api.get("/api/jobs/?page=x").status_code == 404

    monkeypatch.setattr(BoundedCountPagination, "counted", 100)
    whole = alice_api.get("/api/jobs/").json()
    assert (whole["count"], whole["count_capped"], whole["next"]) == (7, False, None)
