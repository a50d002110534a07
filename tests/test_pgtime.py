"""Timestamps from PostgreSQL are parsed by psycopg's C loader (commandcenter.lib.pgtime) and
come out as Django's own loader gives them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL loader (DATABASE_URL unset)"
)

VALUES = [
    "2026-12-07 00:40:16.566168+00",
    "2026-06-30 23:59:59.999999+02",  # another offset: the same instant in UTC
    "1901-02-03 04:05:06+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


@pytest.mark.django_db
def test_timestamps_read_as_djangos_loader_reads_them():
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, Format.TEXT)
    assert loader.__name__ == "FastTzLoader" and loader.timezone is connection.timezone

    sql = "SELECT " + ", ".join(f"'{v}'::timestamptz" for v in VALUES)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        fast = cursor.fetchone()
    with connection.cursor() as cursor:  # Django's loader, on this cursor only
        register_tzloader(connection.timezone, cursor.cursor)
        assert cursor.cursor.adapters.get_loader(1184, Format.TEXT).__name__ != loader.__name__
        cursor.execute(sql)
        django_read = cursor.fetchone()
    assert fast == django_read
    assert all(value.tzinfo is UTC for value in fast)
    assert fast[0] == datetime(2026, 12, 7, 0, 40, 16, 566168, tzinfo=UTC)
    assert fast[1] == datetime(2026, 6, 30, 21, 59, 59, 999999, tzinfo=UTC)
    assert connection.connection.adapters.get_loader(1184, Format.TEXT) is loader
