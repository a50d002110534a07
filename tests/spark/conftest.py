"""Spark in local mode behind a real worker. Without Java or pyspark (the spark extra) these
tests are skipped with a note, as the browser tests are without Chromium.

One worker serves one Spark runtime for the whole session (starting and stopping a worker
costs seconds); transactional tests flush the database after each test, so each test writes
the runtime's row again, with the same queue the worker listens on."""

from __future__ import annotations

import importlib.util
import shutil
import uuid

import pytest

from jobs.models import Runtime
from jobs.worker.sparkclasses import class_archive_build
from tests.workers import runworker_start


def _missing() -> str:
    if shutil.which("java") is None:
        return "Java is not installed (apt-get install openjdk-17-jre-headless)"
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pyarrow") is None:
        return "pyspark is not installed (SETUP_EXTRAS=spark scripts/setup)"
    return ""


@pytest.fixture(scope="session")
def spark_queue():
    if why := _missing():
        pytest.skip(f"{why}; Spark tests skipped")
    return f"spark-{uuid.uuid4().hex[:8]}"


# The tests' jobs are small: Java's quick compiler only (the optimising one spends seconds of
# CPU on code a small job runs once) and one GC thread, on a machine whose cores the rest of
# the suite uses too.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def spark_runtime_row(queue: str, master: str = "local[2]") -> Runtime:
    runtime, _ = Runtime.objects.update_or_create(
        queue=queue,
        defaults={"name": queue, "kind": Runtime.Kind.SPARK, "spark_master": master,
                  "spark_conf": TEST_CONF},
    )  # fmt: skip
    return runtime


# Package scope, not session: the worker's reconciler runs with the fault tests' short
# heartbeat periods (tests/workers.py FAST), so left running after the Spark tests it took an
# ordinary worker of a later test for lost and gave its jobs back.
@pytest.fixture(scope="package")
def spark_worker(spark_queue, django_db_setup, django_db_blocker, tmp_path_factory):
    # The drivers' class archive, made once before the first job (as a worker does for the
    # jobs after its first): each job's JVM then starts in half the time.
    class_archive_build()
    with django_db_blocker.unblock():
        runtime = spark_runtime_row(spark_queue)
        worker = runworker_start(
            runtime=runtime, log_path=tmp_path_factory.mktemp("spark") / "worker.log"
        )
    yield worker
    worker.stop()


@pytest.fixture
def spark_runtime(spark_worker, spark_queue, db):
    return spark_runtime_row(spark_queue)
