"""The job's SparkSession, built before model code runs, so that the model's own
``SparkSession.builder.getOrCreate()`` gets this one: the runtime's master and configuration,
the secret configuration (merged into this session only, never logged), an app name that
names the job, and local folders inside the job's work dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobs.runner.errors import JobError

SECRET_FILE = "spark-secret.json"  # beside spec.json, outside the model's reach
RUNTIME_ZIP = ".moc/moc-runtime.zip"  # our runner code for the Python workers (addPyFile)
JAVA_OPTIONS = "spark.driver.extraJavaOptions"


def secrets_take(spec_path: str) -> dict:
    """The secret configuration the supervisor left beside SPEC_PATH, read and deleted before
    the sandbox closes (so model code cannot read the file; it sees only the session)."""
    path = Path(spec_path).parent / SECRET_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    finally:
        path.unlink(missing_ok=True)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def is_local(master: str) -> bool:
    """A master of one machine (local, local[N], local[*])."""
    return master == "local" or master.startswith("local[")


def session_start(engine: dict, secrets: dict, *, tmp: str):
    """A SparkSession for ENGINE (the spec's engine part). JobError, in words, when Java or
    pyspark is missing or the master cannot be reached."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise JobError(
            "this worker has no pyspark: install the command center with its spark extra "
            "(pip install '.[spark]') and Java 17"
        ) from None
    master = engine.get("master") or "local[*]"
    # Python workers run the interpreter of this process (its packages, pandas, pyarrow).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_DIRS", tmp)
    if is_local(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no interface lookup, no DNS
    if engine.get("hadoop_user"):  # the HDFS connection's user, as the worker's client is
        os.environ["HADOOP_USER_NAME"] = engine["hadoop_user"]
    builder = SparkSession.builder.master(master).appName(engine.get("app_name") or "moc job")
    configured = {str(k): str(v) for k, v in (engine.get("conf") or {}).items()}
    # The runtime's own Java options (GC, JIT, memory) come first; the driver's temporary
    # files go in the job's folder whatever they say.
    java_options = f"{configured.pop(JAVA_OPTIONS, '')} -Djava.io.tmpdir={tmp}".strip()
    if engine.get("class_archive"):  # the classes of a Spark driver, made by the worker
        java_options += f" -XX:SharedArchiveFile={engine['class_archive']}"
    conf = {
        "spark.local.dir": tmp,
        JAVA_OPTIONS: java_options,
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Spark's Python daemon forks the workers, and the JVM then looks the worker up in
        # /proc/<pid>, which the sandbox hides (a process reads only its own /proc entry): a
        # worker is started per task instead. No unix sockets either (seccomp refuses them).
        "spark.python.use.daemon": "false",
        "spark.python.unix.domain.socket.enabled": "false",
        # A Python worker per task imports pandas, pyarrow and the model: on a busy machine
        # that can outlast Spark's 15 s wait for it to connect back, failing the job.
        "spark.python.authenticate.socketTimeout": "180s",
        **configured,
        **{k: v for k, v in secrets.items() if not k.startswith("moc.")},
    }
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        text = " ".join(str(exc).split())[:400]
        if "JAVA_GATEWAY_EXITED" in text or "JAVA_HOME" in text:
            raise JobError(
                "Spark could not start its Java driver (Java 17 must be installed on the "
                "worker's machine; the job log has Java's own message)"
            ) from None
        raise JobError(f"Spark session could not start on master {master!r}: {text}") from None


def session_end(spark) -> None:
    """Stop SPARK's session and end its JVM (the gateway's process), so that code running in
    this process afterwards has no handle on the session, its configuration or the cluster.
    Again, or with the JVM gone already: nothing."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    try:
        spark.stop()
    except Exception:  # the JVM is gone already: the application ended with it
        pass
    try:
        gateway.shutdown()
    except Exception:
        pass
    proc = getattr(gateway, "proc", None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None
