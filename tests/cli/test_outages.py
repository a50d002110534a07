"""`moc` waits out a server whose database is not answering (503), or that cannot be reached,
for up to MOC_OUTAGE_SECONDS, saying so on stderr; a job submit stays exactly-once."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from jobs.models import Job
from tests.cli.conftest import MOC, assert_error, last_word
from tests.demo import demo_snapshot
from tests.faults import database_unreachable
from tests.servers import closed_port
from tests.workers import wait

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = {"detail": "The database is not answering; try again in a moment."}
SAYS_SO = "The server says its database is not answering; retrying for up to"


class _Flaky(BaseHTTPRequestHandler):
    """A proxy to the live server that answers 503 (as the server does while its database
    is away) to the first FAILS requests; with LOSE_JOB_ANSWER, the first POST /api/jobs/ is
    handled by the server (the job is made) and its answer replaced by that 503."""

    upstream = ""
    fails = 0
    lose_job_answer = False
    seen: list[tuple[str, str, str]] = []  # method, path, Idempotency-Key
    made: list[str] = []

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _down(self) -> None:
        body = json.dumps(DOWN).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.seen.append((self.command, self.path, self.headers.get("Idempotency-Key", "")))
        if len(self.seen) <= self.fails:
            return self._down()
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        answer = requests.request(self.command, self.upstream + self.path, headers=headers,
                                  data=body, allow_redirects=False, timeout=60)  # fmt: skip
        if self.lose_job_answer and (self.command, self.path) == ("POST", "/api/jobs/") \
                and not self.made:  # fmt: skip
            self.made.append(answer.json()["uuid"])
            return self._down()
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-encoding",
                                   "content-length"):  # fmt: skip
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward


@pytest.fixture
def flaky(live_server):
    """make(**fields): a _Flaky proxy in front of the live server; stopped at the end."""
    servers = []

    def make(port: int = 0, **fields) -> tuple[ThreadingHTTPServer, type]:
        handler = type("Handler", (_Flaky,), {"upstream": live_server.url, "seen": [],
                                              "made": [], **fields})  # fmt: skip
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, handler

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_read_waits_out_a_database_that_is_not_answering(flaky, make_moc, alice):
    server, handler = flaky(fails=2)
    moc = make_moc(alice, url=f"http://127.0.0.1:{server.server_port}")

    listed = moc("job", "list")

    assert listed.returncode == 0, listed.stderr
    assert f"{SAYS_SO} 120 s." in listed.stderr
    assert "The server answers again." in listed.stderr
    assert listed.stderr.count("not answering") == 1  # said once, not at every try
    assert len(handler.seen) == 3


def test_a_submit_whose_answer_was_a_503_is_sent_again_and_makes_one_job(
    flaky, make_moc, alice, team_alpha, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    server, handler = flaky(lose_job_answer=True)
    moc = make_moc(alice, url=f"http://127.0.0.1:{server.server_port}")

    created = moc("job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "o.jsonl")

    assert last_word(created) == handler.made[0]
    assert SAYS_SO in created.stderr
    assert "The first try made this job (its answer was lost); no second job." in created.stdout
    keys = {key for method, path, key in handler.seen if path == "/api/jobs/"}
    assert len(keys) == 1 and "" not in keys  # both tries carried the same key
    assert Job.objects.filter(created_by=alice).count() == 1


def test_moc_waits_out_the_real_servers_database_going_away_and_coming_back(
    make_moc, alice, team_alpha, iris_sample
):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    moc = make_moc(alice)

    with database_unreachable():
        creating = subprocess.Popen(
            [*MOC, "job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "o.jsonl",
             "-q"], env=moc.env, cwd=moc.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        time.sleep(3)  # the database is away for a while
    try:
        out, err = creating.communicate(timeout=120)
    finally:
        creating.kill()

    assert creating.returncode == 0, err
    assert SAYS_SO in err
    (job,) = Job.objects.filter(created_by=alice)
    assert out.strip() == str(job.uuid)


def test_a_long_outage_ends_with_exit_5_after_moc_outage_seconds(flaky, make_moc, alice):
    server, _ = flaky(fails=1000)
    moc = make_moc(alice, url=f"http://127.0.0.1:{server.server_port}")
    started = time.monotonic()

    result = moc("job", "list", env={"MOC_OUTAGE_SECONDS": "2"})

    assert_error(result, 5, "The server says its database is not answering", "tried for 2 s")
    assert f"{SAYS_SO} 2 s." in result.stderr
    assert 2 <= time.monotonic() - started < 30


def test_a_server_that_cannot_be_reached_yet_is_waited_for(flaky, make_moc, alice):
    port = closed_port()
    moc = make_moc(alice, url=f"http://127.0.0.1:{port}")
    listing = subprocess.Popen([*MOC, "job", "list"], env=moc.env, cwd=moc.cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(listing.stderr), daemon=True)
    reader.start()
    try:
        # The server comes back once moc has found it away (a busy machine may take seconds
        # to start moc, which would then find the server up at its first look).
        wait(lambda: any("Cannot reach the server" in line for line in said)
             or listing.poll() is not None, timeout=60, what="moc to find the server away")  # fmt: skip
        assert listing.poll() is None, "".join(said)
        flaky(port=port)  # the server is back
        listing.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        listing.kill()
    err = "".join(said)

    assert listing.returncode == 0, err
    assert f"Cannot reach the server at http://127.0.0.1:{port}; retrying for up to" in err
    assert "The server answers again." in err


def test_a_cancel_is_not_sent_twice_on_a_503(flaky, make_moc, alice):
    """A request that is not safe to repeat reports the outage at once."""
    server, handler = flaky(fails=1000)
    moc = make_moc(alice, url=f"http://127.0.0.1:{server.server_port}")
    job_uuid = "7d3b0a5e-0000-4000-8000-000000000000"

    result = moc("job", "cancel", job_uuid)

    assert_error(result, 5, "The server says its database is not answering")
    assert "retrying" not in result.stderr
    assert [method for method, _, _ in handler.seen] == ["POST"]


def test_a_bad_moc_outage_seconds_is_a_usage_error(make_moc, alice):
    moc = make_moc(alice)

    assert_error(moc("job", "list", env={"MOC_OUTAGE_SECONDS": "soon"}), 2, "MOC_OUTAGE_SECONDS")
