"""Web throughput under load: wrk against the pages people poll, while a job runs.

Not part of the test suite: a measurement. It makes a database with --jobs jobs (bulk_create,
spread over the last 90 days, each with an input) and a team member who sees them all; it
starts the command center as users do (`manage.py serve`: gunicorn and a worker), and for each
page a new scoring job that runs throughout its wrk run (a per-record model that costs CPU,
over the demo's sample rows: about a minute of work; a page whose job ended while wrk ran is
marked in the table, since a finished job's partial is another page); then it runs wrk
(Debian's package `wrk`) for --duration seconds at --connections connections against, in turn:

    /healthz                       the minimal page (no login; SELECT 1 and a broker check)
    /login/                        a page with a form, no login
    the running job's status partial (what the job page polls every second), logged in
    the same with If-None-Match    as a browser's cache sends it after the first answer: 304s
    /jobs/                         the jobs list's first page, logged in
    /jobs/?after=...               an older page (keyset), logged in
    the jobs list's live-rows poll of the running job's row, logged in

and prints requests/s and each one's ratio to /healthz of the same round (with --repeat N,
the medians of N rounds over the pages, and the range of the ratios; --pages picks pages by
number). Logged-in requests carry the session and CSRF cookies as a header, as a browser
sends them. The embedded default (SQLite, embedded broker) in a new DATA_DIR:

    .venv/bin/python scripts/benchmark_web.py --jobs 100000

PostgreSQL: set DATABASE_URL to a scratch database (the jobs are added to it), e.g.

    createdb -h 127.0.0.1 -U postgres bench_web
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_web \\
        .venv/bin/python scripts/benchmark_web.py --jobs 100000
    dropdb -h 127.0.0.1 -U postgres bench_web
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-only-password"
USERNAME = "bench"
# Lua for wrk: each connection keeps the last ETag it got and sends it back, as a browser's
# HTTP cache does for htmx's polls.
CONDITIONAL_LUA = """
local etag = nil
request = function()
  if etag then wrk.headers["If-None-Match"] = etag end
  return wrk.format()
