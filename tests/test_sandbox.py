"""The model process sandbox (jobs/runner/sandbox.py): a hostile model through a real worker
is denied everything but its own work dir, and leaves no process behind."""

from __future__ import annotations

import socket
import threading
import time

import orjson
import psutil
import pytest
from django.conf import settings

from jobs.models import JobStatus, Runtime, Worker
from jobs.runner.sandbox import landlock_abi, sandbox_support
from jobs.worker.supervisor import job_execute
from tests.conftest import wait_for_job
from tests.demo import sample_upload
from tests.isolation import import_in_fresh_interpreter
from tests.jobs.test_executor_supervisor import embedded, snapshot_of, submit
from tests.sandbox_probe import PROBE_SOURCE, probe_params
from tests.workers import process_gone, process_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(landlock_abi() < 6, reason="this kernel has no Landlock ABI 6"),
]


def _records(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f]


def _probe(job) -> tuple[list[dict], int]:
    records = _records(job)
    daemon = next(r for r in records if r["attempt"] == "daemon left running")
    attempts = [r for r in records if r is not daemon]
    print("\nsandbox probe, attempt by attempt:")
    for r in attempts:
        print(f"  {r['attempt']:<38} {r['target'][:60]:<60} {r['outcome'][:70]}")
    return attempts, int(daemon["target"])


def _gone(pid: int, timeout: float = 5) -> bool:
    process = process_of(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(process):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.worker
def test_a_hostile_model_is_denied_everything_but_its_work_dir_and_leaves_no_process(
    celery_worker, alice, team_alpha, tmp_path
):
    other = settings.JOB_WORK_DIR / "another-job-1" / "work"
    other.mkdir(parents=True, exist_ok=True)
    (other / "their-model.pickle").write_bytes(b"secret weights")
    upload = sample_upload(owner=alice, tmp_path=tmp_path)
    password = settings.DATA_DIR / "admin-password"  # as manage.py serve writes it
    if not password.exists():
        password.write_text("not for models")
        password.chmod(0o600)
    params = probe_params(
        settings=settings,
        worker_pid=celery_worker.pid,
        other_workdir=str(other),
        media_file=upload.file.path,
    )
    params["read"]["another job's model"] = str(other / "their-model.pickle")
    snapshot = snapshot_of(PROBE_SOURCE, owner=alice, team=team_alpha)

    job = wait_for_job(submit(alice, snapshot, embedded({"x": 1}), params=params))

    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-3000:]
    attempts, daemon_pid = _probe(job)
    own = [r for r in attempts if r["attempt"] == "write its own work dir"]
    assert own and own[0]["outcome"].startswith("ALLOWED"), own
    refused = [r for r in attempts if r not in own]
    assert len(refused) >= 25
    allowed = [r for r in refused if not r["outcome"].startswith("denied")]
    assert not allowed, allowed
    assert _gone(daemon_pid), "the daemon the model left is still running"
    assert not (settings.BASE_DIR / "probe-was-here.txt").exists()
    assert celery_worker.poll() is None  # the worker was not signalled
    assert job.sandbox["on"] is True and job.sandbox["abi"] >= 6
    assert "network off" in job.log or job.sandbox["network"] == "off"
    worker = Worker.objects.get(name=celery_worker.heartbeat["name"])
    assert worker.sandbox["on"] is True


NETWORK_SOURCE = """\
import socket

# modelop.score
def action(datum):
    for port in datum["ports"]:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            yield {"port": port, "outcome": "connected"}
        except OSError as exc:
            yield {"port": port, "outcome": f"denied: {exc}"}
"""


@pytest.fixture
def listeners():
    """Two TCP servers on loopback that accept and close."""
    servers, threads = [], []
    for _ in range(2):
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(0.2)
        servers.append(server)
    stop = threading.Event()

    def serve(server):
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    for server in servers:
        threads.append(threading.Thread(target=serve, args=(server,), daemon=True))
        threads[-1].start()
    yield [s.getsockname()[1] for s in servers]
    stop.set()
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("allow", "ports", "expected"),
    [
        (False, "", ["denied", "denied"]),
        (True, "", ["connected", "connected"]),
        (True, "first", ["connected", "denied"]),
    ],
)
def test_network_is_off_unless_the_runtime_allows_it_and_then_only_to_its_ports(
    in_process_executor, alice, team_alpha, listeners, allow, ports, expected
):
    runtime = Runtime.objects.create(
        name="net", queue="net", allow_network=allow,
        network_ports=str(listeners[0]) if ports == "first" else "",
    )  # fmt: skip
    snapshot = snapshot_of(NETWORK_SOURCE, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"ports": listeners}), runtime=runtime)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    outcomes = [r["outcome"].split(":")[0] for r in _records(job)]
    assert outcomes == expected


