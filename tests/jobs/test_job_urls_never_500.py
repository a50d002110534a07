"""No page, partial or download answers 500, for a job of any type in any status, with its
files present or missing from storage."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.jobs.every_job import every_job


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _urls(job, others) -> list[str]:
    urls = [
        reverse(name, args=[job.uuid])
        for name in ("jobs-detail", "jobs-status", "jobs-output-download",
                     "jobs-metrics-download", "jobs-scoring-diff")
    ]  # fmt: skip
    for asset in job.assets.all():
        urls.append(reverse("jobs-asset-download", args=[job.uuid, asset.uuid]))
        urls.append(reverse("jobs-rejects-download", args=[job.uuid, asset.uuid]))
    for other in others:
        urls.append(f"{reverse('jobs-scoring-diff', args=[job.uuid])}?other={other.uuid}")
        urls.append(f"{reverse('jobs-compare')}?job={job.uuid}&job={other.uuid}")
    for name in ("api-job-detail", "api-job-log", "api-job-result", "api-job-output",
                 "api-job-rejects"):  # fmt: skip
        urls.append(reverse(name, args=[job.uuid]))
    for other in others:
        urls.append(f"{reverse('api-job-scoring-diff', args=[job.uuid])}?other={other.uuid}")
    return urls


@pytest.mark.parametrize("files", [True, False], ids=["files", "files-missing"])
def test_no_job_url_answers_500(alice_client, alice_snapshot, alice, files):
    jobs = every_job(alice_snapshot, alice, files=files)
    assert len(jobs) == 18
    complete = [j for j in jobs if j.status == "COMPLETE"]
    answers = {}
    for job in jobs:
        for url in _urls(job, complete):
            response = alice_client.get(url, HTTP_ACCEPT="*/*")
            answers[url] = response.status_code
            assert response.status_code < 500, (job.job_type, job.status, url)
            assert response.status_code in (200, 286, 400, 404, 406, 409), (url, response)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
    # A real walk: every page of every job answered, and the downloads that exist were served.
    assert sum(code == 200 for code in answers.values()) > len(jobs) * 3
    partials = [u for u in answers if u.endswith("/status/")]
    assert all(answers[u] in (200, 286) for u in partials)
