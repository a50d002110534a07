"""`moc model promote`, the champion in `moc model show|list`, and `moc job create` on a model
running its champion (its newest snapshot when it has none), through the real `moc` against a
live server. Most jobs are only created (placed on a runtime with a heartbeat, no worker); the
last test runs one through a real worker and reads which version scored from its records."""

from __future__ import annotations

import json

import pytest

from jobs.models import Job
from models_registry.models import Promotion
from models_registry.services import (
    model_create,
    snapshot_add_version,
    snapshot_create,
    snapshot_promote,
)
from tests.cli.conftest import assert_error, last_word
from tests.demo import demo_snapshot
from tests.factories import ECHO_SOURCE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_versions(alice, team_alpha, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    first = demo_snapshot(owner=alice, team=team_alpha)
    second = snapshot_add_version(
        model=first.model, created_by=alice, source_name=first.source_name, source=first.source
    )
    return first, second


def test_promote_makes_the_champion_and_show_and_list_say_so(moc, two_versions):
    v1, v2 = two_versions
    model_uuid = str(v1.model.uuid)

    promoted = moc("model", "promote", str(v1.uuid), "--reason", "validated on Q3 data")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.strip() == "iris v1 is now the champion (it had none)."
    again = moc("model", "promote", str(v2.uuid))
    assert again.stdout.strip() == "iris v2 is now the champion (was v1)."
    promotion = Promotion.objects.filter(snapshot=v1).get()
    assert (promotion.source, promotion.promoted_by.username) == ("cli", "alice")
    assert promotion.reason == "validated on Q3 data"

    shown = moc("model", "show", model_uuid)
    assert shown.returncode == 0, shown.stderr
    assert "Champion:" in shown.stdout and f"v2 {v2.uuid}" in shown.stdout
    history = shown.stdout[shown.stdout.index("PROMOTED") :].splitlines()
    assert history[1].split()[2:6] == ["v2", "v1", "alice", "cli"]
    assert history[2].split()[2:6] == ["v1", "none", "alice", "cli"]
    assert "validated on Q3 data" in history[2]
    listed = moc("model", "list").stdout.splitlines()
    assert "CHAMPION" in listed[0] and " v2 " in listed[1]
    assert json.loads(moc("model", "show", model_uuid, "--json").stdout)["champion"] == {
        "uuid": str(v2.uuid),
        "version": 2,
    }


def test_promoting_the_champion_again_exits_6_with_the_reason(moc, alice, two_versions):
    v1, _ = two_versions
    snapshot_promote(snapshot=v1, user=alice, source="page")
    assert_error(moc("model", "promote", str(v1.uuid)), 6, "already the champion")


def test_an_outsider_cannot_promote(make_moc, charlie, two_versions):
    assert_error(make_moc(charlie)("model", "promote", str(two_versions[0].uuid)), 3, "not found")
    assert not Promotion.objects.exists()


@pytest.mark.usefixtures("default_runtime_online")
def test_job_create_on_a_model_runs_its_champion_and_says_so(moc, alice, two_versions, iris_sample):
    v1, v2 = two_versions
    model_uuid = str(v1.model.uuid)

    newest = moc("job", "create", "batchjob", model_uuid, str(iris_sample), "out.jsonl")
    assert Job.objects.get(uuid=last_word(newest)).snapshot == v2
    assert "iris v2 (its newest snapshot; the model has no champion)" in newest.stdout

    snapshot_promote(snapshot=v1, user=alice, source="page")
    champion = moc("job", "create", "batchjob", model_uuid, str(iris_sample), "out.jsonl")
    assert Job.objects.get(uuid=last_word(champion)).snapshot == v1
    assert "iris v1 (the model's champion)" in champion.stdout

    by_snapshot = moc("job", "create", "batchjob", str(v2.uuid), str(iris_sample), "out.jsonl")
    assert Job.objects.get(uuid=last_word(by_snapshot)).snapshot == v2
    assert "job on iris v2, runtime" in by_snapshot.stdout


@pytest.mark.worker
def test_a_job_on_the_model_scores_with_the_champion_through_a_worker(
    celery_worker, moc, alice, team_alpha, tmp_path
):
    # v1 doubles x, v2 triples it: the records tell which version scored.
    model = model_create(
        owner=alice, team=team_alpha, name="echo", source_name="echo.py", source=ECHO_SOURCE
    )
    v1 = model.latest_snapshot()
    snapshot_create(
        model=model, created_by=alice, source_name="echo.py",
        source=ECHO_SOURCE.replace("factor = 2", "factor = 3"), parent=v1,
    )  # fmt: skip
    snapshot_promote(snapshot=v1, user=alice, source="page", reason="v2 is not reviewed yet")
    data = tmp_path / "in.jsonl"
    data.write_text('{"x": 5}\n')

    created = moc("job", "create", "batchjob", str(model.uuid), str(data), "out.jsonl", "--wait")

    assert created.returncode == 0, created.stderr
    assert "echo v1 (the model's champion)" in created.stdout
    result = moc("job", "result", last_word(created))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["doubled"] == 10  # v1's factor 2, not 3
