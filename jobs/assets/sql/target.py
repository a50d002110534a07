"""A SQL output: the staged Parquet file written into a table, all or nothing.

Everything happens in one transaction. Replace fills a new staging table and only then drops
the old table and renames the new one into its place; append inserts into the table (made if
missing). A failure anywhere rolls the transaction back, so the target is left as it was.
PostgreSQL is written with COPY … FROM STDIN, SQLite with executemany in batches.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from psycopg import sql

from jobs.assets.base import AssetError, OutputTarget
from jobs.assets.sql.columns import (
    ColumnError,
    SqlColumn,
    columns_from_arrow,
    columns_from_avro,
    values_of,
)
from jobs.assets.sql.databases import (
    Dsn,
    DsnError,
    Timeout,
    Unreachable,
    dsn_parse,
    error_reason,
    one_line,
    postgres_connect,
    sqlite_connect,
    timeout_of,
)
from jobs.assets.sql.statements import StatementError, table_clean
from jobs.models import JobAsset

logger = logging.getLogger(__name__)


def _sqlite_quote(*parts: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


class Target(OutputTarget):
    staged_format = "parquet"  # typed chunks to read back

    def __init__(self, asset: JobAsset) -> None:
        super().__init__(asset)
        self.label = f"output table '{asset.location}'"

    # --- publish -------------------------------------------------------------------------

    def publish(self, *, staged: Path) -> dict:
        try:
            table = table_clean(self.asset.location)
            dsn = dsn_parse(self.connection)
            timeout = timeout_of(self.connection)
        except (StatementError, DsnError) as exc:
            raise AssetError(f"{self.label}: {exc}") from None
        try:
            # pre_buffer would read the whole file into memory ahead of the batches.
            parquet = pq.ParquetFile(staged, pre_buffer=False)
        except (OSError, pa.ArrowException) as exc:
            raise AssetError(
                f"{self.label}: the staged output cannot be read: {one_line(str(exc))}"
            ) from None
        staged_schema = parquet.schema_arrow
        columns = self._columns(staged_schema)
        replace = self.asset.write_mode != JobAsset.WriteMode.APPEND
        try:
            if dsn.is_postgres:
                published = self._postgres(dsn, timeout, table, parquet, columns, replace)
            else:
                published = self._sqlite(dsn, timeout, table, parquet, columns, replace)
        except (psycopg.Error, sqlite3.Error, Unreachable) as exc:
            raise AssetError(
                f"{self.label}: {error_reason(exc, dsn=dsn, timeout=timeout)}; "
                f"the table was left as it was"
            ) from None
        except (OSError, pa.ArrowException) as exc:  # the staged file broke part way
            raise AssetError(
                f"{self.label}: the staged output cannot be read: {one_line(str(exc))}; "
                f"the table was left as it was"
            ) from None
        published.update(table=".".join(table), mode="replace" if replace else "append")
        return published

    def _columns(self, staged: pa.Schema) -> list[SqlColumn]:
        """The table's columns: the output schema's fields when the job has one, else the
        staged file's. Every staged column must be one of them."""
        schema = self._output_schema()
        if schema is None:
            try:
                return columns_from_arrow(staged)
            except ColumnError as exc:
                raise AssetError(f"{self.label}: {exc}; the table was left as it was") from None
        try:
            columns = columns_from_avro(schema)
        except ColumnError as exc:
            raise AssetError(
                f"{self.label}: the output schema {self.asset.job.output_schema!r} cannot make "
                f"a table: {exc}; the table was left as it was"
            ) from None
        known = {c.name for c in columns}
        extra = [name for name in staged.names if name not in known]
        if extra:
            raise AssetError(
                f"{self.label}: column(s) {', '.join(map(repr, extra))} of the output are not "
                f"in the output schema {self.asset.job.output_schema!r}"
            )
        return columns

    def _output_schema(self) -> dict | None:
        job = self.asset.job
        if not job.output_schema:
            return None
        attachment = job.snapshot.attachments.filter(name=job.output_schema).first()
        if attachment is None:
            raise AssetError(
                f"{self.label}: the output schema {job.output_schema!r} is not among the "
                f"model's files"
            )
        try:
            with attachment.file.open("rb") as f:
                schema = json.load(f)
        except (OSError, ValueError, RecursionError) as exc:
            raise AssetError(
                f"{self.label}: the output schema {job.output_schema!r} cannot be read: {exc}"
            ) from None
        if not isinstance(schema, dict) or schema.get("type") != "record":
            return None  # not a record: the staged file's own columns
        return schema

    @staticmethod
    def _batches(parquet: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
        yield from parquet.iter_batches(batch_size=settings.JOB_CHUNK_ROWS)

    def _check_append(self, existing: list[str], staged: pa.Schema) -> None:
        missing = [name for name in staged.names if name not in existing]
        if missing:
            raise AssetError(
                f"{self.label}: cannot append: the table has no column(s) "
                f"{', '.join(map(repr, missing))} (it has {', '.join(map(repr, existing))}); "
                f"the table was left as it was"
            )

    # --- PostgreSQL ------------------------------------------------------------------------

    def _postgres(self, dsn, timeout, table, parquet, columns, replace) -> dict:
        target = sql.Identifier(*table)
        staged = parquet.schema_arrow
        with postgres_connect(dsn, read_only=False, timeout=timeout) as conn:
            with conn.cursor() as cur:
                exists = self._postgres_columns(cur, target)
                if not columns:  # no records and no schema: nothing to make a table of
                    if replace and exists is not None:
                        cur.execute(sql.SQL("DELETE FROM {}").format(target))
                    return {"rows": 0}
                if replace or exists is None:
                    stage = sql.Identifier(*table[:-1], f"cc_stage_{uuid.uuid4().hex[:12]}")
                    into = stage if replace else target
                    cur.execute(
                        sql.SQL("CREATE TABLE {} ({})").format(
                            into,
                            sql.SQL(", ").join(
                                sql.SQL("{} {}").format(
                                    sql.Identifier(c.name), sql.SQL(c.definition(postgres=True))
                                )
                                for c in columns
                            ),
                        )
                    )
                else:
                    self._check_append(exists, staged)
                    into = target
                rows = self._postgres_copy(cur, into, parquet)
                published: dict = {"rows": rows}
                if replace:
                    # Only now, with every row in, does the old table go; in the same
                    # transaction, so readers see the old table or the new one, never neither.
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
                    cur.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            stage, sql.Identifier(table[-1])
                        )
                    )
                else:
                    # The rows this transaction wrote carry its id (xmin): retract finds them.
                    cur.execute("SELECT txid_current() % 4294967296")
                    published["xid"] = str(cur.fetchone()[0])
        return published

    @staticmethod
    def _postgres_columns(cur: psycopg.Cursor, target: sql.Identifier) -> list[str] | None:
        """The table's column names, or None when there is no such table."""
        cur.execute("SELECT to_regclass(%s)::oid", (target.as_string(cur),))
        oid = cur.fetchone()[0]
        if oid is None:
            return None
        cur.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (oid,),
        )
        return [row[0] for row in cur.fetchall()]

    def _postgres_copy(self, cur: psycopg.Cursor, into: sql.Identifier, parquet) -> int:
        staged = parquet.schema_arrow
        if not staged.names:
            return 0
        convert = [values_of(f.type, postgres=True) for f in staged]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            into, sql.SQL(", ").join(map(sql.Identifier, staged.names))
        )
        rows = 0
        with cur.copy(statement) as copy:
            for batch in self._batches(parquet):
                values = [c(batch.column(i)) for i, c in enumerate(convert)]
                for row in zip(*values, strict=True):
                    copy.write_row(row)
                rows += batch.num_rows
        return rows

    # --- SQLite ----------------------------------------------------------------------------

    def _sqlite(self, dsn, timeout, table, parquet, columns, replace) -> dict:
        staged = parquet.schema_arrow
        conn = sqlite_connect(dsn, read_only=False, timeout=timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                existing = self._sqlite_columns(conn, table)
                if not columns:  # no records and no schema: nothing to make a table of
                    if replace and existing is not None:
                        conn.execute(f"DELETE FROM {_sqlite_quote(*table)}")
                    conn.execute("COMMIT")
                    return {"rows": 0}
                if replace or existing is None:
                    stage = (*table[:-1], f"cc_stage_{uuid.uuid4().hex[:12]}")
                    into = stage if replace else table
                    definitions = ", ".join(
                        f"{_sqlite_quote(c.name)} {c.definition(postgres=False)}" for c in columns
                    )
                    conn.execute(f"CREATE TABLE {_sqlite_quote(*into)} ({definitions})")
                    published: dict = {}
                else:
                    self._check_append(existing, staged)
                    into = table
                    published = {"after_rowid": self._sqlite_max_rowid(conn, table)}
                published["rows"] = self._sqlite_insert(conn, into, parquet)
                if replace:
                    conn.execute(f"DROP TABLE IF EXISTS {_sqlite_quote(*table)}")
                    conn.execute(
                        f"ALTER TABLE {_sqlite_quote(*stage)} RENAME TO {_sqlite_quote(table[-1])}"
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return published

    @staticmethod
    def _sqlite_columns(conn: sqlite3.Connection, table: tuple[str, ...]) -> list[str] | None:
        schema = _sqlite_quote(table[0]) + "." if len(table) == 2 else ""
        rows = conn.execute(f"PRAGMA {schema}table_info({_sqlite_quote(table[-1])})").fetchall()
        return [row[1] for row in rows] or None

    @staticmethod
    def _sqlite_max_rowid(conn: sqlite3.Connection, table: tuple[str, ...]) -> int | None:
        try:
            return conn.execute(f"SELECT max(rowid) FROM {_sqlite_quote(*table)}").fetchone()[0]
        except sqlite3.OperationalError:  # a WITHOUT ROWID table
            return None

    def _sqlite_insert(self, conn: sqlite3.Connection, into: tuple[str, ...], parquet) -> int:
        staged = parquet.schema_arrow
        if not staged.names:
            return 0
        convert = [values_of(f.type, postgres=False) for f in staged]
        statement = (
            f"INSERT INTO {_sqlite_quote(*into)} "
            f"({', '.join(_sqlite_quote(n) for n in staged.names)}) "
            f"VALUES ({', '.join('?' for _ in staged.names)})"
        )
        rows = 0
        for batch in self._batches(parquet):
            values = [c(batch.column(i)) for i, c in enumerate(convert)]
            conn.executemany(statement, zip(*values, strict=True))
            rows += batch.num_rows
        return rows

    # --- retract ---------------------------------------------------------------------------

    def retract(self, published: dict) -> None:
        """Best effort, after a cancel that came while publishing: a replaced table is
        dropped (the old one is gone already), appended rows are deleted."""
        try:
            table = table_clean(published.get("table", ""))
            dsn = dsn_parse(self.connection)
            timeout = timeout_of(self.connection)
            if dsn.is_postgres:
                self._postgres_retract(dsn, timeout, table, published)
            else:
                self._sqlite_retract(dsn, timeout, table, published)
        except Exception:
            logger.exception("%s: could not retract %s", self.label, published)

    @staticmethod
    def _postgres_retract(dsn: Dsn, timeout: Timeout, table, published: dict) -> None:
        target = sql.Identifier(*table)
        with postgres_connect(dsn, read_only=False, timeout=timeout) as conn:
            if published.get("mode") == "replace":
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            elif published.get("xid"):
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE xmin::text = %s").format(target),
                    (published["xid"],),
                )

    @staticmethod
    def _sqlite_retract(dsn: Dsn, timeout: Timeout, table, published: dict) -> None:
        conn = sqlite_connect(dsn, read_only=False, timeout=timeout)
        try:
            if published.get("mode") == "replace":
                conn.execute(f"DROP TABLE IF EXISTS {_sqlite_quote(*table)}")
            elif "after_rowid" in published and published.get("rows"):
                conn.execute(
                    f"DELETE FROM {_sqlite_quote(*table)} WHERE rowid > ?",
                    (published["after_rowid"] or 0,),
                )
        finally:
            conn.close()
