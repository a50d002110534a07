"""Shared fixtures: the named users of every access test.

alice owns models in team "alpha"; bob is her teammate; charlie is an outsider in team
"gamma"; staff is a staff member in no team.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import override_settings

from jobs.models import Runtime, Worker
from jobs.worker.command import celery_worker_argv
from tests.factories import GroupFactory, ModelFactory, SnapshotFactory, UserFactory

pytest_plugins = ["tests.servers"]  # moto S3 and WebHDFS servers

PASSWORD = "correct horse battery staple"


def pytest_configure(config):
    """The processes tests start read the project's settings (see tests/settings.py)."""
    option = config.option
    xdist_controller = getattr(option, "tx", None) and getattr(option, "dist", "no") != "no"
    if hasattr(config, "workerinput") or not xdist_controller:
        os.environ["DJANGO_SETTINGS_MODULE"] = "commandcenter.settings"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (with --dist loadgroup, as scripts/test runs it) tests are handed to
    workers one by one, but tests with a module- or package-scoped fixture (the Spark tests'
    worker and its JVM) go to one worker with the rest of their package, so that the fixture
    starts once and two JVMs do not fight over a small machine's cores."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        scopes = {defs[-1].scope for defs in info.name2fixturedefs.values()} if info else set()
        if scopes & {"module", "package"}:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__.rpartition(".")[0]))


# --- pytest-xdist: tests marked serial run while no other worker runs a test ------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    with _xdist_turn(item):
        return (yield)


@contextmanager
def _xdist_turn(item):
    """Under pytest-xdist, a test marked serial (it restarts the PostgreSQL or Redis the other
    workers use) waits for the tests running elsewhere to end, and no test starts until it is
    done: a shared lock for every test, an exclusive one for a serial test, and a gate taken
    first so that a waiting serial test is not overtaken for ever. Its fixtures (a module's
    worker) are inside. A test after a serial one opens fresh database connections: the old
    ones did not live through a restart."""
    if not hasattr(item.config, "workerinput"):  # not under xdist
        yield
        return
    folder = Path(item.config.option.basetemp).parent  # the run's, shared by its workers
    serial = item.get_closest_marker("serial") is not None
    generation = folder / "serial-generation"
    with open(folder / "serial-gate.lock", "a") as gate, open(folder / "serial.lock", "a") as run:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(run, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        finally:
            if not serial:
                fcntl.flock(gate, fcntl.LOCK_UN)
        seen = generation.read_text() if generation.exists() else ""
        if seen != getattr(item.config, "_serial_generation_seen", ""):
            from django.db import connections

            connections.close_all()
        try:
            yield
        finally:
            if serial:
                seen = uuid.uuid4().hex
                generation.write_text(seen)
            item.config._serial_generation_seen = seen


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Tests make hundreds of users; PBKDF2's deliberate slowness (about 0.3 s a password on
    this kind of machine) is no part of what they test. The site keeps Django's hashers."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def dropbox(tmp_path_factory):
    """A folder every test model may write (MODEL_SANDBOX_READ_WRITE): its sandbox keeps it
    out of everything else, the test's own tmp_path included. Open to the sandbox's user,
    as a worker running as root makes the model process another user."""
    folder = tmp_path_factory.getbasetemp() / "dropbox"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o1777)
    os.environ["MODEL_SANDBOX_READ_WRITE"] = str(folder)  # for the workers the tests start
    with override_settings(MODEL_SANDBOX_READ_WRITE=[str(folder)]):
        yield folder


@pytest.fixture
def drop(dropbox):
    """A fresh file name in the drop box for one test's model to write."""
    return lambda name: dropbox / f"{uuid.uuid4().hex}-{name}"


@pytest.fixture
def team_alpha(db):
    return GroupFactory(name="alpha")


@pytest.fixture
def alice(team_alpha):
    user = UserFactory(username="alice")
    user.groups.add(team_alpha)
    return user


@pytest.fixture
def bob(team_alpha):
    user = UserFactory(username="bob")
    user.groups.add(team_alpha)
    return user


