"""Each pytest-xdist worker's own DATA_DIR and Redis database (tests/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.settings import redis_url_for_worker, worker_environment


def test_each_worker_takes_the_redis_databases_after_broker_urls_wrapping_at_16():
    assert redis_url_for_worker("redis://127.0.0.1:6379/5", 0) == "redis://127.0.0.1:6379/6"
    assert redis_url_for_worker("redis://127.0.0.1:6379/5", 2) == "redis://127.0.0.1:6379/8"
    assert redis_url_for_worker("redis://h:6379/15", 0) == "redis://h:6379/0"
    assert redis_url_for_worker("redis://:pw@h:6379", 1) == "redis://:pw@h:6379/2"


def test_sixteen_workers_are_refused_as_redis_has_no_database_left_for_them():
    with pytest.raises(RuntimeError, match="run fewer"):
        redis_url_for_worker("redis://h:6379/0", 15)


def test_a_worker_gets_folders_of_its_own_under_those_given_but_shares_the_spark_archive():
    env = {"DATA_DIR": "/d", "MEDIA_ROOT": "/m", "BROKER_URL": "redis://h/3"}
    assert worker_environment(env, worker="gw1", base_dir=Path("/app")) == {
        "DATA_DIR": "/d/gw1",
        "MEDIA_ROOT": "/m/gw1",
        "BROKER_URL": "redis://h/5",
        "SPARK_CLASS_ARCHIVE_DIR": "/d/spark-classes",
    }
    assert worker_environment({}, worker="gw0", base_dir=Path("/app")) == {
        "DATA_DIR": "/app/.data/gw0",
        "SPARK_CLASS_ARCHIVE_DIR": "/app/.data/spark-classes",
    }
