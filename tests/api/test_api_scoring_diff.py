from __future__ import annotations

from django.urls import reverse

from tests.jobs.test_scoring_diff import records, scoring_job


def test_the_api_answers_a_scoring_diff(alice_api, alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.4, 0.8]))
    b = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.6, 0.8]))
    url = reverse("api-job-scoring-diff", args=[a.uuid])
    answer = alice_api.get(url, {"other": str(b.uuid), "segment": "region"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["agreement_rate"] == 0.75 and body["records_compared"] == 4
    assert body["top_disagreements"][0]["record"] == 2
    assert {s["segment"] for s in body["segments"]} == {"north", "south"}
    schema = alice_api.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    assert "/api/jobs/{job_uuid}/diff/" in schema["paths"]


def test_the_api_says_why_jobs_cannot_be_diffed(alice_api, charlie_api, alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, records([0.1]))
    b = scoring_job(alice_snapshot, alice, records([0.1]), status="RUNNING")
    url = reverse("api-job-scoring-diff", args=[a.uuid])
    answer = alice_api.get(url, {"other": str(b.uuid)})
    assert answer.status_code == 400 and "job B is running" in answer.json()["detail"]
    assert alice_api.get(url).status_code == 400  # no other job named
    assert charlie_api.get(url, {"other": str(b.uuid)}).status_code == 404
