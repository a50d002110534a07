"""The settings of a test run: the project's own, with each pytest-xdist worker on data of its own.

`pytest -n 3` runs three worker processes, and each starts real Celery workers, writes uploads
and work dirs, and empties its broker's queues: given one DATA_DIR and one broker they would
take each other's messages and files. So before the project's settings are read, a worker's
environment gets a folder of its own under DATA_DIR (the SQLite test database, the embedded
broker, media, work dirs and model environments live there), and on Redis a database number of
its own (the next ones after BROKER_URL's, as pytest-django gives each worker a test database of
its own). The processes the tests start inherit that environment, so they agree with the test.

Those processes read the project's settings, not this module: tests/conftest.py names them in
DJANGO_SETTINGS_MODULE again (but in the pytest-xdist controller, whose workers need this one).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # Redis's default `databases`
_FOLDERS = ("MEDIA_ROOT", "JOB_WORK_DIR", "MODEL_ENV_DIR")  # when set apart from DATA_DIR


def redis_url_for_worker(url: str, index: int) -> str:
    """URL's Redis database number moved on by INDEX + 1 (wrapping at 16): /15 gives 0, 1, ..."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    if index + 1 >= REDIS_DATABASES:
        raise RuntimeError(f"{index + 1} pytest-xdist workers need more than {REDIS_DATABASES} "
                           "Redis databases: run fewer (-n)")  # fmt: skip
    return urlunsplit(parts._replace(path=f"/{(number + index + 1) % REDIS_DATABASES}"))


def worker_environment(env: dict[str, str], *, worker: str, base_dir: Path) -> dict[str, str]:
    """The variables to change in ENV for pytest-xdist worker WORKER ("gw0", "gw1", ...)."""
    changes = {"DATA_DIR": str(Path(env.get("DATA_DIR") or base_dir / ".data") / worker)}
    changes |= {name: str(Path(env[name]) / worker) for name in _FOLDERS if env.get(name)}
    # One Spark class archive for all workers (read only; the first makes it, the rest wait).
    changes["SPARK_CLASS_ARCHIVE_DIR"] = env.get("SPARK_CLASS_ARCHIVE_DIR") or str(
        Path(env.get("DATA_DIR") or base_dir / ".data") / "spark-classes"
    )
    broker = env.get("BROKER_URL", "")
    if broker.startswith(("redis://", "rediss://")):
        changes["BROKER_URL"] = redis_url_for_worker(broker, int(worker.removeprefix("gw")))
    return changes


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("MOC_TEST_WORKER") != _worker:  # once, not in its children
    os.environ.update(worker_environment(
        os.environ, worker=_worker, base_dir=Path(__file__).resolve().parent.parent
    ))  # fmt: skip
    os.environ["MOC_TEST_WORKER"] = _worker

from commandcenter.settings import *  # noqa: E402, F403
