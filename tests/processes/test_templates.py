from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from jobs.models import Upload
from processes import bpmn
from processes.models import Process, Template, Trigger
from processes.services import process_create_from_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    up = Upload(owner=alice, name="data.csv", size=4)
    up.file.save("data.csv", ContentFile(b"a,b\n"), save=True)
    return up


def test_scheduled_scoring_scores_with_the_champion_on_its_cron(alice, alice_snapshot, upload):
    process = process_create_from_template(
        user=alice, name="", template=Template.SCHEDULED_SCORING, cron="0 2 * * *",
        values={"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid)},
    )  # fmt: skip
    assert process.name == "Scheduled scoring: echo"
    assert process.settings["steps"]["score"]["snapshot"] == "champion"
    assert bpmn.steps_in_order(process.bpmn_xml) == [("score", "Score with the champion")]
    schedule = process.triggers.get(kind=Trigger.Kind.SCHEDULE)
    assert schedule.cron == "0 2 * * *"


def test_a_bad_cron_is_refused_and_nothing_is_made(alice, alice_snapshot, upload):
    with pytest.raises(ValidationError, match="is not a cron expression"):
        process_create_from_template(
            user=alice, name="", template=Template.SCHEDULED_SCORING, cron="every day",
            values={"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid)},
        )  # fmt: skip
    assert not Process.objects.exists()


def test_champion_challenger_runs_on_a_new_snapshot(alice, alice_snapshot, upload):
    process = process_create_from_template(
        user=alice, name="", template=Template.CHAMPION_CHALLENGER,
        values={"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid)},
    )  # fmt: skip
    assert [i for i, _ in bpmn.steps_in_order(process.bpmn_xml)] == [
        "challenger", "champion", "compare", "promote"
    ]  # fmt: skip
    assert process.triggers.filter(kind=Trigger.Kind.SNAPSHOT).exists()
    assert process.settings["steps"]["compare"]["compare"] == ["auc"]


def test_an_outsider_cannot_make_a_process_for_the_model(charlie, alice_snapshot, upload):
    with pytest.raises(ValidationError, match="Choose a model you may see"):
        process_create_from_template(
            user=charlie, name="", template=Template.CHAMPION_CHALLENGER,
            values={"model": str(alice_snapshot.model.uuid), "data": str(upload.uuid)},
        )  # fmt: skip
