"""A SQL input: one SELECT, streamed from a server-side cursor into a Parquet file.

Rows come in chunks (psycopg named cursor, sqlite3 fetchmany) and each chunk is written as
one Parquet row group, so memory stays flat whatever the result size. The first chunk fixes
the Arrow schema (PostgreSQL's declared column types where they are known); later chunks are
cast to it, so column types survive the trip to the model.

A stop (the job cancelled) breaks off the statement running: a cancel request to PostgreSQL,
an interrupt of SQLite; the fetch then removes its file and closes the connection.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from jobs.assets.base import AssetError, FetchedFile, InputSource, Stop, Stopped
from jobs.assets.sql.databases import (
    Dsn,
    DsnError,
    Timeout,
    Unreachable,
    dsn_parse,
    error_reason,
    postgres_connect,
    postgres_rearm,
    sqlite_connect,
    sqlite_deadline,
    timeout_of,
)
from jobs.assets.sql.statements import StatementError, query_clean

RESULT_NAME = "result.parquet"
_CURSOR_NAME = "cc_sql_input"
_CANCEL_SECONDS = 3.0  # at most, to reach PostgreSQL with a cancel request
_CANCEL_AGAIN_SECONDS = 0.2


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# PostgreSQL type name → the Arrow type its values keep, and how to convert them on the way.
_POSTGRES_TYPES: dict[str, tuple[pa.DataType, Callable[[Any], Any] | None]] = {
    "bool": (pa.bool_(), None),
    "int2": (pa.int16(), None),
    "int4": (pa.int32(), None),
    "int8": (pa.int64(), None),
    "oid": (pa.int64(), None),
    "float4": (pa.float32(), None),
    "float8": (pa.float64(), None),
    "text": (pa.string(), None),
    "varchar": (pa.string(), None),
    "bpchar": (pa.string(), None),
    "name": (pa.string(), None),
    "char": (pa.string(), None),
    "uuid": (pa.string(), _text),
    "json": (pa.string(), _json_text),
    "jsonb": (pa.string(), _json_text),
    "bytea": (pa.binary(), None),
    "date": (pa.date32(), None),
    "time": (pa.time64("us"), None),
    "timestamp": (pa.timestamp("us"), None),
    "timestamptz": (pa.timestamp("us", tz="UTC"), None),
    "interval": (pa.duration("us"), None),
}


class _Column:
    def __init__(self, name: str, type_: pa.DataType | None, convert=None) -> None:
        self.name = name
        self.type = type_  # None: learnt from the first chunk
        self.convert = convert

    def array(self, values: Sequence[Any], *, label: str) -> pa.Array:
        if self.convert is not None:
            values = [self.convert(v) for v in values]
        try:
            if self.type is not None:
                try:
                    return pa.array(values, type=self.type)
                except (pa.ArrowException, TypeError, ValueError, OverflowError):
                    return pa.array(values).cast(self.type)
            array = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            known = f" ({self.type})" if self.type is not None else ""
            raise AssetError(
                f"{label}: column {self.name!r}{known} holds values that do not fit one type: {exc}"
            ) from None
        if pa.types.is_null(array.type):  # no value yet to learn from: keep text
            array = array.cast(pa.string())
        self.type = array.type
        return array


def _postgres_cancel(conn: psycopg.Connection) -> None:
    """Break off the statement CONN runs (from another thread). PostgreSQL ignores a cancel
    that lands between two statements, so a second one follows for a statement that may have
    started meanwhile; the fetch cannot roll back or close CONN before this returns."""
    conn.cancel_safe(timeout=_CANCEL_SECONDS)
    time.sleep(_CANCEL_AGAIN_SECONDS)
    conn.cancel_safe(timeout=_CANCEL_SECONDS)


def _postgres_columns(cursor: psycopg.Cursor) -> list[_Column]:
    columns = []
    for column in cursor.description or ():
        info = cursor.connection.adapters.types.get(column.type_code)
        name = info.name if info is not None else ""
        type_, convert = _POSTGRES_TYPES.get(name, (None, None))
        if name == "numeric":
            if column.precision and column.precision <= 38:
                type_ = pa.decimal128(column.precision, column.scale or 0)
            else:  # unconstrained numeric: any precision, so a float
                type_, convert = pa.float64(), _number
        columns.append(_Column(column.name, type_, convert))
    return columns


class Source(InputSource):
    def __init__(self, asset) -> None:
        super().__init__(asset)
        self.label = f"input '{asset.name or 'SQL'}'"

    def fetch(self, *, dest: Path, stop: Stop | None = None) -> list[FetchedFile]:
        stop = stop or Stop()
        try:
            query = query_clean(self.asset.query)  # again: the row may have been edited since
            dsn = dsn_parse(self.connection)
            timeout = timeout_of(self.connection)
        except (StatementError, DsnError) as exc:
            raise AssetError(f"{self.label}: {exc}") from None
        path = dest / RESULT_NAME
        try:
            stop.check(self.label)
            rows = self._postgres_rows if dsn.is_postgres else self._sqlite_rows
            # Closed at once on any failure: the connection goes with the generator.
            with closing(rows(dsn, query, timeout, stop)) as chunks:
                self._write(chunks, path)
        except (psycopg.Error, sqlite3.Error, Unreachable) as exc:
            path.unlink(missing_ok=True)
            if stop.is_set():  # broken off by the stop, not the timeout or the query
                raise Stopped(f"{self.label}: stopped") from None
            raise AssetError(
                f"{self.label}: {error_reason(exc, dsn=dsn, timeout=timeout)}"
            ) from None
        except AssetError:
            path.unlink(missing_ok=True)
            raise
        return [FetchedFile(name=self.asset.name or "SQL", path=path, format="parquet")]

    def digest(self, *, stop: Stop | None = None) -> tuple[str, int]:
        """(sha256 of the column names and every row, row count): the result streamed in
        chunks as fetch reads it, read-only, under the connection's statement timeout (an
        MLC process trigger fires when it changes)."""
        stop = stop or Stop()
        try:
            query = query_clean(self.asset.query)
            dsn = dsn_parse(self.connection)
            timeout = timeout_of(self.connection)
        except (StatementError, DsnError) as exc:
            raise AssetError(f"{self.label}: {exc}") from None
        sha, count = hashlib.sha256(), 0
        rows = self._postgres_rows if dsn.is_postgres else self._sqlite_rows
        try:
            with closing(rows(dsn, query, timeout, stop)) as chunks:
                for i, (columns, chunk) in enumerate(chunks):
                    if i == 0:
                        sha.update(orjson.dumps([c.name for c in columns]))
                    sha.update(orjson.dumps([list(row) for row in chunk], default=str))
                    count += len(chunk)
        except (psycopg.Error, sqlite3.Error, Unreachable) as exc:
            raise AssetError(
                f"{self.label}: {error_reason(exc, dsn=dsn, timeout=timeout)}"
            ) from None
        except orjson.JSONEncodeError as exc:  # an integer beyond 64 bits
            raise AssetError(f"{self.label}: a value of the result cannot be read: {exc}") from None
        return sha.hexdigest(), count

    def _postgres_rows(
        self, dsn: Dsn, query: str, timeout: Timeout, stop: Stop
    ) -> Iterator[tuple[list[_Column], list[tuple]]]:
        chunk = settings.JOB_CHUNK_ROWS
        with (
            postgres_connect(dsn, read_only=True, timeout=timeout) as conn,
            stop.breaking(lambda: _postgres_cancel(conn)),
        ):
            # A named cursor is a server-side one: FETCH brings CHUNK rows at a time.
            with conn.cursor(name=_CURSOR_NAME) as cursor:
                cursor.itersize = chunk
                postgres_rearm(conn, timeout)
                stop.check(self.label)
                cursor.execute(query)
                postgres_rearm(conn, timeout)
                stop.check(self.label)
                rows = cursor.fetchmany(chunk)
                columns = _postgres_columns(cursor)
                yield columns, rows
                while rows:
                    postgres_rearm(conn, timeout)
                    stop.check(self.label)
                    if rows := cursor.fetchmany(chunk):
                        yield columns, rows
            conn.rollback()  # it read only; nothing to keep

    def _sqlite_rows(
        self, dsn: Dsn, query: str, timeout: Timeout, stop: Stop
    ) -> Iterator[tuple[list[_Column], list[tuple]]]:
        chunk = settings.JOB_CHUNK_ROWS
        conn = sqlite_connect(dsn, read_only=True, timeout=timeout)
        try:
            # interrupt() breaks off the statement running; the progress handler one that
            # starts after it, for which interrupt() came too early.
            with stop.breaking(conn.interrupt), sqlite_deadline(conn, timeout, stop.is_set):
                cursor = conn.execute(query)
                columns = [_Column(d[0], None) for d in cursor.description or ()]
                yield columns, cursor.fetchmany(chunk)
                while rows := cursor.fetchmany(chunk):
                    stop.check(self.label)
                    yield columns, rows
        finally:
            conn.close()

    def _write(self, chunks: Iterator[tuple[list[_Column], list[tuple]]], path: Path) -> None:
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        try:
            for columns, rows in chunks:
                if schema is None:
                    self._unique_names(columns)
                values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
                arrays = [
                    c.array(v, label=self.label) for c, v in zip(columns, values, strict=True)
                ]
                table = pa.Table.from_arrays(arrays, names=[c.name for c in columns])
                if schema is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(path, schema)
                elif table.schema != schema:
                    table = self._cast(table, schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

    def _unique_names(self, columns: list[_Column]) -> None:
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise AssetError(
                    f"{self.label}: the result has two columns named {column.name!r}; "
                    f"name one differently with AS"
                )
            seen.add(column.name)

    def _cast(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        try:
            return table.cast(schema)
        except (pa.ArrowException, ValueError) as exc:
            raise AssetError(
                f"{self.label}: later rows do not fit the column types of the first "
                f"{settings.JOB_CHUNK_ROWS:,} rows: {exc}"
            ) from None
