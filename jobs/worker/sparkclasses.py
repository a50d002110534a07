"""The class-data archive of Spark drivers: the Java classes a Spark session loads (some
twenty thousand), kept mapped and ready (Java's class-data sharing, `-XX:SharedArchiveFile`),
so that a job's driver JVM starts in about half the time and CPU.

The archive is made once per machine, Java, pyspark and jar set, by the worker in a process of
its own that runs our code only (jobs/spark/classes.py), never by a job: a driver runs model
code, and an archive it wrote would be loaded into the next team's JVM. Jobs read it (their
sandbox allows that file, read only). The first Spark job that finds none starts making it in
the background and runs without it, as does every job while it is being made; Java ignores an
archive that does not match it (another Java build) and starts as it would without one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

BUILD_TIMEOUT_SECONDS = 600
_MAKING = "making-"  # the folder an archive is made in, beside the archives
_BUILD_ENVIRONMENT = ("PATH", "LANG", "JAVA_HOME", "SPARK_HOME", "SPARK_CONF_DIR")
RETRY_SECONDS = 3600
_building = threading.Lock()
_retry_at = [0.0]  # monotonic time before which a failed archive is not made again


def _folder() -> Path:
    return Path(settings.SPARK_CLASS_ARCHIVE_DIR)


def java_home() -> str:
    """The Java installation Spark starts: JAVA_HOME, else the one `java` on PATH is in."""
    java = shutil.which("java")
    return os.environ.get("JAVA_HOME") or (
        str(Path(os.path.realpath(java)).parent.parent) if java else ""
    )


def _key() -> str | None:
    """What the archive depends on: the Java build, pyspark and its jars. None without
    Java or pyspark (no Spark job can run; nothing to make)."""
    home = java_home()
    try:
        import pyspark
    except ImportError:
        return None
    jvm = next(Path(home).glob("lib/server/libjvm.so"), None) if home else None
    if jvm is None:
        return None
    jars = Path(pyspark.__file__).parent / "jars"
    parts = [str(jvm.resolve()), str(jvm.stat().st_mtime_ns), pyspark.__version__]
    parts += sorted(p.name for p in jars.glob("*.jar"))
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()


def class_archive_path() -> Path | None:
    key = _key()
    return _folder() / f"spark-{key}.jsa" if key else None


def class_archive(*, build: bool = True) -> str:
    """The archive's path where it is made; else "" (and, with BUILD, it is started in the
    background for the jobs after this one)."""
    path = class_archive_path()
    if path is None:
        return ""
    if path.is_file():
        return str(path)
    if build and time.monotonic() >= _retry_at[0] and _building.acquire(blocking=False):
        threading.Thread(target=_build_then_release, args=(path,), daemon=True).start()
    return ""


def _build_then_release(path: Path) -> None:
    made = ""
    try:
        made = class_archive_build(path)
    except Exception:  # a job's start must never fail for its archive
        log.exception("The Spark class archive could not be made")
    finally:
        if not made:  # not again for every job: an hour on, it may work (Java installed)
            _retry_at[0] = time.monotonic() + RETRY_SECONDS
        _building.release()


def class_archive_build(path: Path | None = None) -> str:
    """Make the archive (if no other process of this machine is making it), and its path; ""
    when it could not be made (the reason is logged)."""
    path = path or class_archive_path()
    if path is None:
        return ""
    folder = path.parent
    folder.mkdir(mode=0o755, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker making it: wait for its archive
        if path.is_file():
            return str(path)
        for left in folder.glob(f"{_MAKING}*"):  # of a worker that ended while making one
            shutil.rmtree(left, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=_MAKING) as work:
            made = Path(work) / path.name
            # Our code only, and none of the worker's settings or secrets.
            env = {name: os.environ[name] for name in _BUILD_ENVIRONMENT if name in os.environ}
            env.update(PYTHONPATH=str(settings.BASE_DIR), HOME=work, TMPDIR=work)
            done = subprocess.run(
                [sys.executable, "-m", "jobs.spark.classes", str(made), work],
                env=env, cwd=work, capture_output=True, text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
            )  # fmt: skip
            if done.returncode != 0 or not made.is_file():
                tail = " ".join((done.stderr or "").split()[-60:])
                log.warning("The Spark class archive was not made (exit %s): %s",
                            done.returncode, tail)  # fmt: skip
                return ""
            made.chmod(0o444)  # a job's driver, another user, maps it
            os.replace(made, path)
    for old in folder.glob("spark-*.jsa"):  # of a Java or pyspark this machine had before
        if old != path:
            old.unlink(missing_ok=True)
    log.info("Spark class archive made: %s (%d MB)", path.name, path.stat().st_size >> 20)
    return str(path)
