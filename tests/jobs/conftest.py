from __future__ import annotations

import pytest


@pytest.fixture
def queued(monkeypatch):
    """job_submit queues the job on commit; the broker is replaced here by a list of
    (job uuid, queue). The real path through a Celery worker is covered by the e2e tests."""
    sent = []
    monkeypatch.setattr(
        "jobs.services.placement.job_enqueue",
        lambda *, job_uuid, queue: sent.append((job_uuid, queue)),
    )
    return sent
