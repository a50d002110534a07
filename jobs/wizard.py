"""The "create a batch job" wizard's state: eight steps, answers kept in the session.

ModelOp Center's guide counts "Jobs" and "Create a new batch job" as its first two steps;
they only open the wizard, so here the steps are numbered from the model (1) to the review
(8). A training job skips the output step: its result is a new snapshot. An answer is kept as plain JSON (uuids,
strings) and resolved again on every request through the selectors, so an answer that became
inaccessible (a model moved to another team, an upload deleted) counts as missing and the
person is sent back to that step instead of reaching job_submit with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from jobs.formats import format_from_name
from jobs.models import AssetFormat, Connection, JobAsset, JobType, Runtime, Upload
from jobs.selectors import connection_list
from jobs.services import EXTERNAL_KINDS, FUNCTION_FOR_TYPE, InputSpec, OutputSpec
from models_registry.models import Model, Snapshot
from models_registry.selectors import model_list, snapshot_list

SESSION_KEY = "job_wizard"
AUTO_RUNTIME = "auto"


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    title: str


STEPS = (
    Step(1, "model", "Model"),
    Step(2, "snapshot", "Snapshot"),
    Step(3, "runtime", "Runtime"),
    Step(4, "type", "Job type"),
    Step(5, "schemas", "Schemas"),
    Step(6, "inputs", "Input assets"),
    Step(7, "output", "Output asset"),
    Step(8, "review", "Review"),
)
PAGE_STEPS = STEPS
STEP_BY_SLUG = {step.slug: step for step in PAGE_STEPS}
ANSWER_STEPS = tuple(step.slug for step in PAGE_STEPS if step.slug != "review")

# Answers that stop making sense when an earlier answer changes: another model has other
# snapshots; another snapshot has other functions and other schema attachments.
DEPENDENTS = {
    "model": ("snapshot", "type", "evaluator", "schemas"),
    "snapshot": ("type", "evaluator", "schemas"),
}


def job_type_availability(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(value, label, reason it is unavailable or "") for every job type."""
    functions = snapshot.tags_parsed.functions
    rows = []
    for job_type in JobType:
        function = FUNCTION_FOR_TYPE[job_type]
        # A metrics job on a model without a metrics function runs the built-in evaluator.
        reason = (
            ""
            if function in functions or job_type == JobType.METRICS
            else f"This snapshot has no function tagged '# modelop.{function}'."
        )
        rows.append((job_type.value, job_type.label, reason))
    return rows


