"""Whether packages that run next to model code import anything of the server."""

from __future__ import annotations

import ast
import subprocess
import sys

from django.conf import settings

SERVER_PACKAGES = ("django", "psycopg", "celery", "kombu", "redis", "rest_framework")


def import_in_fresh_interpreter(*packages: str) -> tuple[int, list[str]]:
    """Import every module of PACKAGES in a fresh interpreter (no Django settings, a bare
    environment): how many modules that was, and which server packages came in with them."""
    script = (
        "import importlib, pkgutil, sys\n"
        f"roots = [importlib.import_module(p) for p in {list(packages)!r}]\n"
        "names = [m.name for r in roots\n"
        "         for m in pkgutil.walk_packages(r.__path__, r.__name__ + '.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        f"print(len(names), sorted(n for n in sys.modules if n.split('.')[0] in {SERVER_PACKAGES!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR)}, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    count, bad = out.stdout.split(" ", 1)
    return int(count), ast.literal_eval(bad)
