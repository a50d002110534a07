"""Faults the outage tests cause: the database out of reach for this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from tests.servers import closed_port


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Inside, every new connection of this thread to the default database fails at once (a
    closed port; for SQLite a file in a folder that does not exist), as when the server is
    down; the server itself is left alone. Needs a transactional test: the test's own
    connection is closed first."""
    connection.close()
    key = "NAME" if connection.vendor == "sqlite" else "PORT"
    away = "/nonexistent-folder/db.sqlite3" if key == "NAME" else str(closed_port())
    kept = connection.settings_dict[key]
    connection.settings_dict[key] = away
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict[key] = kept
