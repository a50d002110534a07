"""ModelOp's extended Avro schema: the monitored model's input schema, whose fields carry
"role" (predictor, non_predictor, label, score, weight, identifier), "dataClass" (numerical,
categorical), "protectedClass", "driftCandidate" and "specialValues". Monitors read their
columns from it.

In ModelOp Center the schema sits in the job JSON at
referenceModel.storedModel.modelMetaData.inputSchema[0].schemaDefinition. A job of this
command center carries no referenceModel; its "inputSchema" names the job's input schema
attachment, which lies in the working directory, and that file is read instead.

Unsure: ModelOp's exact defaults. Here a field without "dataClass" is categorical when its
Avro type is string, boolean or enum, else numerical; a field without "driftCandidate" is one
when its role is predictor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROLES = {
    "predictor", "non_predictor", "non-predictor", "label", "score", "weight", "identifier",
    None,
}  # fmt: skip
DATA_CLASSES = {"numerical", "categorical", None}
_CATEGORICAL_TYPES = {"string", "boolean", "enum", "bytes"}
_FLOAT_TYPES = {"double", "float"}


class SchemaError(ValueError):
    """The job JSON has no usable input schema, or the schema is not a valid extended one."""


def job_dict(job_json: dict | str) -> dict:
    """The job itself from what init gets ({"rawJson": "..."}), its parsed rawJson, or text."""
    if isinstance(job_json, str):
        job_json = json.loads(job_json)
    if not isinstance(job_json, dict):
        raise SchemaError(f"a job JSON is a dict, not {type(job_json).__name__}")
    raw = job_json.get("rawJson")
    if isinstance(raw, str):
        return json.loads(raw)
    if isinstance(raw, dict):
        return raw
    return job_json


def extract_input_schema(job_json: dict | str) -> dict:
    """The schema definition of the monitored model's input (an Avro record schema)."""
    return _extract(job_json, "inputSchema")


def extract_output_schema(job_json: dict | str) -> dict:
    return _extract(job_json, "outputSchema")


def _extract(job_json: dict | str, key: str) -> dict:
    job = job_dict(job_json)
    try:
        schemas = job["referenceModel"]["storedModel"]["modelMetaData"][key]
    except (KeyError, TypeError):
        schemas = None
    if schemas:
        first = schemas[0] if isinstance(schemas, list) else schemas
        definition = first.get("schemaDefinition", first) if isinstance(first, dict) else first
        return _parsed(definition, f"{key}[0].schemaDefinition")
    named = job.get(key)  # this command center's job JSON: the attachment's name
    if isinstance(named, dict):
        return named
    if isinstance(named, str) and named:
        path = Path(named)
        try:
            return _parsed(path.read_text(), f"the schema file '{named}'")
        except OSError as exc:
            raise SchemaError(f"the schema file '{named}' cannot be read: {exc}") from None
    raise SchemaError(
        f"the job JSON has no {key}: neither referenceModel.storedModel.modelMetaData.{key} "
        f"nor a schema chosen for the job"
    )


def _parsed(definition: Any, where: str) -> dict:
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise SchemaError(f"{where} is not JSON: {exc}") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("fields"), list):
        raise SchemaError(f"{where} is not an Avro record schema (no list of fields)")
    return definition


def validate_schema(schema_json: dict) -> bool:
    """True for a valid extended schema; else SchemaError naming every problem."""
    problems = []
    fields = schema_json.get("fields") if isinstance(schema_json, dict) else None
    if not isinstance(fields, list):
        raise SchemaError("the schema has no list of fields")
    names = set()
    for index, item in enumerate(fields):
        name = item.get("name") if isinstance(item, dict) else None
        if not name:
            problems.append(f"field {index} has no name")
            continue
        if name in names:
            problems.append(f"field '{name}' appears twice")
        names.add(name)
        if "type" not in item:
            problems.append(f"field '{name}' has no type")
        if item.get("role") not in ROLES:
            problems.append(f"field '{name}' has an unknown role {item.get('role')!r}")
        if item.get("dataClass") not in DATA_CLASSES:
            problems.append(f"field '{name}' has an unknown dataClass {item.get('dataClass')!r}")
        for flag in ("protectedClass", "driftCandidate"):
            if flag in item and not isinstance(item[flag], bool):
                problems.append(f"field '{name}': {flag} must be true or false")
        if "specialValues" in item and not isinstance(item["specialValues"], list):
            problems.append(f"field '{name}': specialValues must be a list")
    roles = [item.get("role") for item in fields if isinstance(item, dict)]
    for role in ("label", "weight"):
        if roles.count(role) > 1:
            problems.append(f"more than one field has the role {role}")
    if problems:
        raise SchemaError("; ".join(problems))
    return True


def set_monitoring_parameters(schema_json: dict, check_schema: bool = True) -> dict:
    """The columns monitors use, from the schema's field attributes."""
    if check_schema:
        validate_schema(schema_json)
    params: dict[str, Any] = {
        "label_column": None,
        "score_column": None,
        "probability_column": None,
        "weight_column": None,
        "predictors": [],
        "categorical_columns": [],
        "numerical_columns": [],
        "protected_classes": [],
        "identifier_columns": [],
        "drift_candidates": [],
        "special_values": {},
        "feature_dataclass": {},
        "label_type": None,
        "score_type": None,
    }
    for item in schema_json.get("fields", []):
        name, role = item.get("name"), item.get("role")
        data_class = item.get("dataClass") or _data_class(item.get("type"))
        params["feature_dataclass"][name] = data_class
        if role == "label":
            params["label_column"], params["label_type"] = name, data_class
        elif role == "score":
            # a prediction and its probability are often both scores: the first is the score
            if params["score_column"] is None:
                params["score_column"], params["score_type"] = name, data_class
            elif params["probability_column"] is None and _types(item.get("type")) & _FLOAT_TYPES:
                params["probability_column"] = name
        elif role == "weight":
            params["weight_column"] = name
        elif role == "identifier":
            params["identifier_columns"].append(name)
        elif role == "predictor":
            params["predictors"].append(name)
        if item.get("protectedClass") is True:
            params["protected_classes"].append(name)
        if item.get("specialValues"):
            params["special_values"][name] = list(item["specialValues"])
        if item.get("driftCandidate", role == "predictor"):
            params["drift_candidates"].append(name)
            params[f"{data_class}_columns"].append(name)
    return params


def monitoring_parameters(job_json: dict | str | None) -> dict:
    """set_monitoring_parameters of the job's input schema; {} without a job JSON."""
    if job_json is None:
        return {}
    return set_monitoring_parameters(extract_input_schema(job_json))


def _types(avro_type: Any) -> set[str]:
    types = avro_type if isinstance(avro_type, list) else [avro_type]
    names = set()
    for t in types:
        if isinstance(t, dict):
            t = t.get("logicalType") or t.get("type")
        if isinstance(t, str):
            names.add(t)
    return names - {"null"}


def _data_class(avro_type: Any) -> str:
    return "categorical" if _types(avro_type) & _CATEGORICAL_TYPES else "numerical"
