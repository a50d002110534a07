"""`moc job list --search/--sort` and the API's ?q= and ?sort=, as the web list has them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from tests.factories import ModelFactory, SnapshotFactory, UserFactory
from tests.jobs.test_job_list_rows import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def _ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


def _listed(moc, *args: str) -> list[str]:
    result = moc("job", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [job["uuid"] for job in json.loads(result.stdout)]


def test_search_by_model_input_name_or_user(moc, alice, bob, team_alpha):
    credit = SnapshotFactory(model=ModelFactory(owner=alice, team=team_alpha, name="Credit"))
    iris = SnapshotFactory(model=ModelFactory(owner=alice, team=team_alpha, name="Iris"))
    by_model = make_job(credit, alice)
    by_input = make_job(iris, alice, input_name="credit_test.csv")
    by_user = make_job(iris, UserFactory(username="creditor"))
    other = make_job(iris, bob)
    found = _listed(moc, "--search", "credit")
    assert sorted(found) == sorted(str(j.uuid) for j in (by_model, by_input, by_user))
    assert _listed(moc, "--search", "bob") == [str(other.uuid)]
    assert _listed(moc, "--search", "nothing like it") == []


def test_sort_by_created_duration_and_status(moc, alice, alice_snapshot):
    short = make_job(alice_snapshot, alice, status=JobStatus.COMPLETE, started_at=_ago(20),
                     finished_at=_ago(18))  # fmt: skip
    long = make_job(alice_snapshot, alice, status=JobStatus.ERROR, started_at=_ago(600),
                    finished_at=_ago(10))  # fmt: skip
    waiting = make_job(alice_snapshot, alice, status=JobStatus.WAITING)
    ids = {str(j.uuid): name for j, name in ((short, "short"), (long, "long"),
                                              (waiting, "waiting"))}  # fmt: skip

    def order(*args: str) -> list[str]:
        return [ids[u] for u in _listed(moc, *args)]

    assert order() == ["waiting", "long", "short"]
    assert order("--sort", "created") == ["short", "long", "waiting"]
    assert order("--sort", "-duration") == ["long", "short", "waiting"]
    assert order("--sort", "duration") == ["short", "long", "waiting"]
    assert order("--sort", "status") == ["short", "long", "waiting"]


def test_a_bad_sort_is_a_usage_error_and_the_api_says_why(moc, alice_client):
    result = moc("job", "list", "--sort", "password")
    assert result.returncode == 2 and "password" in result.stderr
    answer = alice_client.get("/api/jobs/", {"sort": "password"})
    assert answer.status_code == 400 and "sort" in answer.json()
