"""Clients that retry at once with the same Idempotency-Key still make one job."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from api.authentication import token_issue
from jobs.models import Job

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("default_runtime_online"),
]


def test_simultaneous_submits_with_one_key_make_one_job(alice, alice_snapshot):
    body = {"snapshot": str(alice_snapshot.uuid), "inputs": [{"kind": "embedded", "data": "{}"}]}
    key = token_issue(user=alice).key
    clients = [APIClient(HTTP_AUTHORIZATION=f"Token {key}") for _ in range(6)]
    start = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def send(i: int) -> None:
        try:
            start.wait()
            answers[i] = clients[i].post(
                "/api/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1"
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * (len(clients) - 1) + [201], [a.content[:200] for a in answers]
    assert len({a.json()["uuid"] for a in answers}) == 1
    assert Job.objects.filter(idempotency_key="race-1").count() == 1
