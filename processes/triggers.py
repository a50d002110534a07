"""Polling the triggers (every worker's process loop calls triggers_poll): a due schedule, new
objects under an S3 prefix, a new snapshot of the model, a job of the model finishing.

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

from jobs.models import Job, JobStatus
from models_registry.models import Snapshot
from processes.models import Trigger
from processes.services import process_model, run_start

logger = logging.getLogger(__name__)

MAX_SEEN_KEYS = 100_000
MAX_NEW_PER_POLL = 20  # runs one S3 trigger starts at once; the rest wait for the next poll


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


@transaction.atomic
def _poll_one(trigger_id: int, now) -> int:
    trigger = Trigger.objects.select_for_update().select_related("process").get(pk=trigger_id)
    kind = trigger.kind
    if kind == Trigger.Kind.SCHEDULE:
        return _schedule(trigger, now)
    if kind == Trigger.Kind.S3_OBJECTS:
        # Listing a prefix costs requests: at most every PROCESSES_S3_POLL_SECONDS.
        if trigger.next_run_at and trigger.next_run_at > now:
            return 0
        trigger.next_run_at = now + timedelta(seconds=settings.PROCESSES_S3_POLL_SECONDS)
        trigger.save(update_fields=["next_run_at", "updated_at"])
        return _s3_objects(trigger)
    if kind == Trigger.Kind.SNAPSHOT:
        return _snapshot(trigger)
    if kind == Trigger.Kind.JOB_FINISHED:
        return _job_finished(trigger)
    return 0


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


def _s3_objects(trigger: Trigger) -> int:
    from jobs.assets import s3

    if trigger.connection is None:
        return 0
    keys = s3.keys_list(connection=trigger.connection, location=trigger.location)
    seen = set(trigger.state.get("keys") or [])
    new = [k for k in sorted(keys) if k not in seen][:MAX_NEW_PER_POLL]
    if not new:
        return 0
    bucket, _ = s3.location_parse(trigger.location)
    for key in new:
        _start(trigger, {"location": f"s3://{bucket}/{key}", "connection": trigger.connection_id})
    trigger.state = {**trigger.state, "keys": sorted(seen | set(new))[-MAX_SEEN_KEYS:]}
    trigger.save(update_fields=["state", "updated_at"])
    return len(new)


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
