"""The wizard's steps as issue 16 wants them: numbered from 1, no output step for training,
the evaluator only for metrics jobs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from tests.factories import SnapshotFactory
from tests.jobs.test_wizard import HTMX, answers, step

TRAIN_SOURCE = (
    "# modelop.score\ndef action(datum):\n    yield datum\n\n"
    "# modelop.metrics\ndef metrics(df):\n    yield {'n': len(df)}\n\n"
    "# modelop.train\ndef train(df):\n    pass\n"
)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def trainable(alice_snapshot):
    return SnapshotFactory(
        model=alice_snapshot.model, version=2, source=TRAIN_SOURCE, source_name="m.py"
    )


def _walk(client, snapshot, job_type: str) -> None:
    client.get(reverse("jobs-wizard-start"))
    for name, data in [
        ("model", {"model": snapshot.model.uuid}),
        ("snapshot", {"snapshot": snapshot.uuid}),
        ("runtime", {"runtime": "auto"}),
        ("type", {"job_type": job_type}),
        ("schemas", {}),
    ]:
        response = client.post(step(name), data)
        assert response.status_code == 302, (name, response.content[:2000])


def test_the_steps_are_numbered_from_one_and_the_model_step_is_first(alice_client, alice_snapshot):
    page = alice_client.get(reverse("jobs-wizard-start"), follow=True).text
    assert "<h2>1. Model</h2>" in page
    assert "Create a new batch job</span>" not in page  # no longer a step of its own


def test_a_training_job_skips_the_output_step_and_makes_no_output_choice(
    alice_client, trainable, queued
):
    _walk(alice_client, trainable, "training")
    response = alice_client.post(step("inputs"), {"data": '{"x": 1}\n', "action": "next"})
    assert response["Location"] == step("review")
    review = alice_client.get(step("review")).text
    assert "Output asset" not in review and "A new snapshot of" in review
    assert "<h2>7. Review</h2>" in review
    # Asked for by URL, the output step sends a training job to the review.
    assert alice_client.get(step("output"))["Location"] == step("review")
    assert alice_client.get(step("output"), headers=HTMX)["HX-Push-Url"] == step("review")
    alice_client.post(step("review"))
    assert Job.objects.get().job_type == "training"


def test_a_scoring_job_still_has_its_output_step(alice_client, trainable):
    _walk(alice_client, trainable, "scoring")
    response = alice_client.post(step("inputs"), {"data": '{"x": 1}\n', "action": "next"})
    assert response["Location"] == step("output")
    assert "<h2>7. Output asset</h2>" in alice_client.get(step("output")).text


def test_the_evaluator_option_sits_in_its_metrics_only_block(alice_client, trainable):
    _walk(alice_client, trainable, "scoring")
    page = alice_client.get(step("type")).text
    block = page.split('<div class="evaluator-option">', 1)[1]
    assert "Also run the built-in evaluator" in block.split("</div>", 1)[0]


def test_the_evaluator_is_ignored_for_a_scoring_job(alice_client, trainable):
    _walk(alice_client, trainable, "scoring")
    alice_client.post(step("type"), {"job_type": "scoring", "evaluator": "on"})
    alice_client.post(step("schemas"), {})
    assert "built-in evaluator" not in alice_client.get(step("review")).text


# --- The model step: search, and models of the same name told apart ---------------------------


def test_the_model_step_searches_and_tells_same_named_models_apart(
    alice_client, alice, alice_snapshot, queued
):
    from tests.factories import GroupFactory, ModelFactory

    beta = GroupFactory(name="beta")
    alice.groups.add(beta)
    twin = ModelFactory(name=alice_snapshot.model.name, team=beta)
    SnapshotFactory(model=twin, version=3)
    twin.refresh_from_db()
    other = ModelFactory(name="fraud", team=beta)
    SnapshotFactory(model=other, version=1)
    page = alice_client.get(step("model")).text
    assert page.count("same name as another") == 2
    assert "team beta · newest v3" in page and "No job yet" in page
    found = alice_client.get(step("model"), {"q": "fraud"}).text
    assert "fraud" in found and "same name as another" not in found
    assert (
        "matches “nothing-like-it”"
        in alice_client.get(step("model"), {"q": "nothing-like-it"}).text
    )
    partial = alice_client.get(step("model"), {"q": "beta"}, headers=HTMX)
    assert partial.text.lstrip().startswith('<div id="wizard"') and "fraud" in partial.text


def test_the_model_step_shows_the_last_job(alice_client, alice, alice_snapshot, queued):
    from jobs.models import JobType
    from jobs.services import InputSpec, job_submit

    job_submit(user=alice, snapshot=alice_snapshot, job_type=JobType.SCORING,
               inputs=[InputSpec(kind="embedded", data='{"x": 1}\n')])  # fmt: skip
    page = alice_client.get(step("model")).text
    assert "Last job" in page and "(waiting)" in page


def test_a_wild_search_is_answered_without_error(alice_client, alice_snapshot):
    for query in ("%", "_", "'; select", "x" * 5000, "\x00"):
        assert alice_client.get(step("model"), {"q": query}).status_code == 200


# --- A snapshot's attachments as inputs ----------------------------------------------------------


def test_a_snapshots_data_attachment_can_be_an_input_and_its_file_outlives_the_sweep(
    alice_client, alice, alice_snapshot, queued, settings
):
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from jobs.models import Upload
    from jobs.services.uploads import upload_sweep
    from models_registry.services import attachment_add
    from tests.jobs.test_wizard import walk_to_inputs

    attachment_add(snapshot=alice_snapshot, name="test.csv", content=ContentFile(b"x,y\n1,2\n"))
    attachment_add(snapshot=alice_snapshot, name="model.pickle", content=ContentFile(b"\x80"))
    walk_to_inputs(alice_client, alice_snapshot)
    page = alice_client.get(step("inputs")).text
    assert '<option value="test.csv">' in page and "model.pickle" not in page
    response = alice_client.post(
        step("inputs"), {"kind": "attachment", "attachment": "test.csv", "action": "next"}
    )
    assert response["Location"] == step("output")
    alice_client.post(step("output"), {"kind": "embedded"})
    alice_client.post(step("review"))
    asset = Job.objects.get().input_assets().get()
    stored = alice_snapshot.attachments.get(name="test.csv").file.name
    assert (asset.name, asset.format, asset.file.name) == ("test.csv", "csv", stored)
    # An upload that no job uses is swept; the attachment's file stays.
    Upload.objects.update(created_at=timezone.now() - timedelta(days=30))
    Job.objects.all().delete()
    upload_sweep()
    assert alice_snapshot.attachments.get(name="test.csv").file.storage.exists(stored)


def test_an_attachment_that_is_not_the_snapshots_is_refused(alice_client, alice_snapshot):
    from tests.jobs.test_wizard import walk_to_inputs

    walk_to_inputs(alice_client, alice_snapshot)
    response = alice_client.post(
        step("inputs"), {"kind": "attachment", "attachment": "../../etc/passwd", "action": "next"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not answers(alice_client).get("inputs")
