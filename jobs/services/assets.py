"""Asset specs: what a job reads and writes, checked before a job is made."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from jobs.formats import FORMATS, format_from_name
from jobs.models import (
    Connection,
    JobAsset,
    JobType,
    Upload,
    validate_asset_role,
)
from models_registry.services import attachment_name_clean

logger = logging.getLogger(__name__)


FUNCTION_FOR_TYPE = {
    JobType.SCORING: "score",
    JobType.METRICS: "metrics",
    JobType.TRAINING: "train",
}


@dataclass
class InputSpec:
    kind: str  # JobAsset.Kind
    name: str = ""
    format: str = ""
    upload: Upload | None = None
    data: str = ""
    connection: Connection | None = None  # S3, HDFS, SQL
    location: str = ""  # s3://bucket/key-or-prefix/, hdfs://namenode/path
    query: str = ""  # SQL: a SELECT statement
    role: str = ""  # ModelOp's assetRole (BASELINE_DATA, SAMPLE_DATA, ...); blank: the default


@dataclass
class OutputSpec:
    kind: str = JobAsset.Kind.EMBEDDED
    name: str = ""
    format: str = ""
    connection: Connection | None = None
    location: str = ""  # s3://bucket/key, hdfs://namenode/path, or a SQL table name
    write_mode: str = JobAsset.WriteMode.REPLACE


EXTERNAL_KINDS = (JobAsset.Kind.S3, JobAsset.Kind.HDFS, JobAsset.Kind.SQL)
JOB_MAX_INPUTS = 100  # input assets of one job (each is a row, a fetch and a model call)


def _external_asset(asset: JobAsset, *, user, connection, location, query, direction) -> None:
    """Fill ASSET's connection and location/query after checking them (ValidationError)."""
    from jobs.assets import location_validate
    from jobs.selectors import connection_list

    if connection is not None and not connection_list(user=user).filter(pk=connection.pk).exists():
        raise ValidationError(f"You may not use the connection {connection.name!r}.")
    cleaned = location_validate(
        kind=asset.kind, connection=connection, location=location, query=query,
        direction=direction,
    )  # fmt: skip
    asset.connection = connection
    if asset.kind == JobAsset.Kind.SQL and direction == JobAsset.Direction.INPUT:
        asset.query = cleaned
        asset.name = asset.name or f"SQL on {connection.name}"
    else:
        asset.location = cleaned
        asset.name = asset.name or cleaned


def asset_input_build(spec: InputSpec, *, user, position: int) -> JobAsset:
    guess = spec.name or (spec.upload.name if spec.upload else "")
    if spec.kind in (JobAsset.Kind.S3, JobAsset.Kind.HDFS):
        fmt = spec.format  # blank: each object's or file's extension decides, when it is read
    elif spec.kind == JobAsset.Kind.SQL:
        fmt = spec.format or "parquet"
    else:
        fmt = spec.format or format_from_name(guess)
    if fmt and fmt not in FORMATS:
        raise ValidationError(f"Unknown input format {fmt!r}; use one of {', '.join(FORMATS)}.")
    role = (spec.role or "").strip().upper()
    validate_asset_role(role)
    asset = JobAsset(
        direction=JobAsset.Direction.INPUT, position=position, kind=spec.kind, format=fmt,
        role=role,
    )  # fmt: skip
    if spec.kind == JobAsset.Kind.UPLOAD:
        if spec.upload is None or spec.upload.owner_id != user.pk:
            raise ValidationError("The uploaded input file was not found; upload it again.")
        asset.name = spec.upload.name
        asset.file.name = spec.upload.file.name
        asset.size = spec.upload.size
    elif spec.kind == JobAsset.Kind.EMBEDDED:
        size = len(spec.data.encode())
        if size > settings.EMBEDDED_INPUT_MAX_BYTES:
            raise ValidationError(
                f"Embedded input is {size:,} bytes; the limit is "
                f"{settings.EMBEDDED_INPUT_MAX_BYTES:,}. Upload it as a file instead."
            )
        asset.name = spec.name or f"embedded.{fmt}"
        asset.data = spec.data
        asset.size = size
    elif spec.kind in EXTERNAL_KINDS:
        asset.name = spec.name
        _external_asset(
            asset, user=user, connection=spec.connection, location=spec.location,
            query=spec.query, direction=JobAsset.Direction.INPUT,
        )  # fmt: skip
    else:
        raise ValidationError(f"Unknown input kind {spec.kind!r}.")
    return asset


def asset_output_build(spec: OutputSpec, *, user) -> JobAsset:
    external = spec.kind in EXTERNAL_KINDS
    if spec.kind == JobAsset.Kind.EMBEDDED:
        fmt = spec.format or "jsonl"
        name = spec.name or f"output.{fmt}"
    elif spec.kind == JobAsset.Kind.FILE:
        if not spec.name:
            raise ValidationError("Give the output file a name, such as scores.jsonl.")
        name = attachment_name_clean(spec.name)
        fmt = spec.format or format_from_name(name)
    elif external:
        name = spec.name
        if spec.kind == JobAsset.Kind.SQL:
            fmt = spec.format or "parquet"
        else:
            fmt = spec.format or format_from_name(spec.location, default=None) or ""
            if not fmt:
                raise ValidationError(
                    f"Cannot tell the output format from {spec.location!r}: end the name with "
                    f".jsonl, .json, .csv or .parquet, or choose a format."
                )
    else:
        raise ValidationError(f"Unknown output kind {spec.kind!r}.")
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown output format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if spec.write_mode not in JobAsset.WriteMode.values:
        raise ValidationError(f"Unknown write mode {spec.write_mode!r}; use replace or append.")
    asset = JobAsset(
        direction=JobAsset.Direction.OUTPUT, position=0, kind=spec.kind, name=name, format=fmt,
        write_mode=spec.write_mode,
    )  # fmt: skip
    if external:
        _external_asset(
            asset, user=user, connection=spec.connection, location=spec.location, query="",
            direction=JobAsset.Direction.OUTPUT,
        )  # fmt: skip
    return asset