class Wizard:
    """One person's wizard answers, stored in their session."""

    def __init__(self, session: SessionBase, user) -> None:
        self.session = session
        self.user = user

    @property
    def data(self) -> dict[str, Any]:
        return self.session.setdefault(SESSION_KEY, {})

    def answer(self, slug: str, default: Any = None) -> Any:
        return self.data.get(slug, default)

    def save(self, slug: str, value: Any) -> None:
        data = self.data
        if data.get(slug) != value:
            for dependent in DEPENDENTS.get(slug, ()):
                data.pop(dependent, None)
        data[slug] = value
        self.session.modified = True
        self._forget_resolved()

    def reset(self) -> None:
        self.session[SESSION_KEY] = {}
        self._forget_resolved()

    def prefill(self, job) -> None:
        """Start again with JOB's choices (snapshot, runtime, type, schemas, inputs, output,
        bad-record options) as the answers, for "Edit and run". An uploaded input becomes an
        upload of this user's naming the same stored file, as job_rerun does."""
        self.reset()
        self.save("model", str(job.snapshot.model.uuid))
        self.save("snapshot", str(job.snapshot.uuid))
        auto = job.runtime_auto or job.runtime is None
        self.save("runtime", AUTO_RUNTIME if auto else str(job.runtime.uuid))
        self.save("type", job.job_type)
        self.save("evaluator", bool(job.params.get("evaluator")))
        self.save(
            "schemas",
            {
                "input": job.input_schema,
                "output": job.output_schema,
                "check_input": job.check_input_schema,
                "check_output": job.check_output_schema,
            },
        )
        self.save("inputs", [self._input_answer(asset) for asset in job.input_assets()])
        out = job.output_asset()
        if out is not None:
            answer = {"kind": out.kind, "name": out.name, "format": out.format}
            if out.is_external:
                answer.update(
                    connection=str(out.connection.uuid) if out.connection else "",
                    location=out.location,
                    write_mode=out.write_mode,
                )
            self.save("output", answer)
        if job.max_rejects_percent is not None:
            limit = f"{job.max_rejects_percent:g}%"
        else:
            limit = "" if job.max_rejects is None else str(job.max_rejects)
        self.save("rejects", {"stop_on_bad_records": job.stop_on_bad_records, "max_rejects": limit})

    def _input_answer(self, asset: JobAsset) -> dict:
        answer = {"id": uuid.uuid4().hex, "kind": asset.kind, "format": asset.format}
        answer["role"] = asset.role
        if asset.kind == JobAsset.Kind.UPLOAD:
            upload = Upload.objects.create(
                owner=self.user, name=asset.name, file=asset.file.name, size=asset.size or 0
            )
            answer["upload"] = str(upload.uuid)
        elif asset.kind in EXTERNAL_KINDS:
            answer.update(
                connection=str(asset.connection.uuid) if asset.connection else "",
                location=asset.location,
                query=asset.query,
            )
        else:
            answer.update(data=asset.data, name=asset.name)
        return answer

    def _forget_resolved(self) -> None:
        for name in ("model", "snapshot", "runtime_row", "inputs", "output", "_connections"):
            self.__dict__.pop(name, None)

    # --- Answers resolved to rows the user may use --------------------------------------

    @cached_property
    def model(self) -> Model | None:
        uuid = self.answer("model")
        return model_list(user=self.user).filter(uuid=uuid).first() if uuid else None

    @cached_property
    def snapshot(self) -> Snapshot | None:
        uuid = self.answer("snapshot")
        if not uuid or self.model is None:
            return None
        return snapshot_list(user=self.user).filter(uuid=uuid, model=self.model).first()

    @cached_property
    def runtime_row(self) -> Runtime | None:
        uuid = self.answer("runtime")
        if not uuid or uuid == AUTO_RUNTIME:
            return None
        return Runtime.objects.filter(uuid=uuid).first()

    @property
    def runtime_is_auto(self) -> bool:
        return self.answer("runtime") == AUTO_RUNTIME

    @property
    def job_type(self) -> str | None:
        value = self.answer("type")
        if self.snapshot is None or not value:
            return None
        available = {v for v, _, reason in job_type_availability(self.snapshot) if not reason}
        return value if value in available else None

    @property
    def is_training(self) -> bool:
        """A training job writes no output asset: the new snapshot is its result."""
        return self.job_type == JobType.TRAINING

    @property
    def schemas(self) -> dict | None:
        value = self.answer("schemas")
        if value is None or self.snapshot is None:
            return None
        names = set(self.snapshot.schema_names())
        if any(value.get(key) and value[key] not in names for key in ("input", "output")):
            return None
        return value

    @cached_property
    def _connections(self) -> dict[str, Connection]:
        """The connections the answers name that the user may still use, by uuid."""
        answers = [*(self.answer("inputs") or []), self.answer("output") or {}]
        ids = [a["connection"] for a in answers if a.get("connection")]
        if not ids:
            return {}
        return {str(c.uuid): c for c in connection_list(user=self.user).filter(uuid__in=ids)}

    def _connection(self, answer: dict) -> Connection | None:
        """ANSWER's connection, when the user may still use it and it is of the right kind."""
        connection = self._connections.get(answer.get("connection") or "")
        return connection if connection and connection.kind == answer["kind"] else None

    @cached_property
    def inputs(self) -> list[dict]:
        """Input answers, each with its Upload or Connection row; an input whose upload
        vanished or whose connection the user may no longer use is dropped."""
        answers = self.answer("inputs") or []
        upload_ids = [a["upload"] for a in answers if a["kind"] == JobAsset.Kind.UPLOAD]
        uploads = {
            str(u.uuid): u for u in Upload.objects.filter(owner=self.user, uuid__in=upload_ids)
        }
        resolved = []
        for answer in answers:
            if answer["kind"] == JobAsset.Kind.UPLOAD:
                upload = uploads.get(answer["upload"])
                if upload is None:
                    continue
                item = {**answer, "upload_row": upload, "name": upload.name, "size": upload.size}
            elif answer["kind"] in EXTERNAL_KINDS:
                connection = self._connection(answer)
                if connection is None:
                    continue
                name = answer.get("location") or f"SQL on {connection.name}"
                item = {**answer, "connection_row": connection, "name": name, "size": None}
            else:
                item = {**answer, "size": len(answer["data"].encode())}
            item["kind_label"] = JobAsset.Kind(item["kind"]).label
            fmt = item.get("format") or (
                "parquet"
                if item["kind"] == JobAsset.Kind.SQL
                else format_from_name(item.get("name", ""))
            )
            item["format_shown"] = AssetFormat(fmt).label if fmt in AssetFormat.values else fmt
            if not item.get("format") and item["kind"] in (JobAsset.Kind.S3, JobAsset.Kind.HDFS):
                # Each object's or file's own extension decides, when it is read.
                named = format_from_name(item.get("location", ""), default=None)
                item["format_shown"] = (
                    f"{AssetFormat(named).label} (from the name)" if named else "by extension"
                )
            resolved.append(item)
        return resolved

    @cached_property
    def output(self) -> dict | None:
        """The output answer; an external one carries its Connection row (None, so the step
        counts as unanswered, when the user may no longer use it)."""
        answer = self.answer("output")
        if answer is None:
            return None
        if answer.get("kind") in EXTERNAL_KINDS:
            connection = self._connection(answer)
            if connection is None:
                return None
            return {**answer, "connection_row": connection}
        return answer

    def is_answered(self, slug: str) -> bool:
        match slug:
            case "model":
                return self.model is not None
            case "snapshot":
                return self.snapshot is not None
            case "runtime":
                return self.runtime_is_auto or self.runtime_row is not None
            case "type":
                return self.job_type is not None
            case "schemas":
                return self.schemas is not None
            case "inputs":
                return bool(self.inputs)
            case "output":
                return self.output is not None or self.is_training
        return False

    def steps(self) -> tuple[Step, ...]:
        """The steps this job has, numbered from 1: a training job has no output step."""
        slugs = [s.slug for s in STEPS if not (s.slug == "output" and self.is_training)]
        return tuple(Step(i, slug, STEP_BY_SLUG[slug].title) for i, slug in enumerate(slugs, 1))

    def first_missing(self, *, before: str | None = None) -> str | None:
        """The first unanswered step that comes before BEFORE (all steps when None)."""
        for slug in ANSWER_STEPS:
            if slug == before:
                return None
            if not self.is_answered(slug):
                return slug
        return None

    def review(self) -> dict[str, str]:
        """Labels for the review step; the output's name and format as job_submit fills them."""
        output = self.output or {}
        kind = output.get("kind", JobAsset.Kind.EMBEDDED)
        connection = output.get("connection_row")
        if kind == JobAsset.Kind.SQL:
            fmt = output.get("format") or "parquet"
        elif kind in EXTERNAL_KINDS:
            fmt = output.get("format") or format_from_name(output.get("location", ""))
        else:
            fmt = output.get("format") or (
                format_from_name(output["name"]) if output.get("name") else "jsonl"
            )
        write_mode = output.get("write_mode") or JobAsset.WriteMode.REPLACE
        return {
            "job_type_label": JobType(self.job_type).label if self.job_type else "",
            "evaluator": self.evaluator,
            "output_kind_label": (
                "SQL table" if kind == JobAsset.Kind.SQL else JobAsset.Kind(kind).label
            ),
            "output_name": output.get("location") or output.get("name") or f"output.{fmt}",
            "output_connection": connection.name if connection else "",
            "output_write_mode": (
                JobAsset.WriteMode(write_mode).label.lower() if kind == JobAsset.Kind.SQL else ""
            ),
            "output_format": AssetFormat(fmt).label if fmt in AssetFormat.values else fmt,
        }

    # --- What job_submit receives ----------------------------------------------------------

    @property
    def evaluator(self) -> bool:
        """Whether a metrics job runs the built-in evaluator: asked for, or the only way."""
        if self.job_type != JobType.METRICS or self.snapshot is None:
            return False
        has_metrics = "metrics" in self.snapshot.tags_parsed.functions
        return bool(self.answer("evaluator")) or not has_metrics

    def submit_kwargs(self) -> dict[str, Any]:
        schemas = self.schemas or {}
        output = self.output or {}
        return {
            "params": {"evaluator": True} if self.evaluator else {},
            "snapshot": self.snapshot,
            "job_type": self.job_type,
            "runtime": self.runtime_row,
            "input_schema": schemas.get("input", ""),
            "output_schema": schemas.get("output", ""),
            "check_input_schema": schemas.get("check_input", False),
            "check_output_schema": schemas.get("check_output", False),
            "inputs": [
                InputSpec(
                    kind=item["kind"],
                    # External assets are named by job_submit (their location).
                    name="" if item["kind"] in EXTERNAL_KINDS else item.get("name", ""),
                    format=item.get("format", ""),
                    upload=item.get("upload_row"),
                    data=item.get("data", ""),
                    connection=item.get("connection_row"),
                    location=item.get("location", ""),
                    query=item.get("query", ""),
                    role=item.get("role", ""),
                )
                for item in self.inputs
            ],
            "output": None
            if self.is_training
            else OutputSpec(
                kind=output.get("kind", JobAsset.Kind.EMBEDDED),
                name=output.get("name", ""),
                format=output.get("format", ""),
                connection=output.get("connection_row"),
                location=output.get("location", ""),
                write_mode=output.get("write_mode") or JobAsset.WriteMode.REPLACE,
            ),
        }
