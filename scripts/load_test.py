"""Drive a running command center with concurrent browser-like clients and report latencies.

Not part of the test suite: a measurement. 50 clients (threads, each with its own HTTP
session carrying the same login's session cookie) loop for 60 s through the job list, job
pages and the job status partial htmx polls every second, while demo scoring jobs run:

    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:8000 \\
        --username admin --password "$(cat .data/admin-password)"

To have jobs running during the test, run it with the server's own settings (DATABASE_URL,
BROKER_URL, DATA_DIR, ... as `scripts/start` got them): it then submits a demo scoring job
every --submit-every seconds through the same service the wizard uses (--no-submit: only read).
Prints, per kind of request: requests, errors, p50 / p95 / max latency in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
OK_STATUSES = {200, 286}  # 286: htmx "stop polling", the status partial of a finished job
KINDS = (("list", 0.2), ("page", 0.3), ("status", 0.5))


def login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    page.raise_for_status()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not match:
        sys.exit("No CSRF token on the login page: is --url a command center?")
    response = session.post(
        f"{base}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": match[1]},
        headers={"Referer": f"{base}/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        sys.exit(f"Could not log in as {username!r} (HTTP {response.status_code}).")
    return session


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: dict[str, str] = {}

    def add(self, kind: str, seconds: float, error: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors[kind] += 1
                self.samples.setdefault(kind, error)


class JobIds:
    """The uuids clients open: refreshed from the job list page, newest first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[str] = []

    def update(self, html: str) -> None:
        found = list(dict.fromkeys(re.findall(r'href="/jobs/([0-9a-f-]{36})/"', html)))
        if found:
            with self.lock:
                self.ids = found

    def pick(self) -> str | None:
        with self.lock:
            return random.choice(self.ids[:10]) if self.ids else None


def client(base: str, cookies, stats: Stats, ids: JobIds, stop: threading.Event) -> None:
    session = requests.Session()
    session.cookies.update(cookies)
    kinds, weights = zip(*KINDS, strict=True)
    while not stop.is_set():
        kind = random.choices(kinds, weights)[0]
        job = ids.pick()
        if kind == "list" or job is None:
            kind, url, headers = "list", f"{base}/jobs/", {}
        elif kind == "page":
            url, headers = f"{base}/jobs/{job}/", {}
        else:
            url, headers = f"{base}/jobs/{job}/status/", {"HX-Request": "true"}
        started = time.perf_counter()
        try:
            response = session.get(url, headers=headers, timeout=30, allow_redirects=False)
            error = "" if response.status_code in OK_STATUSES else f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            response, error = None, type(exc).__name__
        stats.add(kind, time.perf_counter() - started, error)
        if kind == "list" and response is not None and not error:
            ids.update(response.text)


def submitter(every: float, rows: int, stop: threading.Event, submitted: list) -> None:
    """Submit a demo scoring job every EVERY seconds through jobs.services.job_submit."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from jobs.models import JobAsset, Upload
    from jobs.services import InputSpec, job_submit
    from models_registry import demo
    from models_registry.management.commands.load_demo import DEMO_NAME
    from models_registry.models import Model

    owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    snapshot = Model.objects.get(name=DEMO_NAME).latest_snapshot()
    path = demo.write_sample_jsonl(Path(tempfile.mkdtemp()) / "iris-load.jsonl", rows)
    upload = Upload(owner=owner, name=path.name, size=path.stat().st_size)
    with open(path, "rb") as f:
        upload.file.save(path.name, File(f), save=False)
    upload.save()
    while not stop.is_set():
        job = job_submit(
            user=owner, snapshot=snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        )  # fmt: skip
        submitted.append(job.pk)
        stop.wait(every)


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default=os.environ.get("CC_PASSWORD", ""))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--submit-every", type=float, default=2.0)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per demo job")
    parser.add_argument("--no-submit", action="store_true", help="only read; submit no jobs")
    args = parser.parse_args()
    base = args.url.rstrip("/")

    cookies = login(base, args.username, args.password).cookies
    stats, ids, stop, submitted = Stats(), JobIds(), threading.Event(), []
    ids.update(requests.get(f"{base}/jobs/", cookies=cookies, timeout=30).text)
    threads = []
    if not args.no_submit:
        threads.append(
            threading.Thread(
                target=submitter, args=(args.submit_every, args.rows, stop, submitted), daemon=True
            )
        )
    threads += [
        threading.Thread(target=client, args=(base, cookies, stats, ids, stop), daemon=True)
        for _ in range(args.clients)
    ]
    print(f"{args.clients} clients for {args.seconds:.0f} s against {base} ...", flush=True)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=35)
    elapsed = time.monotonic() - started

    print(f"\n{'kind':<8}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    everything: list[float] = []
    for kind, _ in KINDS:
        values = stats.latencies.get(kind, [])
        everything += values
        if values:
            p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
            print(
                f"{kind:<8}{len(values):>10}{stats.errors[kind]:>8}{p50:>9.0f}{p95:>9.0f}"
                f"{max(values) * 1000:>9.0f}"
            )
    errors = sum(stats.errors.values())
    if everything:
        print(
            f"{'all':<8}{len(everything):>10}{errors:>8}{percentile(everything, 50) * 1000:>9.0f}"
            f"{percentile(everything, 95) * 1000:>9.0f}{max(everything) * 1000:>9.0f}"
        )
        print(f"\n{len(everything) / elapsed:,.0f} requests/s over {elapsed:.0f} s")
    for kind, sample in stats.samples.items():
        print(f"first {kind} error: {sample}")
    if submitted:
        from jobs.models import Job

        done = Job.objects.filter(pk__in=submitted)
        by_status = {s: done.filter(status=s).count() for s in ("COMPLETE", "RUNNING", "WAITING")}
        print(f"jobs submitted during the test: {len(submitted)} ({by_status})")


if __name__ == "__main__":
    main()