end
response = function(status, headers, body)
  if headers["ETag"] then etag = headers["ETag"] end
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the database")
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per page")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--port", type=int, default=0, help="defaults to a free port")
    parser.add_argument("--rows", type=int, default=1_000_000, help="each running job's input")
    parser.add_argument("--data-dir", help="defaults to a new temporary folder")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over the pages; each page's median is printed")  # fmt: skip
    parser.add_argument("--pages", default="",
                        help="only these pages, by number: 1 is /healthz (always run), "
                        "2 login, 3 status partial, 4 with If-None-Match, 5 jobs list, "
                        "6 older page, 7 rows poll; e.g. 3,4,5")  # fmt: skip
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk).")
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cc-bench-web-"))
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite (embedded)"
    print(f"database: {database}; data dir: {data_dir}")

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()
    user, snapshot = _user_and_demo()
    load = _load_model(user)
    _leftovers_cancel(user, load)
    _jobs_make(user=user, snapshot=snapshot, n=args.jobs)
    input_path = _input_file(data_dir, args.rows)

    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(data_dir / "serve.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-demo", "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_up(base, server)
        cookie = _login(base)
        pages = [
            ("/healthz", lambda job: "/healthz", False, None),
            ("login page", lambda job: "/login/", False, None),
            ("job status partial", lambda job: f"/jobs/{job.uuid}/status/", True, None),
            (
                "  same, If-None-Match",
                lambda job: f"/jobs/{job.uuid}/status/",
                True,
                CONDITIONAL_LUA,
            ),
            ("jobs list", lambda job: "/jobs/", True, None),
            ("jobs list, older page", lambda job: _older_page(base, cookie), True, None),
            ("jobs list rows poll", lambda job: f"/jobs/rows/?ids={job.uuid}", True, None),
        ]
        chosen = {1, *(int(n) for n in args.pages.split(",") if n.strip())}
        pages = [p for n, p in enumerate(pages, 1) if not args.pages or n in chosen]
        # Round after round over every page, so that what drifts meanwhile (the machine, the
        # database's caches) drifts for all of them alike.
        measured: dict[str, list] = {label: [] for label, *_ in pages}
        ended: set[str] = set()
        for round_ in range(args.repeat):
            if args.repeat > 1:
                print(f"round {round_ + 1} of {args.repeat}", flush=True)
            for label, path_of, logged_in, lua in pages:
                job = _running_job(user=user, snapshot=load, input_path=input_path)
                path = path_of(job)
                headers = {"Cookie": cookie} if logged_in else {}
                _check(base + path, headers, label)
                rate, errors = _wrk(wrk, base + path, headers, args, lua, data_dir)
                job.refresh_from_db()
                if job.is_terminal:
                    ended.add(label)
                    print(f"    the job ended while wrk ran ({job.status}): use more --rows")
                measured[label].append((rate, errors))
                print(f"  {label}: {rate:,.0f} requests/s", flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()

    # Each round's ratio is to that round's /healthz: the machine drifts between rounds (and
    # whole runs), far less within one; the median of those ratios is the page's figure.
    healthz_runs = [rate or 1 for rate, _ in measured[pages[0][0]]]
    results = []
    for label, runs in measured.items():
        ratios = sorted(rate / h for (rate, _), h in zip(runs, healthz_runs, strict=True))
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if len(ratios) > 1 else ""
        label += " (job ended)" if label in ended else ""
        rate = statistics.median(rate for rate, _ in runs)
        results.append((label, rate, statistics.median(ratios), spread,
                        sum(e for _, e in runs)))  # fmt: skip
    cores = os.cpu_count()
    rounds = f", median of {args.repeat} rounds" if args.repeat > 1 else ""
    print(
        f"\n{database}, {args.jobs:,} jobs, wrk -c{args.connections} -t{args.threads} "
        f"-d{args.duration}s, {cores} cores, a job running throughout{rounds}\n"
    )
    print(f"| {'page':<34} | {'requests/s':>10} | {'vs /healthz':>11} | {'rounds':>11} "
          f"| {'errors':>6} |")  # fmt: skip
    print(f"|{'-' * 36}|{'-' * 11}:|{'-' * 12}:|{'-' * 12}:|{'-' * 7}:|")
    for label, rate, ratio, spread, errors in results:
        print(f"| {label:<34} | {rate:>10,.0f} | {ratio:>10.2f}x | {spread:>11} "
              f"| {errors:>6} |")  # fmt: skip


def _user_and_demo():
    """A team member (not staff) of the demo models' team, and the iris demo's snapshot."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from models_registry.models import Model

    admin = User.objects.filter(username="admin").first()
    if admin is None:
        admin = User.objects.create_superuser("admin", "", PASSWORD)
    call_command("load_demo", owner="admin", verbosity=0)
    user = User.objects.filter(username=USERNAME).first()
    if user is None:
        user = User.objects.create_user(USERNAME, "", PASSWORD)
    user.groups.add(Group.objects.get(name="demo"))
    snapshot = Model.objects.get(name="Iris classifier (demo)").latest_snapshot()
    return user, snapshot


# The job each page is measured beside: per record, as a model that is not vectorised costs (a
# few tens of microseconds a record), so it keeps a core busy for the whole wrk run.
LOAD_MODEL = """\
import math

# modelop.score
def action(record):
    x = float(record.get("sepal_length") or 1.0)
    for _ in range(1500):
        x = math.sqrt(x * x + 1.0)
    yield {"score": x}
"""


def _load_model(user):
    """The per-record model of the running jobs (in the demo's team), its latest snapshot."""
    from django.contrib.auth.models import Group

    from models_registry.models import Model
    from models_registry.services import model_create, snapshot_create

    model = Model.objects.filter(name="Benchmark load (per record)").first()
    if model is not None and model.latest_snapshot().source != LOAD_MODEL:
        snapshot_create(model=model, created_by=user, source_name="load.py", source=LOAD_MODEL)
    if model is None:
        model = model_create(owner=user, team=Group.objects.get(name="demo"),
                             name="Benchmark load (per record)", source_name="load.py",
                             source=LOAD_MODEL)  # fmt: skip
    return model.latest_snapshot()


def _leftovers_cancel(user, snapshot) -> None:
    """Jobs of the load model an earlier run left running (it was stopped mid-page): cancelled,
    or they would take the worker's slots from this run's jobs."""
    from jobs.models import ACTIVE_STATUSES, Job
    from jobs.services import job_cancel

    left = Job.objects.filter(snapshot__model=snapshot.model, status__in=ACTIVE_STATUSES)
    for job in left:
        job_cancel(job=job, by=user)
    if left:
        print(f"cancelled {len(left)} job(s) an earlier run left running")


def _jobs_make(*, user, snapshot, n: int) -> None:
    """N finished scoring jobs over the last 90 days (fewer if the database has them)."""
    from django.db import transaction
    from django.utils import timezone

    from jobs.models import Job, JobAsset, JobResult, JobStatus

    have = Job.objects.count()
    if have >= n:
        print(f"{have:,} jobs already in the database")
        return
    started = time.monotonic()
    field = Job._meta.get_field("created_at")
    field.auto_now_add = False  # keep the times given here (this process only)
    now = timezone.now()
    rng = random.Random(0)
    statuses = [JobStatus.COMPLETE] * 8 + [JobStatus.ERROR, JobStatus.CANCELLED]
    batch = 5_000
    for first in range(have, n, batch):
        jobs = []
        for _ in range(first, min(first + batch, n)):
            created = now - timedelta(seconds=rng.uniform(600, 90 * 86400))
            status = rng.choice(statuses)
            jobs.append(
                Job(
                    snapshot=snapshot,
                    created_by=user,
                    status=status,
                    result=JobResult.SUCCESS if status == JobStatus.COMPLETE else "",
                    created_at=created,
                    started_at=created + timedelta(seconds=1),
                    finished_at=created + timedelta(seconds=rng.uniform(2, 600)),
                    records_read=1000,
                    records_written=1000 if status == JobStatus.COMPLETE else 0,
                    error_message="ValueError: bench\nmore" if status == JobStatus.ERROR else "",
                    log="a log line\n" * 20,
                )
            )
        with transaction.atomic():
            made = Job.objects.bulk_create(jobs)
            if made and made[0].pk is None:  # a backend that does not return keys
                made = list(Job.objects.order_by("-id")[: len(jobs)])
            JobAsset.objects.bulk_create(
                JobAsset(
                    job=job,
                    direction=JobAsset.Direction.INPUT,
                    kind=JobAsset.Kind.EMBEDDED,
                    name=f"input-{job.pk}.jsonl",
                    data='{"x": 1}',
                )
                for job in made
            )
    field.auto_now_add = True
    print(f"made {n - have:,} jobs in {time.monotonic() - started:.0f} s")
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does a while after a bulk load: without statistics the planner
        # takes 100,000 rows for a few dozen.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _input_file(data_dir: Path, rows: int) -> Path:
    from models_registry import demo

    path = data_dir / f"iris-{rows}.jsonl"
    if not path.exists():
        demo.write_sample_jsonl(path, rows)
    return path


_running: dict = {}


def _running_job(*, user, snapshot, input_path: Path):
    """A new scoring job that is RUNNING now (the one before it cancelled)."""
    from django.core.files import File

    from jobs.models import JobAsset, JobStatus
    from jobs.services import InputSpec, job_cancel, job_submit, upload_create

    job = _running.get("job")
    if job is not None:
        job.refresh_from_db()
        if not job.is_terminal:
            job_cancel(job=job, by=user)
    if (upload := _running.get("upload")) is None:  # one upload, read by every job
        with open(input_path, "rb") as f:
            upload = _running["upload"] = upload_create(
                owner=user, content=File(f, name=input_path.name)
            )
    job = job_submit(
        user=user, snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
    )  # fmt: skip
    _running["job"] = job
    deadline = time.monotonic() + 120
    while job.status != JobStatus.RUNNING:
        if job.is_terminal or time.monotonic() > deadline:
            sys.exit(f"The benchmark's job did not run ({job.status}): {job.error_message}")
        time.sleep(0.2)
        job.refresh_from_db()
    return job


def _older_page(base: str, cookie: str) -> str:
    """The jobs list's "Older" link from its first page."""
    html = requests.get(f"{base}/jobs/", headers={"Cookie": cookie}, timeout=60).text
    match = re.search(r'href="(\?[^"]*after=[^"]+)"', html)
    if not match:
        sys.exit("The jobs list has no link to older jobs.")
    return "/jobs/" + match[1].replace("&amp;", "&")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("The server stopped; see serve.log in the data dir.")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            pass
        time.sleep(0.5)
    sys.exit("The server did not answer /healthz within 120 s.")


def _login(base: str) -> str:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    response = session.post(
        f"{base}/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{base}/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        sys.exit(f"Could not log in (HTTP {response.status_code}).")
    # The cookies a browser sends back: without the CSRF cookie every answer would make a new
    # CSRF secret (and so a new ETag, which no If-None-Match could ever match).
    return "; ".join(f"{name}={session.cookies[name]}" for name in ("sessionid", "csrftoken"))


def _check(url: str, headers: dict, label: str) -> None:
    """One request first: a page that redirects to the login or fails is not measured."""
    response = requests.get(url, headers=headers, allow_redirects=False, timeout=60)
    if response.status_code not in (200, 286):
        sys.exit(f"{label}: {url} answered {response.status_code}; nothing measured.")


def _wrk(wrk: str, url: str, headers: dict, args, lua: str | None, data_dir: Path):
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    if lua:
        script = data_dir / "conditional.lua"
        script.write_text(lua)
        command += ["-s", str(script)]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    # Errors: answers that were not 2xx or 3xx, and requests that got no answer (wrk's
    # socket errors: a connect, read or write that failed, a timeout).
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    if socket_errors:
        print(f"    {socket_errors[0]}")
    unanswered = sum(int(n) for n in re.findall(r"\d+", socket_errors[0])) if socket_errors else 0
    return rate, (int(errors[1]) if errors else 0) + unanswered


if __name__ == "__main__":
    main()
