"""The review step's dry run: the button, the polled region, who may see a dry run, and
bad input answered without a 500. The worker side is in test_dry_run_execute.py."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from dryruns.models import DryRun
from jobs.models import Job, Runtime
from tests.jobs.test_wizard import HTMX, step, walk_to_inputs


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def queued_dry_runs(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "dryruns.services.dry_run_enqueue", lambda *, dry_run, queue: sent.append(queue)
    )
    return sent


@pytest.fixture
def at_review(alice_client, alice_snapshot):
    runtime = Runtime.objects.create(name="dry", queue="dry")
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("runtime"), {"runtime": str(runtime.uuid)})
    alice_client.post(step("inputs"), {"data": '{"x": 1}\n', "action": "next"})
    alice_client.post(step("output"), {"kind": "embedded"})
    return runtime


def test_the_review_offers_the_dry_run_with_a_plain_form(alice_client, at_review):
    page = alice_client.get(step("review")).text
    url = reverse("jobs-wizard-try")
    assert "Try on the first 100 records" in page
    assert f'action="{url}"' in page and f'hx-post="{url}"' in page


def test_with_htmx_the_dry_run_answers_its_region_which_polls(
    alice_client, at_review, queued_dry_runs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("jobs-wizard-try"), headers=HTMX)
    dry_run = DryRun.objects.get()
    assert response.status_code == 200 and queued_dry_runs == ["dry"]
    assert response.text.lstrip().startswith('<div id="dry-run"')
    assert f'hx-get="{reverse("jobs-dry-run", args=[dry_run.uuid])}"' in response.text
    assert not Job.objects.exists()


def test_a_dry_run_that_is_over_stops_the_polling_and_shows_its_records(
    alice_client, alice, alice_snapshot, at_review
):
    dry_run = DryRun.objects.create(
        created_by=alice, snapshot=alice_snapshot, runtime=at_review, job_type="scoring",
        status=DryRun.Status.DONE,
        result={"counts": {"records_read": 1, "records_written": 1, "records_rejected": 0},
                "inputs": [{"name": "embedded.jsonl", "records": 1}], "seconds": 0.5,
                "output": {"columns": ["x"], "rows": [["41"]], "error": ""}, "rejects": [],
                "schema_checks": []},
    )  # fmt: skip
    response = alice_client.get(reverse("jobs-dry-run", args=[dry_run.uuid]), headers=HTMX)
    assert response.status_code == 286
    assert "hx-trigger" not in response.text and "<td>41</td>" in response.text
    page = alice_client.get(f"{step('review')}?try={dry_run.uuid}").text
    assert "<td>41</td>" in page and "Nothing was saved." in page


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def test_another_persons_dry_run_is_not_found(bob_client, alice, alice_snapshot):
    dry_run = DryRun.objects.create(created_by=alice, snapshot=alice_snapshot, job_type="scoring")
    url = reverse("jobs-dry-run", args=[dry_run.uuid])
    assert bob_client.get(url, headers=HTMX).status_code == 404
    assert bob_client.get(reverse("jobs-dry-run", args=[uuid.uuid4()])).status_code == 404


def test_a_bad_try_parameter_is_ignored(alice_client, at_review):
    for value in ("nonsense", str(uuid.uuid4()), "'; drop table"):
        response = alice_client.get(step("review"), {"try": value})
        assert response.status_code == 200


def test_a_dry_run_that_cannot_start_says_why(alice_client, at_review, queued_dry_runs):
    at_review.delete()  # the chosen runtime is gone: let the system choose, and none is online
    alice_client.post(step("runtime"), {"runtime": "auto"})
    response = alice_client.post(reverse("jobs-wizard-try"), headers=HTMX)
    assert response.status_code == 200 and "could not start" in response.text
    assert "No runtime can try the model now" in response.text
    response = alice_client.post(reverse("jobs-wizard-try"), follow=True)
    assert response.status_code == 200 and "No runtime can try the model now" in response.text
    assert not DryRun.objects.exists()


def test_the_dry_run_asks_for_login(client):
    response = client.post(reverse("jobs-wizard-try"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_unfinished_wizard_is_sent_to_its_missing_step(alice_client):
    alice_client.get(reverse("jobs-wizard-start"))
    response = alice_client.post(reverse("jobs-wizard-try"))
    assert response.status_code == 302 and response["Location"] == step("model")
