"""The columns of an output table: from the job's output schema (.avsc) when it has one, else
from the staged Parquet file's own Arrow types; and each column's values as the database
takes them (nested values as JSON text, PostgreSQL jsonb).

Every piece of a column's DDL is checked here, not only quoted: a type is one of the fixed
names below or a numeric(precision,scale) of whole numbers in range, so a crafted .avsc (a
decimal whose scale is "2); DROP TABLE …") is refused with the field's name before any SQL is
built. Column names are quoted where the DDL is written (psycopg.sql.Identifier, SQLite "…").
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from jobs.runner.writers import json_line


class ColumnError(ValueError):
    """A column cannot be made; the message names it and says why, for a person."""


_NUMERIC = re.compile(r"numeric\((\d{1,4})(?:,(\d{1,4}))?\)")
_NUMERIC_MAX_PRECISION = 1000  # PostgreSQL's
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the Avro specification's names


@dataclass(frozen=True)
class SqlColumn:
    name: str
    postgres: str  # the column's type in PostgreSQL
    sqlite: str  # and in SQLite
    not_null: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "\0" in self.name:
            raise ColumnError(f"column {self.name!r} cannot be a column name")
        numeric = _NUMERIC.fullmatch(self.postgres)
        if numeric:
            _numeric(int(numeric[1]), int(numeric[2] or 0), what=f"column {self.name!r}")
        elif self.postgres not in _POSTGRES_TYPES:
            raise ColumnError(f"column {self.name!r}: {self.postgres!r} is not a known type")
        if self.sqlite not in _SQLITE_TYPES:
            raise ColumnError(f"column {self.name!r}: {self.sqlite!r} is not a known type")

    def definition(self, *, postgres: bool) -> str:
        """The type part of CREATE TABLE's column, after its (quoted) name: only ever a type
        from the allow-list (checked when the column was made), so it may go into SQL as is."""
        return (self.postgres if postgres else self.sqlite) + (" NOT NULL" if self.not_null else "")


def _whole(value: Any) -> bool:
    return type(value) is int  # not a bool, a float, or a string of digits (or SQL)


def _numeric(precision: Any, scale: Any, *, what: str) -> str:
    """numeric(precision,scale), when both are whole numbers in range; ColumnError if not."""
    if not _whole(precision) or not 1 <= precision <= _NUMERIC_MAX_PRECISION:
        raise ColumnError(
            f"{what}: the decimal's precision {precision!r} is not a whole number "
            f"from 1 to {_NUMERIC_MAX_PRECISION}"
        )
    if not _whole(scale) or not 0 <= scale <= precision:
        raise ColumnError(
            f"{what}: the decimal's scale {scale!r} is not a whole number from 0 "
            f"to its precision ({precision})"
        )
    return f"numeric({precision},{scale})"


_JSON = ("jsonb", "TEXT")

_AVRO_PRIMITIVES = {
    "boolean": ("boolean", "INTEGER"),
    "int": ("integer", "INTEGER"),
    "long": ("bigint", "INTEGER"),
    "float": ("real", "REAL"),
    "double": ("double precision", "REAL"),
    "string": ("text", "TEXT"),
    "bytes": ("bytea", "BLOB"),
    "fixed": ("bytea", "BLOB"),
    "enum": ("text", "TEXT"),
}

_AVRO_LOGICAL = {
    "date": ("date", "TEXT"),
    "time-millis": ("time", "TEXT"),
    "time-micros": ("time", "TEXT"),
    "timestamp-millis": ("timestamptz", "TEXT"),
    "timestamp-micros": ("timestamptz", "TEXT"),
    "local-timestamp-millis": ("timestamp", "TEXT"),
    "local-timestamp-micros": ("timestamp", "TEXT"),
    "uuid": ("text", "TEXT"),
}

# The allow-list: every type a column may have, besides numeric(precision,scale).
_POSTGRES_TYPES = frozenset(
    [t for t, _ in (*_AVRO_PRIMITIVES.values(), *_AVRO_LOGICAL.values(), _JSON)]
    + ["smallint", "interval"]
)
_SQLITE_TYPES = frozenset(["INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC"])


def _avro_types(avro: Any, *, what: str) -> tuple[str, str]:
    if isinstance(avro, str):
        return _AVRO_PRIMITIVES.get(avro, _JSON)  # a named record defined earlier: JSON
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        if logical == "decimal":
            return _numeric(avro.get("precision"), avro.get("scale", 0), what=what), "NUMERIC"
        if logical in _AVRO_LOGICAL:
            return _AVRO_LOGICAL[logical]
        return (
            _AVRO_PRIMITIVES.get(avro.get("type"), _JSON)
            if isinstance(avro.get("type"), str)
            else _avro_types(avro.get("type"), what=what)
        )
    return _JSON  # a union of several types


def columns_from_avro(schema: dict) -> list[SqlColumn]:
    """One column per field of an Avro record schema; a field that cannot be null (no "null"
    in its union) is NOT NULL. ColumnError for a field that cannot be a column."""
    fields = schema.get("fields", [])
    if not isinstance(fields, list):
        raise ColumnError("its fields are not a list")
    columns = []
    for field in fields:
        name = field.get("name") if isinstance(field, dict) else None
        if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
            raise ColumnError(
                f"field {name!r} has no usable name: an Avro name is letters, digits and _ "
                f"(not a digit first)"
            )
        avro = field.get("type")
        nullable = False
        if isinstance(avro, list):
            nullable = "null" in avro
            rest = [t for t in avro if t != "null"]
            avro = rest[0] if len(rest) == 1 else rest
        postgres, sqlite = _avro_types(avro, what=f"field {name!r}")
        columns.append(SqlColumn(name, postgres, sqlite, not_null=not nullable))
    return columns


def _arrow_types(type_: pa.DataType, *, what: str) -> tuple[str, str]:
    t = pa.types
    if t.is_dictionary(type_):  # pandas categoricals
        return _arrow_types(type_.value_type, what=what)
    if t.is_boolean(type_):
        return "boolean", "INTEGER"
    if t.is_int8(type_) or t.is_int16(type_) or t.is_uint8(type_):
        return "smallint", "INTEGER"
    if t.is_int32(type_) or t.is_uint16(type_):
        return "integer", "INTEGER"
    if t.is_int64(type_) or t.is_uint32(type_):
        return "bigint", "INTEGER"
    if t.is_uint64(type_):
        return "numeric(20)", "INTEGER"
    if t.is_float16(type_) or t.is_float32(type_):
        return "real", "REAL"
    if t.is_float64(type_):
        return "double precision", "REAL"
    if t.is_decimal(type_):
        return _numeric(type_.precision, type_.scale, what=what), "NUMERIC"
    if t.is_string(type_) or t.is_large_string(type_) or t.is_null(type_):
        return "text", "TEXT"
    if t.is_binary(type_) or t.is_large_binary(type_) or t.is_fixed_size_binary(type_):
        return "bytea", "BLOB"
    if t.is_date(type_):
        return "date", "TEXT"
    if t.is_timestamp(type_):
        return ("timestamptz" if type_.tz else "timestamp"), "TEXT"
    if t.is_time(type_):
        return "time", "TEXT"
    if t.is_duration(type_):
        return "interval", "REAL"
    return _JSON  # lists, structs, maps: JSON


def columns_from_arrow(schema: pa.Schema) -> list[SqlColumn]:
    """One column per field of the staged file. ColumnError for one that cannot be a column."""
    return [SqlColumn(f.name, *_arrow_types(f.type, what=f"column {f.name!r}")) for f in schema]


def _is_nested(type_: pa.DataType) -> bool:
    return pa.types.is_nested(type_) or (
        pa.types.is_dictionary(type_) and pa.types.is_nested(type_.value_type)
    )


def _json_text(value: Any) -> str | None:
    return None if value is None else json_line(value).decode().rstrip("\n")


def _sqlite_value(value: Any) -> Any:
    # sqlite3 takes None, int, float, str and bytes; its adapters for dates are deprecated.
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "total_seconds"):  # a duration, in seconds
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return _json_text(value)


def values_of(type_: pa.DataType, *, postgres: bool) -> Callable[[pa.Array], list]:
    """How to turn a staged column (an Arrow array of TYPE) into the database's values."""
    if _is_nested(type_):
        return lambda array: [_json_text(v) for v in array.to_pylist()]
    if postgres:
        return lambda array: array.to_pylist()
    simple = pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_string(type_)
    if simple or pa.types.is_boolean(type_):
        return lambda array: array.to_pylist()
    return lambda array: [_sqlite_value(v) for v in array.to_pylist()]
