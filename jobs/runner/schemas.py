"""Avro schema checks of input and output records (fastavro).

Checking is on the hot path of every record, so the fast boolean check runs first and the
reason, for a person, is worked out only for the records that fail.
"""

from __future__ import annotations

import json
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from jobs.runner.errors import JobError


class SchemaCheck:
    def __init__(self, *, path: str, label: str) -> None:
        self.label = label  # "input" or "output"
        try:
            with open(path, "rb") as f:
                raw = json.load(f)
        except FileNotFoundError:
            raise JobError(f"{label} schema '{path}' is not among the model's files") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise JobError(f"{label} schema '{path}' is not valid JSON: {exc}") from None
        try:
            # Extra per-field keys (role, dataClass, protectedClass, ...) are kept and ignored.
            self.schema = fastavro.parse_schema(raw)
        except Exception as exc:  # fastavro raises several unrelated types
            raise JobError(f"{label} schema '{path}' is not a valid Avro schema: {exc}") from None
        self.name = self.schema.get("name", "") if isinstance(self.schema, dict) else ""
        self.is_record = isinstance(self.schema, dict) and self.schema.get("type") == "record"

    def field_types(self) -> dict[str, str]:
        """A record schema's fields → their primitive Avro type (a union's first that is not
        null); fields of other types are left out."""
        if not self.is_record:
            return {}
        types = {}
        for field in self.schema.get("fields", []):
            kind = field.get("type")
            if isinstance(kind, list):
                kind = next((k for k in kind if k != "null"), None)
            if isinstance(kind, dict):
                kind = kind.get("type")
            if isinstance(kind, str):
                types[field["name"]] = kind
        return types

    def reason(self, datum: Any) -> str | None:
        """None when DATUM fits the schema, else why not."""
        if validate(datum, self.schema, raise_errors=False):
            return None
        if self.is_record and not isinstance(datum, dict):
            return f"not a record: found {type(datum).__name__}"
        try:
            validate(datum, self.schema, raise_errors=True)
        except ValidationError as exc:
            return self._explain(datum, exc)
        return "does not match the schema"  # pragma: no cover - validate disagreed with itself

    def _explain(self, datum: Any, exc: ValidationError) -> str:
        by_field: dict[str, tuple[Any, list[str]]] = {}
        for error in exc.errors:
            field = error.field or ""
            if self.name and field.startswith(self.name + "."):
                field = field[len(self.name) + 1 :]
            expected = error.schema if isinstance(error.schema, str) else _type_name(error.schema)
            by_field.setdefault(field, (error.datum, []))[1].append(expected)
        reasons = []
        for field, (value, expected) in by_field.items():
            wanted = " or ".join(dict.fromkeys(expected))
            if not field:
                reasons.append(f"{_preview(value)} is not {wanted}")
            elif value is None and isinstance(datum, dict) and field not in datum:
                reasons.append(f"field '{field}' is missing (expected {wanted})")
            else:
                reasons.append(
                    f"field '{field}' is {_preview(value)} ({type(value).__name__}), "
                    f"expected {wanted}"
                )
        return "; ".join(reasons)


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    if isinstance(schema, list):
        return " or ".join(_type_name(s) for s in schema)
    return str(schema)


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
