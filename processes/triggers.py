"""Polling the triggers (every worker's process loop calls triggers_poll): a due schedule, new
objects under an S3 prefix, new files under an HDFS folder, a SQL query whose result changed, a
new snapshot of the model, a job of the model finishing.

Each trigger row is locked while it is read and its state written in the same transaction as
the runs it starts, so with several workers polling each object (snapshot, job, due time)
starts one run."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from croniter import CroniterBadCronError, croniter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from jobs.models import Connection, Job, JobAsset, JobStatus
from models_registry.models import Snapshot
from processes.models import Trigger
from processes.services import process_model, run_start

logger = logging.getLogger(__name__)

MAX_SEEN_KEYS = 100_000
MAX_NEW_PER_POLL = 20  # runs one S3/HDFS trigger starts at once; the rest wait for the next poll

# The connection kind each polled trigger kind reads through, and its short name.
SHORT_NAMES = {Connection.Kind.S3: "S3", Connection.Kind.HDFS: "HDFS", Connection.Kind.SQL: "SQL"}
CONNECTION_KINDS = {
    Trigger.Kind.S3_OBJECTS: Connection.Kind.S3,
    Trigger.Kind.HDFS_FILES: Connection.Kind.HDFS,
    Trigger.Kind.SQL_CHANGED: Connection.Kind.SQL,
}


def cron_check(expression: str) -> str:
    expression = (expression or "").strip()
    if not croniter.is_valid(expression):
        raise ValidationError(
            f"{expression!r} is not a cron expression (five fields, e.g. '0 6 * * 1' for "
            "Mondays at 06:00 UTC)."
        )
    return expression


def cron_next(expression: str, after: datetime) -> datetime:
    return croniter(expression, after).get_next(datetime)


def trigger_check(trigger: Trigger) -> None:
    """Clean TRIGGER's fields for its kind (the admin, the process page and the API call this);
    ValidationError by field, in words a person can act on, before anything is polled."""
    kind = trigger.kind
    if kind not in Trigger.Kind.values:
        raise ValidationError({"kind": f"Unknown trigger kind {kind!r}."})
    if kind == Trigger.Kind.SCHEDULE:
        try:
            trigger.cron = cron_check(trigger.cron)
        except ValidationError as exc:
            raise ValidationError({"cron": exc.messages}) from None
    if kind == Trigger.Kind.JOB_FINISHED and trigger.job_type:
        from jobs.models import JobType

        if trigger.job_type not in JobType.values:
            raise ValidationError({"job_type": (
                f"Unknown job type {trigger.job_type!r}: one of {', '.join(JobType.values)}."
            )})  # fmt: skip
    wanted = CONNECTION_KINDS.get(kind)
    if wanted is None:
        return
    connection = trigger.connection if trigger.connection_id else None
    if connection is None:
        label = SHORT_NAMES[wanted]
        raise ValidationError({"connection": f"Choose the {label} connection to poll."})
    if connection.kind != wanted:
        raise ValidationError({"connection": (
            f"The connection {connection.name!r} is {connection.get_kind_display()}; this "
            f"trigger polls {SHORT_NAMES[wanted]}."
        )})  # fmt: skip
    from jobs.assets import hdfs, s3, sql

    field = "query" if kind == Trigger.Kind.SQL_CHANGED else "location"
    validate = {Trigger.Kind.S3_OBJECTS: s3.validate, Trigger.Kind.HDFS_FILES: hdfs.validate,
                Trigger.Kind.SQL_CHANGED: sql.validate}[kind]  # fmt: skip
    try:
        cleaned = validate(
            connection=connection, location=trigger.location, query=trigger.query,
            direction=JobAsset.Direction.INPUT,
        )  # fmt: skip
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    if kind == Trigger.Kind.SQL_CHANGED:
        trigger.query, trigger.location = cleaned, ""
    elif kind == Trigger.Kind.HDFS_FILES:
        trigger.location, trigger.query = cleaned, ""
    else:
        trigger.query = ""


def triggers_poll(*, now=None) -> int:
    """Start the runs the enabled triggers of enabled processes call for; how many."""
    now = now or timezone.now()
    started = 0
    triggers = Trigger.objects.filter(enabled=True, process__enabled=True).exclude(
        kind=Trigger.Kind.MANUAL
    )
    for trigger_id in triggers.values_list("pk", flat=True):
        try:
            started += _poll_one(trigger_id, now)
        except DatabaseError:
            raise
        except Exception as exc:  # one bad trigger must not stop the others; the page says why
            logger.warning("trigger %s could not be polled: %s", trigger_id, exc)
            error = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            Trigger.objects.filter(pk=trigger_id).update(last_error=error[:2000])
        else:
            Trigger.objects.filter(pk=trigger_id).exclude(last_error="").update(last_error="")
    return started


def _poll_one(trigger_id: int, now) -> int:
    kind = Trigger.objects.filter(pk=trigger_id).values_list("kind", flat=True).first()
    if kind in Trigger.POLLED_KINDS:
        return _poll_external(trigger_id, now)
    return _poll_local(trigger_id, now)


@transaction.atomic
def _poll_local(trigger_id: int, now) -> int:
    trigger = Trigger.objects.select_for_update().select_related("process").get(pk=trigger_id)
    kind = trigger.kind
    if kind == Trigger.Kind.SCHEDULE:
        return _schedule(trigger, now)
    if kind == Trigger.Kind.SNAPSHOT:
        return _snapshot(trigger)
    if kind == Trigger.Kind.JOB_FINISHED:
        return _job_finished(trigger)
    return 0


WATCHED = ("kind", "connection_id", "location", "query")


def _poll_external(trigger_id: int, now) -> int:
    """S3, HDFS, SQL: claim the poll (at most every PROCESSES_POLL_SECONDS, one worker), read
    outside any transaction of ours (a listing or a query may take up to its timeout, and must
    hold no lock here meanwhile, SQLite's write lock least of all), then start the runs for
    what is new under the trigger's lock, unless the trigger was changed meanwhile."""
    with transaction.atomic():
        trigger = Trigger.objects.select_for_update().get(pk=trigger_id)
        if trigger.next_run_at and trigger.next_run_at > now:
            return 0
        trigger.next_run_at = now + timedelta(seconds=settings.PROCESSES_POLL_SECONDS)
        trigger.save(update_fields=["next_run_at", "updated_at"])
    if trigger.connection_id is None:
        return 0
    read = {f: getattr(trigger, f) for f in WATCHED}
    found = _read(trigger)
    with transaction.atomic():
        trigger = Trigger.objects.select_for_update().select_related("process").get(pk=trigger_id)
        if {f: getattr(trigger, f) for f in WATCHED} != read:
            return 0  # changed while it was read: the next poll reads what it watches now
        if trigger.kind == Trigger.Kind.SQL_CHANGED:
            return _sql_changed(trigger, *found)
        seen_as = "keys" if trigger.kind == Trigger.Kind.S3_OBJECTS else "paths"
        return _new_locations(trigger, found, seen_as)


def _read(trigger: Trigger):
    """What the trigger watches, now: the locations there are (S3, HDFS) by the name its state
    keeps of each (an S3 key, an HDFS location), or the hash and row count of the query's
    result (SQL). AssetError when it cannot be read."""
    from jobs.assets import hdfs, s3
    from jobs.assets.sql import Source

    connection = trigger.connection
    if trigger.kind == Trigger.Kind.S3_OBJECTS:
        bucket, _ = s3.location_parse(trigger.location)
        keys = s3.keys_list(connection=connection, location=trigger.location)
        return {key: f"s3://{bucket}/{key}" for key in sorted(keys)}
    if trigger.kind == Trigger.Kind.HDFS_FILES:
        return {p: p for p in hdfs.files_list(connection=connection, location=trigger.location)}
    asset = JobAsset(
        kind=JobAsset.Kind.SQL, direction=JobAsset.Direction.INPUT, connection=connection,
        query=trigger.query, name="trigger query",
    )  # fmt: skip
    return Source(asset).digest()


def _start(trigger: Trigger, data: dict) -> int:
    run_start(process=trigger.process, trigger_kind=trigger.kind, trigger_data=data)
    return 1


def _schedule(trigger: Trigger, now) -> int:
    try:
        expression = cron_check(trigger.cron)
    except (ValidationError, CroniterBadCronError):
        return 0
    if trigger.next_run_at is None:  # a new trigger: its first time is the next one
        trigger.next_run_at = cron_next(expression, now)
        trigger.save(update_fields=["next_run_at", "updated_at"])
        return 0
    if trigger.next_run_at > now:
        return 0
    due = trigger.next_run_at
    # One run for a due time, however many were missed while no worker ran.
    trigger.next_run_at = cron_next(expression, now)
    trigger.save(update_fields=["next_run_at", "updated_at"])
    return _start(trigger, {"scheduled_for": due.isoformat()})


def _new_locations(trigger: Trigger, locations: dict[str, str], seen_as: str) -> int:
    """A run for each of LOCATIONS (name kept in the state → location) not seen before (at most
    MAX_NEW_PER_POLL a poll); the trigger's state keeps what was seen under SEEN_AS: S3 keys
    (as it always has) or HDFS locations."""
    seen = set(trigger.state.get(seen_as) or [])
    new = [name for name in locations if name not in seen][:MAX_NEW_PER_POLL]
    if not new:
        return 0
    for name in new:
        _start(trigger, {"location": locations[name], "connection": trigger.connection_id})
    trigger.state = {**trigger.state, seen_as: sorted(seen | set(new))[-MAX_SEEN_KEYS:]}
    trigger.save(update_fields=["state", "updated_at"])
    return len(new)


def _sql_changed(trigger: Trigger, digest: str, rows: int) -> int:
    """A run when the result's hash differs from the last one seen. The first poll records the
    result it finds and starts nothing, as a new-snapshot trigger starts from the snapshots
    there are."""
    seen = trigger.state.get("hash")
    if digest == seen:
        return 0
    trigger.state = {**trigger.state, "hash": digest, "rows": rows}
    trigger.save(update_fields=["state", "updated_at"])
    if seen is None:
        return 0
    return _start(trigger, {"result_hash": digest, "rows": rows, "previous_hash": seen,
                            "connection": trigger.connection_id})  # fmt: skip


def _snapshot(trigger: Trigger) -> int:
    model = process_model(trigger.process)
    if model is None:
        return 0
    newest = Snapshot.objects.filter(model=model).order_by("-pk").first()
    if newest is None:
        return 0
    seen = trigger.state.get("snapshot")
    trigger.state = {**trigger.state, "snapshot": newest.pk}
    trigger.save(update_fields=["state", "updated_at"])
    if seen is None or newest.pk <= seen:  # a new trigger starts from the snapshots there are
        return 0
    return _start(trigger, {"snapshot": str(newest.uuid)})


def _job_finished(trigger: Trigger) -> int:
    model = process_model(trigger.process)
    if model is None:
        return 0
    jobs = Job.objects.filter(snapshot__model=model, status=JobStatus.COMPLETE)
    if trigger.job_type:
        jobs = jobs.filter(job_type=trigger.job_type)
    # Jobs a run of this very process made do not trigger it again.
    jobs = jobs.exclude(idempotency_key__startswith="process-run:")
    newest = jobs.order_by("-pk").first()
    if newest is None:
        return 0
    seen = trigger.state.get("job")
    trigger.state = {**trigger.state, "job": newest.pk}
    trigger.save(update_fields=["state", "updated_at"])
    if seen is None or newest.pk <= seen:
        return 0
    return _start(trigger, {"job": str(newest.uuid)})
