from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Set up and run the command center on this machine: migrate, make sure an admin login "
        "exists (printed), load the demo model, then run the web server and a Celery worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="skip loading the demo model")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--spark",
            action="store_true",
            help="also make a local[*] Spark runtime named 'spark' and start its worker "
            "(needs the spark extra and Java 17)",
        )

    def handle(
        self, *args, host: str, port: int, no_demo: bool, web_workers: int, spark: bool,
        **options,
    ):  # fmt: skip
        call_command("migrate", interactive=False, verbosity=0)
        username, password = self._admin_login()
        if not no_demo:
            call_command("load_demo", owner=username)

        env = os.environ.copy()
        procs = [
            subprocess.Popen([sys.executable, "manage.py", "runworker"], env=env),
            *([self._spark_worker(env)] if spark else []),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "commandcenter.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(web_workers),
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],  # fmt: skip
                env=env,
            ),
        ]
        database = "SQLite (embedded)" if not settings.DATABASE_URL else "PostgreSQL"
        broker = "embedded" if not settings.BROKER_URL else settings.BROKER_URL.split("://")[0]
        self.stdout.write(
            "\n"
            f"  Command center: http://{host}:{port}/\n"
            f"  Login:          {username} / {password}\n"
            f"  Database:       {database};  broker: {broker};  data: {settings.DATA_DIR}\n"
            "  Stop with Ctrl-C.\n"
        )
        self.stdout.flush()
        self._wait(procs)

    def _spark_worker(self, env: dict) -> subprocess.Popen:
        """The local[*] Spark runtime (made once; a staff member may change it in the admin)
        and a worker serving it."""
        from jobs.models import Runtime

        runtime, made = Runtime.objects.get_or_create(
            name="spark",
            defaults={"queue": "spark", "kind": Runtime.Kind.SPARK, "spark_master": "local[*]",
                      "description": "Apache Spark on this machine (local[*])."},
        )  # fmt: skip
        if runtime.kind != Runtime.Kind.SPARK:
            self.stderr.write(f"runtime {runtime.name!r} exists and is not a Spark runtime")
        elif made:
            self.stdout.write("  Made the Spark runtime 'spark' (local[*]).")
        return subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "--runtime", runtime.name], env=env
        )

    def _admin_login(self) -> tuple[str, str]:
        """The first admin login: made once with a random password kept in DATA_DIR."""
        users = get_user_model()
        path = settings.DATA_DIR / "admin-password"
        user = users.objects.filter(username="admin").first()
        if user is None:
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "", password)
            path.write_text(password)
            path.chmod(0o600)
            return "admin", password
        if path.exists() and user.check_password(path.read_text().strip()):
            return "admin", path.read_text().strip()
        return "admin", "(the password you set; reset it with: manage.py changepassword admin)"

    def _wait(self, procs: list[subprocess.Popen]) -> None:
        def stop(*_):
            for p in procs:
                if p.poll() is None:
                    p.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            deadline = time.monotonic() + 15
            for p in procs:
                try:
                    p.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    p.kill()
