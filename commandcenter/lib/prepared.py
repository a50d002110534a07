"""Queries the ORM compiles once and the database runs again with other values.

Building a query set and compiling it to SQL costs the ORM Python time on every call: on a
2-core test machine 0.5 ms for a user by primary key, 1.9 ms for a job through job_list's
visibility rule (its EXISTS), where SQLite runs the SQL in 0.06-0.09 ms. The questions every
logged-in request asks (its session, its user) and the ones the polled pages ask (a running
job's state, a page of the jobs list) are the same each time with other values, so each is
compiled once per shape and thread, with stand-in values, and run again with the stand-ins'
places in the parameters given the call's values. The SQL stays the ORM's: the visibility rule
lives in one place (jobs.selectors.job_list) whichever way it is run.

A value of another type than its stand-in's (None, a list) changes the SQL the ORM would write
(IS NULL, IN), and a value the ORM changes on its way (into a LIKE pattern: a search) has no
place of its own in the parameters: such calls build their query set each time, unprepared.
"""

from __future__ import annotations

import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet

# Values nothing else in a query would hold, one per type a value may have.
_STAND_INS: dict[type, Callable[[str], Any]] = {
    # Within a 32-bit integer's range: PostgreSQL's backend finds no row for a value out of an
    # integer column's range without asking (an EmptyResultSet), so it writes no SQL for it.
    int: lambda name: -2_000_000_000 - zlib.crc32(name.encode()) % 100_000_000,
    str: lambda name: f"\x00stand-in {name}\x00",
    uuid.UUID: lambda name: uuid.uuid5(uuid.NAMESPACE_OID, f"stand-in {name}"),
    datetime: lambda name: datetime(
        1901, 2, 3, 4, 5, 6, zlib.crc32(name.encode()) % 1_000_000, tzinfo=UTC
    ),
}


def _form(stand_in: Any, connection) -> tuple[Any, Callable[[Any], Any]]:
    """How a value of STAND_IN's type appears among a query's parameters: (the stand-in in
    that form, how to put another value in it)."""
    if isinstance(stand_in, uuid.UUID):
        if connection.features.has_native_uuid_field:
            return stand_in, _uuid
        return stand_in.hex, lambda value: _uuid(value).hex
    if isinstance(stand_in, datetime):
        adapt = connection.ops.adapt_datetimefield_value
        return adapt(stand_in), adapt
    if isinstance(stand_in, int):
        return stand_in, int
    return stand_in, str


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@dataclass
class _Compiled:
    sql: str
    params: list
    slots: list[tuple[int, str, Callable[[Any], Any]]]  # (position, value's name, its form)
    converters: list[tuple[int, list, Any]]  # (column, converters, expression)
    qmark: str | None = None  # SQLite: the SQL with sqlite3's placeholders


