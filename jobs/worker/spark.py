"""A Spark runtime's part of preparing a job (workdir.py calls these): the engine part of the
spec, the secret configuration in a file the model process reads and deletes before its
sandbox closes, our runner code zipped for the Python workers, and what the sandbox must
also allow for a Spark driver."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from jobs.models import Job, JobAsset, JobType, Runtime
from jobs.runner.errors import JobError
from jobs.runner.smarttags import SmartTags
from jobs.spark.contract import function_parameters, is_pyspark
from jobs.spark.session import RUNTIME_ZIP, SECRET_FILE
from jobs.worker.sparkclasses import class_archive, java_home
from jobs.worker.sparkdata import Plan

# A JVM's threads count against RLIMIT_NPROC; a local[*] driver runs a few hundred.
SPARK_THREADS = 4096
# Read by the JVM: name resolution (its own host name, the cluster's hosts).
_NAME_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf",
               "/etc/gai.conf", "/etc/hostname")  # fmt: skip
_PACKAGES = ("jobs/runner", "jobs/spark", "modelop", "modelop_sdk")


def is_spark(runtime: Runtime | None) -> bool:
    return bool(runtime and runtime.kind == Runtime.Kind.SPARK)


def java_read_only() -> list[str]:
    """The Java installation and what its links point to outside it (Debian keeps the JVM's
    configuration, java.security included, under /etc/java-17-openjdk)."""
    home = java_home()
    if not home or not os.path.isdir(home):
        return []
    found = {os.path.realpath(home)}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not target.startswith(("/usr/", os.path.realpath(home))):
                    found.add(target if os.path.isdir(target) else os.path.dirname(target))
    return sorted(found)


# The worker's own environment a Spark driver needs: its Java, and the cluster's client
# configuration (YARN, HDFS); nothing else of the worker's environment reaches the model.
SPARK_ENVIRONMENT = ("JAVA_HOME", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_CONF_DIR",
                     "SPARK_HOME", "HADOOP_HOME")  # fmt: skip


def spark_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in SPARK_ENVIRONMENT if os.environ.get(name)}


def spark_read_only() -> list[str]:
    """Beside the Java installation: the cluster configuration folders the environment names."""
    folders = [value for name, value in spark_environment().items() if name != "JAVA_HOME"]
    files = [f for f in [postgres_jar_file(), class_archive(build=False)] if f]
    return [*java_read_only(), *_NAME_FILES, *folders, *files]


def postgres_jar_file() -> str:
    """Debian's PostgreSQL JDBC driver where it is installed (the driver reads it)."""
    from jobs.worker.sparkdata import DEBIAN_POSTGRES_JAR

    return os.path.realpath(DEBIAN_POSTGRES_JAR) if os.path.isfile(DEBIAN_POSTGRES_JAR) else ""


def _runtime_zip(dest: Path) -> None:
    """Our runner code for Spark's Python workers (sc.addPyFile): jobs/runner, jobs/spark,
    the ModelOp helper packages; a jobs/__init__.py of its own, not the Django app's."""
    base = Path(settings.BASE_DIR)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("jobs/__init__.py", "")
        for package in _PACKAGES:
            for path in sorted((base / package).rglob("*.py")):
                z.write(path, path.relative_to(base).as_posix())


def _searchable(base: Path) -> None:
    """o+x (search, never read) on the folders down to BASE, where the model runs as another
    user. The JVM checks paths with access(2), which judges by the real user and ignores the
    capability the model process keeps to reach its work dir through the server's 0700 data
    dir (jobs/runner/sandbox.py): without this, Hadoop's output committer is refused its own
    _temporary folder. Nothing becomes listable or readable: the files beside the work dir
    are the worker's own, 0600."""
    if os.geteuid() != 0:
        return
    folder = base
    while folder != folder.parent:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod((mode & 0o7777) | 0o001)
        folder = folder.parent
    for name in ("spec.json", "job.log"):
        path = base / name
        path.touch(mode=0o600)
        path.chmod(0o600)


@dataclass
class SparkData:
    """What the job's external inputs need of its Spark session (jobs/worker/sparkdata.py):
    their secrets, jars, the Hadoop user, and a line each for the job log."""

    secrets: dict = field(default_factory=dict)
    jars: list[str] = field(default_factory=list)
    hadoop_user: str = ""
    notes: list[str] = field(default_factory=list)
    _pyspark: bool | None = None

    def pyspark(self, job: Job) -> bool:
        if self._pyspark is None:
            kind = {"scoring": "score", "metrics": "metrics", "training": "train"}
            name = SmartTags.from_dict(job.snapshot.smart_tags).functions.get(
                kind.get(job.job_type, "score")
            )
            self._pyspark = bool(name) and is_pyspark(
                function_parameters(job.snapshot.source, name)
            )
        return self._pyspark

    def add(self, asset: JobAsset, plan: Plan) -> None:
        self.secrets.update(plan.secrets)
        self.jars.extend(j for j in plan.jars if j not in self.jars)
        self.hadoop_user = self.hadoop_user or plan.hadoop_user
        self.notes.append(f"input {asset.name!r}: {plan.note}")


def spark_engine(*, job: Job, base: Path, work: Path, data: SparkData | None = None) -> dict:
    """The spec's engine part for JOB on its Spark runtime; the secret configuration (the
    runtime's, and the job's own for its inputs) beside the spec (0600, outside work/),
    never in it."""
    runtime = job.runtime
    data = data or SparkData()
    secrets: dict = {}
    if runtime.spark_secret_conf:
        try:
            secrets = json.loads(runtime.spark_secret_conf)
        except ValueError:
            secrets = None
        if not isinstance(secrets, dict):
            raise JobError(
                f"runtime {runtime.name}: its secret Spark configuration is not a JSON object "
                "(staff can set it again in the admin)"
            )
    secret_path = base / SECRET_FILE
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({**{str(k): str(v) for k, v in secrets.items()}, **data.secrets}, f)
    _runtime_zip(work / RUNTIME_ZIP)
    _searchable(base)
    model = job.snapshot.model.name
    conf = {str(k): str(v) for k, v in (runtime.spark_conf or {}).items()}
    if data.jars:
        conf["spark.jars"] = ",".join(filter(None, [conf.get("spark.jars", ""), *data.jars]))
    output = job.output_asset()
    return {
        "kind": "spark",
        # A scoring job's HDFS or S3 output is the folder of Spark's part files, not one file.
        "output_parts": job.job_type == JobType.SCORING
        and output is not None
        and output.kind in (JobAsset.Kind.HDFS, JobAsset.Kind.S3),
        "master": runtime.spark_master or "local[*]",
        "conf": conf,
        "hadoop_user": data.hadoop_user,
        "class_archive": class_archive(),  # "" until this machine has made it
        "data_notes": data.notes,
        "app_name": f"moc {job.get_job_type_display().lower()} job {job.uuid} ({model} "
        f"v{job.snapshot.version})",
    }
