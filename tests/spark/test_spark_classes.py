"""The Spark drivers' class archive (jobs/worker/sparkclasses.py) where there is nothing to
make it with: no archive, no build, nothing added to a job's sandbox. (That a job's sandboxed
driver maps the archive the worker made: test_spark_supervision's cancel test.)"""

from __future__ import annotations

import threading

from jobs.worker import sparkclasses
from jobs.worker.spark import spark_read_only


def test_without_java_no_archive_is_made_or_named(monkeypatch, tmp_path, settings):
    settings.SPARK_CLASS_ARCHIVE_DIR = tmp_path / "spark-classes"
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    threads = threading.active_count()

    assert sparkclasses.class_archive_path() is None
    assert sparkclasses.class_archive() == ""
    assert sparkclasses.class_archive_build() == ""
    assert threading.active_count() == threads  # no build started in the background
    assert not (tmp_path / "spark-classes").exists()
    assert not any("spark-classes" in path for path in spark_read_only())