class PreparedQuery:
    """BUILD(*shape, **values) is a values_list() query set; rows(*shape, **values) is its
    rows, as that query set would give them, from SQL compiled once per shape and thread."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        self._local = threading.local()

    def rows(self, *shape, **values) -> list[tuple]:
        return self._rows(shape, values, convert=True)

    def raw_rows(self, *shape, **values) -> list[tuple]:
        """The rows as the database driver gives them, without the fields' converters (on
        SQLite: datetimes naive in UTC, UUIDs as text): for a cache key or a comparison,
        where making every value the ORM's costs more than the query (26 rows of 6 datetimes
        made aware: 0.3 ms on SQLite). Built each time (see _compiled), a query set's rows
        are the ORM's."""
        return self._rows(shape, values, convert=False)

    def _rows(self, shape: tuple, values: dict, *, convert: bool) -> list[tuple]:
        compiled = self._compiled(shape, values, count=False)
        if compiled is None:
            return list(self._build(*shape, **values))
        rows = self._run(compiled, values)
        if not convert or not compiled.converters:
            return [tuple(row) for row in rows]
        connection = connections[DEFAULT_DB_ALIAS]
        converted = []
        for row in rows:
            row = list(row)
            for column, converters, expression in compiled.converters:
                value = row[column]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[column] = value
            converted.append(tuple(row))
        return converted

    def count(self, *shape, **values) -> int:
        """How many rows rows() would give, counted by the database."""
        compiled = self._compiled(shape, values, count=True)
        if compiled is None:
            return self._build(*shape, **values).count()
        return self._run(compiled, values)[0][0]

    def _compiled(self, shape: tuple, values: dict, *, count: bool) -> _Compiled | None:
        """This thread's SQL for SHAPE and the types of VALUES; None when the query set must
        be built each time (a value of a type with no stand-in, or one the ORM changes)."""
        if any(type(value) not in _STAND_INS for value in values.values()):
            return None
        key = (count, shape, tuple(sorted((name, type(v)) for name, v in values.items())))
        compiled_by_key = self._local.__dict__.setdefault("compiled", {})
        if key not in compiled_by_key:
            compiled_by_key[key] = self._compile(shape, values, count=count)
        return compiled_by_key[key]

    def _run(self, compiled: _Compiled, values: dict) -> list:
        params = list(compiled.params)
        for position, name, form in compiled.slots:
            params[position] = form(values[name])
        connection = connections[DEFAULT_DB_ALIAS]
        if compiled.qmark is not None and not _looked_at(connection):
            return _sqlite_rows(connection, compiled.qmark, params)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            return cursor.fetchall()

    def _compile(self, shape: tuple, values: dict, *, count: bool) -> _Compiled | None:
        stand_ins = {name: _STAND_INS[type(value)](name) for name, value in values.items()}
        if len(set(stand_ins.values())) < len(stand_ins):
            raise ValueError(f"two values have one stand-in: rename one of {sorted(values)}")
        qs = self._build(*shape, **stand_ins)
        if qs.db != DEFAULT_DB_ALIAS:
            raise ValueError(f"a prepared query runs on {DEFAULT_DB_ALIAS!r}, not {qs.db!r}")
        connection = connections[DEFAULT_DB_ALIAS]
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        params = list(params)
        forms = {name: _form(stand_in, connection) for name, stand_in in stand_ins.items()}
        slots = []
        for position, param in enumerate(params):
            for name, (form, put) in forms.items():
                if type(param) is type(form) and param == form:
                    slots.append((position, name, put))
                    break
            else:
                if any(_holds(param, stand_in) for stand_in in stand_ins.values()):
                    return None  # changed on its way (in a pattern, a list): built each time
        if count:
            sql = f"SELECT COUNT(*) FROM ({sql}) subquery"
            return _Compiled(sql=sql, params=params, slots=slots, converters=[],
                             qmark=_qmark_of(sql, connection))  # fmt: skip
        expressions = [column[0] for column in compiler.select]
        converters = [
            (column, found[0], found[1])
            for column, found in compiler.get_converters(expressions).items()
        ]
        return _Compiled(sql=sql, params=params, slots=slots, converters=converters,
                         qmark=_qmark_of(sql, connection))  # fmt: skip


def _qmark_of(sql: str, connection) -> str | None:
    """SQL as Django's SQLite cursor would give it to sqlite3 (its own conversion, made once);
    None on another database."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        return cursor.cursor.convert_query(sql)


def _looked_at(connection) -> bool:
    """Whether CONNECTION's queries are logged or wrapped (DEBUG, assertNumQueries, an
    execute_wrapper): then they go through Django's cursor, to be seen."""
    return connection.queries_logged or bool(connection.execute_wrappers)


def _sqlite_rows(connection, sql: str, params: list) -> list:
    """What Django's cursor does around a query (BaseDatabaseWrapper._cursor and
    CursorWrapper._execute), then SQL as it is, on the connection's sqlite3 cursor."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        return connection.connection.execute(sql, params).fetchall()


def _holds(param, stand_in) -> bool:
    """PARAM carries STAND_IN in some form other than its own (inside a pattern or a list)."""
    if isinstance(param, list | tuple):
        return any(_holds(p, stand_in) for p in param)
    if isinstance(stand_in, uuid.UUID):
        texts = (stand_in.hex, str(stand_in))
    elif isinstance(stand_in, datetime):
        texts = (stand_in.date().isoformat(),)
    else:
        texts = (str(stand_in),)
    return any(text in str(param) for text in texts)
