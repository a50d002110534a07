"""A kept copy missed by many threads at once is made by one of them (commandcenter.lib
.oneatatime): a running job's live region and the jobs list, under concurrent requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from commandcenter.lib.oneatatime import one_at_a_time
from jobs.models import JobStatus
from tests.jobs.test_job_list_rows import make_job

THREADS = 8


def test_the_first_thread_makes_it_and_the_others_wait_for_it():
    made, seen = [], []
    start = threading.Barrier(THREADS)

    def ask():
        start.wait()
        with one_at_a_time("k") as first:
            if first:
                time.sleep(0.3)  # long enough for every other thread to arrive
                made.append(threading.get_ident())
            seen.append(first)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(ask) for _ in range(THREADS)]:
            future.result()
    assert len(made) == 1 and seen.count(True) == 1 and len(seen) == THREADS
    with one_at_a_time("k") as first:  # done: the next asker makes it again
        assert first


def test_a_waiter_gives_up_after_its_wait_and_a_failed_maker_frees_the_key():
    entered = threading.Event()

    def slow():
        with one_at_a_time("slow") as first:
            assert first
            entered.set()
            time.sleep(1)

    thread = threading.Thread(target=slow)
    thread.start()
    entered.wait(5)
    started = time.monotonic()
    with one_at_a_time("slow", wait=0.1) as first:
        assert not first and time.monotonic() - started < 0.9
    thread.join()

    with pytest.raises(ValueError), one_at_a_time("boom"):
        raise ValueError("the render failed")
    with one_at_a_time("boom", wait=0.1) as first:
        assert first


def _concurrently(user, url: str, headers: dict) -> list[int]:
    start = threading.Barrier(THREADS)

    def get():
        client = Client()
        client.force_login(user)
        start.wait()
        try:
            return client.get(url, headers=headers).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        return [f.result() for f in [pool.submit(get) for _ in range(THREADS)]]


def _slow_counted(monkeypatch, module, name: str) -> list:
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_running_jobs_region_is_rendered_once_for_requests_at_once(
    monkeypatch, alice, alice_snapshot
):
    from jobs.views import pages

    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    cache.clear()
    renders = _slow_counted(monkeypatch, pages, "_status_render")
    url = reverse("jobs-status", args=[job.uuid])
    assert _concurrently(alice, url, {"HX-Request": "true"}) == [200] * THREADS
    assert len(renders) == 1


@pytest.mark.django_db(transaction=True)
def test_the_jobs_list_is_rendered_once_for_requests_at_once(monkeypatch, alice, alice_snapshot):
    from jobs.views import lists

    make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    cache.clear()
    renders = _slow_counted(monkeypatch, lists, "_results_render")
    assert _concurrently(alice, reverse("jobs-list"), {}) == [200] * THREADS
    assert len(renders) == 1
