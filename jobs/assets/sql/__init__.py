"""SQL assets: an input is one read-only SELECT against a named connection, streamed into a
Parquet file; an output is a table, written in one transaction. PostgreSQL and SQLite.

Connection DSNs: postgresql://user:password@host:5432/db (or postgres://...), and
sqlite:///absolute/path.db.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from jobs.assets.sql.databases import DsnError, connection_test, dsn_parse, timeout_of
from jobs.assets.sql.source import Source
from jobs.assets.sql.statements import StatementError, query_clean, table_clean
from jobs.assets.sql.target import Target
from jobs.models import Connection, JobAsset

__all__ = ["Source", "Target", "connection_test", "validate"]


def validate(*, connection: Connection, location: str, query: str, direction: str) -> str:
    """The cleaned SELECT (input) or table name (output); ValidationError, before anything
    runs, for a statement that would write or call a denied function, a name that is not a
    table's, or a connection without a statement timeout."""
    try:
        dsn_parse(connection)
        timeout_of(connection)
        if direction == JobAsset.Direction.INPUT:
            return query_clean(query)
        return ".".join(table_clean(location))
    except (StatementError, DsnError) as exc:
        message = str(exc)
        raise ValidationError(message[:1].upper() + message[1:] + ".") from None
