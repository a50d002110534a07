"""The columns of an output table: from the job's output schema (.avsc) when it has one, else
from the staged Parquet file's own Arrow types; and each column's values as the database
takes them (nested values as JSON text, PostgreSQL jsonb)."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from jobs.runner.writers import json_line


@dataclass(frozen=True)
class SqlColumn:
    name: str
    postgres: str  # the column's type in PostgreSQL
    sqlite: str  # and in SQLite
    not_null: bool = False

    def definition(self, *, postgres: bool) -> str:
        """The type part of CREATE TABLE's column, after its (quoted) name."""
        return (self.postgres if postgres else self.sqlite) + (" NOT NULL" if self.not_null else "")


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


def _avro_types(avro: Any) -> tuple[str, str]:
    if isinstance(avro, str):
        return _AVRO_PRIMITIVES.get(avro, _JSON)  # a named record defined earlier: JSON
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        if logical == "decimal" and isinstance(avro.get("precision"), int):
            return f"numeric({avro['precision']},{avro.get('scale', 0)})", "NUMERIC"
        if logical in _AVRO_LOGICAL:
            return _AVRO_LOGICAL[logical]
        return (
            _AVRO_PRIMITIVES.get(avro.get("type"), _JSON)
            if isinstance(avro.get("type"), str)
            else _avro_types(avro.get("type"))
        )
    return _JSON  # a union of several types


def columns_from_avro(schema: dict) -> list[SqlColumn]:
    """One column per field of an Avro record schema; a field that cannot be null (no "null"
    in its union) is NOT NULL."""
    columns = []
    for field in schema.get("fields", []):
        avro = field.get("type")
        nullable = False
        if isinstance(avro, list):
            nullable = "null" in avro
            rest = [t for t in avro if t != "null"]
            avro = rest[0] if len(rest) == 1 else rest
        postgres, sqlite = _avro_types(avro)
        columns.append(SqlColumn(str(field["name"]), postgres, sqlite, not_null=not nullable))
    return columns


def _arrow_types(type_: pa.DataType) -> tuple[str, str]:
    t = pa.types
    if t.is_dictionary(type_):  # pandas categoricals
        return _arrow_types(type_.value_type)
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
        return f"numeric({type_.precision},{type_.scale})", "NUMERIC"
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
    return [SqlColumn(f.name, *_arrow_types(f.type)) for f in schema]


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
