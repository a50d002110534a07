"""A SQL output: the staged Parquet file written into a table, all or nothing.

Everything happens in one transaction. Replace fills a new staging table and only then drops
the old table and renames the new one into its place; append inserts into the table (made if
missing). A failure anywhere rolls the transaction back, so the target is left as it was.
PostgreSQL is written with COPY … FROM STDIN, SQLite with executemany in batches.

The job's point of no return (decide) comes last, just before COMMIT: a job cancelled until
then rolls everything back. An append is not idempotent, so a later attempt of the same job
(its worker died after the COMMIT, before COMPLETE) first deletes, in its own transaction,
the rows the earlier ones appended, as they recorded (Job.publishing): on PostgreSQL those of
their transactions (xmin; LOCK TABLE waits for one still open), on SQLite the rowid ranges
they noted in a small table of the same database, cc_appends, in the same transaction.
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

from jobs.assets.base import AssetError, Decide, OutputTarget, decided
from jobs.assets.sql.columns import (
    ColumnError,
    SqlColumn,
    columns_from_arrow,
    columns_from_avro,
    values_of,
)
from jobs.assets.sql.databases import (
    DsnError,
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

    def publish(
        self, *, staged: Path, decide: Decide | None = None, earlier: dict | None = None
    ) -> dict:
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
        decide = decide or (lambda record: True)
        try:
            if dsn.is_postgres:
                published = self._postgres(
                    dsn, timeout, table, parquet, columns, replace, decide, earlier or {}
                )
            else:
                published = self._sqlite(
                    dsn, timeout, table, parquet, columns, replace, decide, earlier or {}
                )
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

    def _postgres(self, dsn, timeout, table, parquet, columns, replace, decide, earlier) -> dict:
        target = sql.Identifier(*table)
        staged = parquet.schema_arrow
        with postgres_connect(dsn, read_only=False, timeout=timeout) as conn:
            with conn.cursor() as cur:
                exists = self._postgres_columns(cur, target)
                undo = [str(x) for x in earlier.get("xids", [])] if not replace else []
                if undo and exists is not None:
                    # An open transaction of an earlier attempt holds ROW EXCLUSIVE: wait for
                    # it to end, so that what it commits is deleted too.
                    cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
                    cur.execute(
                        sql.SQL("DELETE FROM {} WHERE xmin::text = ANY(%s)").format(target),
                        (undo,),
                    )
                    if cur.rowcount:
                        logger.info("%s: removed %d rows of an earlier attempt", self.label,
                                    cur.rowcount)  # fmt: skip
                cur.execute("SELECT txid_current() % 4294967296")
                record = {} if replace else {"xids": [*undo, str(cur.fetchone()[0])]}
                if not columns:  # no records and no schema: nothing to make a table of
                    if replace and exists is not None:
                        cur.execute(sql.SQL("DELETE FROM {}").format(target))
                    decided(decide, record, self.label)
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
                if replace:
                    # Only now, with every row in, does the old table go; in the same
                    # transaction, so readers see the old table or the new one, never neither.
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
                    cur.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            stage, sql.Identifier(table[-1])
                        )
                    )
                # The rows this transaction wrote carry its id (xmin), which the record keeps.
                decided(decide, record, self.label)
        return {"rows": rows}

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

    def _sqlite(self, dsn, timeout, table, parquet, columns, replace, decide, earlier) -> dict:
        staged = parquet.schema_arrow
        conn = sqlite_connect(dsn, read_only=False, timeout=timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                existing = self._sqlite_columns(conn, table)
                notes = [] if replace else [str(n) for n in earlier.get("notes", [])]
                if notes and existing is not None:
                    self._sqlite_undo_earlier(conn, table, notes)
                record = {} if replace else {"notes": notes}
                if not columns:  # no records and no schema: nothing to make a table of
                    if replace and existing is not None:
                        conn.execute(f"DELETE FROM {_sqlite_quote(*table)}")
                    decided(decide, record, self.label)
                    conn.execute("COMMIT")
                    return {"rows": 0}
                if replace or existing is None:
                    stage = (*table[:-1], f"cc_stage_{uuid.uuid4().hex[:12]}")
                    into = stage if replace else table
                    definitions = ", ".join(
                        f"{_sqlite_quote(c.name)} {c.definition(postgres=False)}" for c in columns
                    )
                    conn.execute(f"CREATE TABLE {_sqlite_quote(*into)} ({definitions})")
                else:
                    self._check_append(existing, staged)
                    into = table
                before = None if replace else self._sqlite_max_rowid(conn, table)
                rows = self._sqlite_insert(conn, into, parquet)
                if replace:
                    conn.execute(f"DROP TABLE IF EXISTS {_sqlite_quote(*table)}")
                    conn.execute(
                        f"ALTER TABLE {_sqlite_quote(*stage)} RENAME TO {_sqlite_quote(table[-1])}"
                    )
                elif rows and (note := self._sqlite_note_append(conn, table, before, rows)):
                    record = {"notes": [*notes, note]}
                decided(decide, record, self.label)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return {"rows": rows}

    def _sqlite_appends(self, conn: sqlite3.Connection, table: tuple[str, ...]) -> str:
        """cc_appends beside TABLE: the rowids each append wrote, under a note of its own that
        the job keeps (kept a week)."""
        name = _sqlite_quote(*table[:-1], "cc_appends")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} (note TEXT PRIMARY KEY, tbl TEXT NOT NULL, "
            "first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL, at TEXT NOT NULL)"
        )
        return name

    def _sqlite_undo_earlier(self, conn, table, notes: list[str]) -> None:
        """Delete the rows the appends noted under NOTES wrote (those that committed)."""
        if not self._sqlite_has_table(conn, (*table[:-1], "cc_appends")):
            return
        appends = self._sqlite_appends(conn, table)
        for note in notes:
            for first, last in conn.execute(
                f"SELECT first_rowid, last_rowid FROM {appends} WHERE note = ? AND tbl = ?",
                (note, table[-1]),
            ).fetchall():
                conn.execute(
                    f"DELETE FROM {_sqlite_quote(*table)} WHERE rowid BETWEEN ? AND ?",
                    (first, last),
                )
                logger.info("%s: removed rows %d-%d of an earlier attempt", self.label, first, last)
            conn.execute(f"DELETE FROM {appends} WHERE note = ?", (note,))

    def _sqlite_note_append(self, conn, table, before: int | None, rows: int) -> str | None:
        """Note the rowids this transaction appended: those above the largest before it,
        when they are all of them (the write lock is held since BEGIN IMMEDIATE). Not so for
        a WITHOUT ROWID table or rows that brought keys below it: then a later attempt could
        not tell them apart, and they are not noted (None)."""
        if before is None:
            logger.warning("%s: a WITHOUT ROWID table; the append is not noted", self.label)
            return None
        above, last = conn.execute(
            f"SELECT count(*), max(rowid) FROM {_sqlite_quote(*table)} WHERE rowid > ?",
            (before,),
        ).fetchone()
        if above != rows:
            logger.warning("%s: the appended rows' keys are not all new; not noted", self.label)
            return None
        appends = self._sqlite_appends(conn, table)
        conn.execute(f"DELETE FROM {appends} WHERE at < datetime('now', '-7 days')")
        note = uuid.uuid4().hex
        conn.execute(
            f"INSERT INTO {appends} VALUES (?, ?, ?, ?, datetime('now'))",
            (note, table[-1], before + 1, last),
        )
        return note

    @staticmethod
    def _sqlite_has_table(conn: sqlite3.Connection, table: tuple[str, ...]) -> bool:
        master = _sqlite_quote(table[0]) + ".sqlite_master" if len(table) == 2 else "sqlite_master"
        found = conn.execute(
            f"SELECT 1 FROM {master} WHERE type = 'table' AND name = ?", (table[-1],)
        ).fetchone()
        return found is not None

    @staticmethod
    def _sqlite_columns(conn: sqlite3.Connection, table: tuple[str, ...]) -> list[str] | None:
        schema = _sqlite_quote(table[0]) + "." if len(table) == 2 else ""
        rows = conn.execute(f"PRAGMA {schema}table_info({_sqlite_quote(table[-1])})").fetchall()
        return [row[1] for row in rows] or None

    @staticmethod
    def _sqlite_max_rowid(conn: sqlite3.Connection, table: tuple[str, ...]) -> int | None:
        """The largest rowid (0 when empty); None for a WITHOUT ROWID table."""
        try:
            return conn.execute(
                f"SELECT coalesce(max(rowid), 0) FROM {_sqlite_quote(*table)}"
            ).fetchone()[0]
        except sqlite3.OperationalError:
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