@pytest.fixture
def charlie(db):
    user = UserFactory(username="charlie")
    user.groups.add(GroupFactory(name="gamma"))
    return user


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_model(alice, team_alpha):
    return ModelFactory(owner=alice, team=team_alpha, name="echo")


@pytest.fixture
def alice_snapshot(alice_model):
    return SnapshotFactory(model=alice_model, version=1)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def in_process_executor(settings, tmp_path, monkeypatch):
    """Jobs run by the test calling job_execute in this process: work dir and media under
    tmp_path, no broker, and the default runtime (transactional tests start from an empty
    database, without the migration's runtime)."""
    settings.JOB_WORK_DIR = tmp_path / "work"
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr("jobs.services.placement.job_enqueue", lambda *, job_uuid, queue: True)
    Runtime.objects.get_or_create(name="default", defaults={"queue": "default", "is_default": True})
    return settings


# --- A real Celery worker process -------------------------------------------------------------


def _worker_database_url() -> str:
    """A DATABASE_URL that points a worker process at the test database."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def celery_worker_start(*, queues: str, hostname: str, log_path, env: dict | None = None):
    """Start `celery worker` on QUEUES as HOSTNAME (name@%h) and wait for "ready.": the
    worker has written its first heartbeat by then. The process has .log_path."""
    env = {**os.environ, "DATABASE_URL": _worker_database_url(), **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            celery_worker_argv(queues=queues, hostname=hostname),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.log_path = log_path
    return proc


def celery_worker_stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` process on the default queue, sharing the test database and
    broker (PostgreSQL and Redis when DATABASE_URL/BROKER_URL are set, else SQLite and the
    embedded broker). Tests using it need committed data: mark them transaction=True."""
    from commandcenter.celery import app

    with django_db_blocker.unblock():
        app.control.purge()  # messages left over by an earlier run
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    proc = celery_worker_start(
        queues="default",
        hostname=f"{prefix}@%h",
        log_path=tmp_path_factory.mktemp("worker") / "worker.log",
    )
    with django_db_blocker.unblock():  # its first heartbeat, written before "ready."
        proc.heartbeat = Worker.objects.filter(name__startswith=f"{prefix}@").values().first()
    if proc.heartbeat is None:
        proc.kill()
        pytest.fail(f"the Celery worker did not beat:\n{proc.log_path.read_text()[-3000:]}")
    yield proc
    celery_worker_stop(proc)


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Each test starts with an empty cache. On SQLite a rolled-back test's ids are given
    again, so a copy the pages keep by a user's or a job's id (a count, a region) could be an
    earlier test's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _celery_worker_heartbeat(request):
    """A transactional test's flush deletes the Worker row the real worker wrote; the worker
    writes it again at its next beat (HEARTBEAT_SECONDS). Writing its last beat again now lets
    "let the system choose" see the running worker from a test's first line."""
    if "celery_worker" not in request.fixturenames:
        return
    beat = request.getfixturevalue("celery_worker").heartbeat
    request.getfixturevalue("db")
    worker_heartbeat_write(beat=beat)


def worker_heartbeat_write(*, beat: dict, runtime=None) -> Worker:
    """Write BEAT (a Worker row's values) as a beat now, on RUNTIME (default: the default)."""
    from django.utils import timezone

    from jobs.services import runtime_default

    fields = {k: v for k, v in beat.items() if k not in ("id", "name", "runtime_id")}
    fields |= {"runtime": runtime or runtime_default(), "last_seen_at": timezone.now()}
    fields["stopped_at"] = None
    worker, _ = Worker.objects.update_or_create(name=beat["name"], defaults=fields)
    return worker


@pytest.fixture
def default_runtime_online(db):
    """The default runtime with one online worker (a heartbeat row, no process): what
    "let the system choose" needs to place a job when no test worker runs."""
    return worker_heartbeat_write(
        beat={"name": "unit@test-host", "queue": "default", "host": "test-host", "concurrency": 2}
    ).runtime


def wait_for_job(job, *, timeout: float = 60, statuses=("COMPLETE", "ERROR", "CANCELLED")):
    """Poll the database until JOB reaches one of STATUSES; return it refreshed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job stayed {job.status} for {timeout}s; log:\n{job.log[-2000:]}")