SIGNAL_SUPERVISOR = """\
import os, signal

# modelop.score
def action(datum):
    try:
        os.kill(int(datum["pid"]), signal.SIGTERM)
        yield {"outcome": "signalled"}
    except OSError as exc:
        yield {"outcome": f"denied: {exc}"}
"""


def test_the_model_cannot_signal_its_supervisor(in_process_executor, alice, team_alpha):
    import os

    snapshot = snapshot_of(SIGNAL_SUPERVISOR, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"pid": os.getpid()}))

    job_execute(job_uuid=str(job.uuid))  # this test process is the supervisor

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert _records(job)[0]["outcome"].startswith("denied")


FORK_BOMB = """\
import os, time

# modelop.score
def action(datum):
    while True:
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        except OSError:
            time.sleep(0.01)
"""


def test_a_fork_bomb_ends_its_job_in_error_and_leaves_no_process(
    in_process_executor, alice, team_alpha, settings
):
    settings.MODEL_MAX_PROCESSES = 20
    snapshot = snapshot_of(FORK_BOMB, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1}))
    before = {p.pid for p in psutil.Process().children(recursive=True)}

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert "more than 20 processes" in job.error_message
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


BIG_ALLOCATION = """\
# modelop.score
def action(datum):
    data = b"x" * (8 * 1024 ** 3)  # 8 GB, every page touched
    yield {"n": len(data)}
"""


def test_a_huge_allocation_fails_at_once_under_the_address_space_limit(
    in_process_executor, alice, team_alpha
):
    """The runtime's 512 MB limit gives the model process 5 GB of address space: an 8 GB
    allocation fails before a page is touched (without the limit the supervisor would stop
    the job only at 512 MB resident, with another message)."""
    runtime = Runtime.objects.create(name="small", queue="small", memory_limit_mb=512)
    snapshot = snapshot_of(BIG_ALLOCATION, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1}), runtime=runtime)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert "MemoryError" in job.error_message, job.error_message
    assert (job.peak_memory or 0) < 512 * 1024 * 1024


def test_a_worker_says_what_it_can_promise_for_each_mode():
    assert sandbox_support("off") == {
        "mode": "off", "on": False, "abi": landlock_abi(),
        "note": "switched off (MODEL_SANDBOX=off)",
    }  # fmt: skip
    auto = sandbox_support("auto")
    assert auto["on"] is True and auto["note"] == f"Landlock ABI {landlock_abi()}"


def test_the_runner_never_imports_django():
    """The model process's code, every module of jobs/runner/, imports without Django (or the
    database drivers): a fresh interpreter imports them all and looks."""
    count, server = import_in_fresh_interpreter("jobs.runner")
    assert count >= 15 and server == []


LINK_OUTPUT = """\
import os

# modelop.score
def action(datum):
    yield {"x": 1}

# modelop.metrics
def metrics(df):
    yield {"n": 1}
"""

LINKED_ARTIFACT = """\
import os

# modelop.train
def train(df):
    with open("outputDir/model.pickle", "wb") as f:
        f.write(b"weights")
    os.symlink({target!r}, "outputDir/leak.txt")
"""


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../spec.json"])
def test_an_artifact_the_model_made_a_link_is_refused(
    in_process_executor, alice, team_alpha, target
):
    source = LINKED_ARTIFACT.format(target=target)
    snapshot = snapshot_of(source, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1, "y": 0}), job_type="training")

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR, job.error_message
    assert "leak.txt" in job.error_message and "not a plain file" in job.error_message
    assert job.result_snapshot is None


def test_with_model_sandbox_required_a_worker_that_cannot_sandbox_does_not_start(
    settings, monkeypatch
):
    """A kernel without Landlock cannot be had here: landlock_abi is made to answer 0."""
    from jobs.worker import heartbeat

    monkeypatch.setattr("jobs.runner.sandbox.landlock_abi", lambda: 0)
    settings.MODEL_SANDBOX = "required"
    with pytest.raises(SystemExit, match="MODEL_SANDBOX=required, but this kernel"):
        heartbeat.sandbox_check()
    settings.MODEL_SANDBOX = "auto"
    assert heartbeat.sandbox_check()["on"] is False  # warned, not refused


def test_with_model_sandbox_required_a_job_fails_rather_than_run_unsandboxed(
    in_process_executor, alice, team_alpha, settings
):
    settings.MODEL_SANDBOX = "required"
    snapshot = snapshot_of(LINK_OUTPUT, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded({"x": 1}))
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE and job.sandbox["on"] is True

    settings.MODEL_SANDBOX = "off"
    job = submit(alice, snapshot, embedded({"x": 1}))
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE
    assert job.sandbox["on"] is False and "MODEL_SANDBOX=off" in job.sandbox["note"]
