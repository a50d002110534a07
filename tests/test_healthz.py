"""GET /healthz: 200 when the database and the broker answer, 503 naming what does not."""

from __future__ import annotations

import socket
import time

import pytest
from django.test import Client

from tests.faults import database_unreachable
from tests.servers import closed_port


@pytest.fixture
def anonymous():
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_healthz_answers_200_without_a_login_when_everything_answers(anonymous):
    answer = anonymous.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in answer["Cache-Control"]
    assert "sessionid" not in answer.cookies
    assert anonymous.head("/healthz").status_code == 200
    assert anonymous.post("/healthz").status_code == 405  # asks, changes nothing


@pytest.mark.django_db(transaction=True)
def test_healthz_names_the_database_when_it_does_not_answer(anonymous):
    with database_unreachable():
        answer = anonymous.get("/healthz")

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "down" and body["broker"] == "ok"
    assert body["database"] == "down: not answering (OperationalError)"


@pytest.mark.django_db
def test_healthz_names_the_embedded_broker_when_its_folders_are_gone(anonymous, settings,
                                                                     tmp_path):  # fmt: skip
    settings.CELERY_BROKER_URL = "filesystem://localhost//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "broker" / "queue"),
        "data_folder_out": str(tmp_path / "broker" / "queue"),
        "control_folder": str(tmp_path / "broker" / "control"),
    }

    answer = anonymous.get("/healthz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "down", "database": "ok",
                             "broker": "down: its folder queue is missing"}  # fmt: skip
    for folder in ("queue", "control"):
        (tmp_path / "broker" / folder).mkdir(parents=True)
    assert anonymous.get("/healthz").status_code == 200
    assert not list((tmp_path / "broker" / "tmp").iterdir())  # its probe file is gone


@pytest.mark.django_db
def test_healthz_names_a_redis_broker_that_refuses(anonymous, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"

    answer = anonymous.get("/healthz")

    assert answer.status_code == 503
    assert answer.json()["broker"] == "down: not answering (ConnectionError)"
    assert answer.json()["database"] == "ok"


@pytest.mark.django_db
def test_healthz_gives_a_silent_redis_broker_about_a_second(anonymous, settings):
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()

        answer = anonymous.get("/healthz")

        took = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.json()["broker"] == "down: no answer within 1 s"
    assert took < 5


@pytest.mark.django_db
def test_healthz_keeps_its_redis_connection_and_outlives_the_broker_closing_it(anonymous, settings):
    import redis

    admin = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        admin.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/13"

    def healthz_connections():
        return [c for c in admin.client_list() if c["db"] == "13"]

    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/healthz").status_code == 200
    kept = healthz_connections()
    assert len(kept) == 1  # one connection for both checks, not one each
    admin.client_kill_filter(_id=kept[0]["id"])  # as a broker restart closes it

    answer = anonymous.get("/healthz")

    assert answer.status_code == 200 and answer.json()["broker"] == "ok"
    assert len(healthz_connections()) == 1
