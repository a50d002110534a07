"""Everything that changes a process or a run. Views, the admin and the workers call these."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from jobs.models import Upload
from models_registry.models import Model
from models_registry.selectors import model_list
from models_registry.services import model_may_change
from processes import bpmn, templates_builtin
from processes.models import (
    Process,
    ProcessRun,
    RunStatus,
    RunStep,
    StepStatus,
    Template,
    Trigger,
)

logger = logging.getLogger(__name__)


def process_may_change(*, user, process: Process) -> bool:
    return bool(user.is_staff or user.groups.filter(pk=process.team_id).exists())


@transaction.atomic
def process_create_retrain(*, user, name: str, values: dict) -> Process:
    """A Retrain-and-promote process for the model VALUES["model"] (a uuid), with a manual
    trigger."""
    model = model_list(user=user).filter(uuid=values.get("model")).first()
    if model is None:
        raise ValidationError("Choose a model you may see.")
    if not model_may_change(user=user, model=model):
        raise PermissionDenied(f"You may not change the model “{model.name}”.")
    settings, xml = templates_builtin.retrain_promote({**values, "model": str(model.uuid)})
    bpmn.spec_parse(xml)
    steps_check(settings["steps"])
    process = Process.objects.create(
        name=name.strip() or f"Retrain and promote {model.name}",
        team=model.team, owner=user, template=Template.RETRAIN_PROMOTE,
        settings=settings, bpmn_xml=xml,
    )  # fmt: skip
    uuids = [values.get(k) for k in ("training_data", "held_out_data", "production_data")]
    _uploads_set(process, user=user, uuids=uuids)
    Trigger.objects.create(process=process, kind=Trigger.Kind.MANUAL)
    return process


@transaction.atomic
def process_create_from_template(
    *, user, name: str, template: str, values: dict, cron: str = ""
) -> Process:
    """A Scheduled-scoring (a schedule trigger on CRON) or Champion/challenger (a new-snapshot
    trigger) process for the model VALUES["model"]."""
    from processes.triggers import cron_check

    model = model_list(user=user).filter(uuid=values.get("model")).first()
    if model is None:
        raise ValidationError("Choose a model you may see.")
    if not model_may_change(user=user, model=model):
        raise PermissionDenied(f"You may not change the model “{model.name}”.")
    values = {**values, "model": str(model.uuid)}
    if template == Template.SCHEDULED_SCORING:
        trigger = Trigger(kind=Trigger.Kind.SCHEDULE, cron=cron_check(cron))
        settings, xml = templates_builtin.scheduled_scoring(values)
    elif template == Template.CHAMPION_CHALLENGER:
        trigger = Trigger(kind=Trigger.Kind.SNAPSHOT)
        settings, xml = templates_builtin.champion_challenger(values)
    else:
        raise ValidationError(f"Unknown template {template!r}.")
    process = Process.objects.create(
        name=name.strip() or f"{Template(template).label}: {model.name}", team=model.team,
        owner=user, template=template, settings=settings, bpmn_xml=xml,
    )  # fmt: skip
    _uploads_set(process, user=user, uuids=[values.get("data")])
    trigger.process = process
    trigger.save()
    Trigger.objects.create(process=process, kind=Trigger.Kind.MANUAL)
    return process


MAX_BPMN_BYTES = 1_000_000


@transaction.atomic
def process_create_bpmn(
    *, user, name: str, model: Model, xml: str, dmn: str = "", steps: dict | None = None
) -> Process:
    """A process from an imported BPMN file; STEPS configures its service tasks by id (see
    processes.templates_builtin)."""
    if not model_list(user=user).filter(pk=model.pk).exists():
        raise ValidationError("Choose a model you may see.")
    if not model_may_change(user=user, model=model):
        raise PermissionDenied(f"You may not change the model “{model.name}”.")
    if len(xml.encode()) > MAX_BPMN_BYTES or len(dmn.encode()) > MAX_BPMN_BYTES:
        raise ValidationError("The BPMN or DMN file is larger than 1 MB.")
    ids = {bpmn_id for bpmn_id, _ in bpmn.steps_in_order(xml, dmn)}
    unknown = sorted(set(steps or {}) - ids)
    if unknown:
        raise ValidationError(f"The BPMN file has no task {', '.join(map(repr, unknown))}.")
    steps_check(steps or {})
    process = Process.objects.create(
        name=name.strip() or "Imported process", team=model.team, owner=user,
        template=Template.BPMN, settings={"model": str(model.uuid), "steps": steps or {}},
        bpmn_xml=xml, dmn_xml=dmn,
    )  # fmt: skip
    _uploads_set(process, user=user, uuids=[
        spec.get("upload") for config in (steps or {}).values()
        for spec in config.get("inputs") or [] if isinstance(spec, dict)
    ])  # fmt: skip
    Trigger.objects.create(process=process, kind=Trigger.Kind.MANUAL)
    return process


def steps_check(steps: dict) -> None:
    """Refuse, before a process is saved, a notify step whose webhook may not be reached (not
    http(s), or an internal address: processes.webhooks); it is checked again when it sends."""
    from processes.webhooks import webhook_check

    for bpmn_id, config in steps.items():
        if isinstance(config, dict) and config.get("kind") == "notify" and config.get("webhook"):
            try:
                webhook_check(config["webhook"])
            except ValidationError as exc:
                raise ValidationError(f"Step {bpmn_id!r}: {' '.join(exc.messages)}") from None


def _uploads_set(process: Process, *, user, uuids) -> None:
    """Check the uploads the steps read are USER's or the team's, and keep them (the sweep)."""
    wanted = {str(u) for u in uuids if u and u != "trigger"}
    uploads = Upload.objects.filter(uuid__in=wanted).filter(Q(owner=user) | Q(team=process.team))
    if uploads.count() != len(wanted):
        raise ValidationError("Choose uploaded files of yours or your team's.")
    process.uploads.set(uploads)


# --- Triggers -------------------------------------------------------------------------------

TRIGGER_FIELDS = ("kind", "cron", "connection", "location", "query", "job_type", "enabled")


def _trigger_save(*, trigger: Trigger, user, values: dict) -> Trigger:
    from jobs.selectors import connection_list

    if not process_may_change(user=user, process=trigger.process):
        raise PermissionDenied("You may not change the triggers of this process.")
    unknown = sorted(set(values) - set(TRIGGER_FIELDS))
    if unknown:
        raise ValidationError(f"Unknown trigger field {', '.join(map(repr, unknown))}.")
    before = {f: getattr(trigger, f) for f in ("kind", "cron", "connection_id", "location",
                                                "query", "job_type")}  # fmt: skip
    for field, value in values.items():
        if field == "connection":
            continue
        setattr(trigger, field, value if field == "enabled" else (value or "").strip())
    if "connection" in values:
        connection = values["connection"]
        if connection is not None and not connection_list(user=user).filter(
            pk=connection.pk
        ).exists():  # fmt: skip
            raise ValidationError({"connection": "Choose a connection your team may use."})
        trigger.connection = connection
    if trigger.kind not in Trigger.Kind.values:
        raise ValidationError({"kind": f"Unknown trigger kind {trigger.kind!r}."})
    # Only the fields of its kind are kept, so nothing stale is polled or shown.
    keep = {
        Trigger.Kind.SCHEDULE: {"cron"}, Trigger.Kind.S3_OBJECTS: {"connection", "location"},
        Trigger.Kind.HDFS_FILES: {"connection", "location"},
        Trigger.Kind.SQL_CHANGED: {"connection", "query"},
        Trigger.Kind.JOB_FINISHED: {"job_type"},
    }.get(trigger.kind, set())  # fmt: skip
    for field in ("cron", "location", "query", "job_type"):
        if field not in keep:
            setattr(trigger, field, "")
    if "connection" not in keep:
        trigger.connection = None
    trigger.full_clean(exclude=["process"])
    after = {f: getattr(trigger, f) for f in before}
    if trigger.pk is None or after != before:  # what it watches changed: it starts afresh
        trigger.state, trigger.next_run_at, trigger.last_error = {}, None, ""
    trigger.save()
    return trigger


@transaction.atomic
def trigger_create(*, process: Process, user, values: dict) -> Trigger:
    """A trigger of PROCESS from VALUES (TRIGGER_FIELDS; connection a Connection), checked as
    the admin checks it; USER must be allowed to change the process."""
    trigger = _trigger_save(trigger=Trigger(process=process), user=user, values=values)
    audit_record(
        action="process.trigger_added", actor=user, obj=process,
        details={"trigger": str(trigger.uuid), "kind": trigger.kind},
    )  # fmt: skip
    return trigger


@transaction.atomic
def trigger_update(*, trigger: Trigger, user, values: dict) -> Trigger:
    trigger = Trigger.objects.select_for_update().select_related("process").get(pk=trigger.pk)
    trigger = _trigger_save(trigger=trigger, user=user, values=values)
    audit_record(
        action="process.trigger_changed", actor=user, obj=trigger.process,
        details={"trigger": str(trigger.uuid), "kind": trigger.kind},
    )  # fmt: skip
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger, user) -> None:
    if not process_may_change(user=user, process=trigger.process):
        raise PermissionDenied("You may not change the triggers of this process.")
    audit_record(
        action="process.trigger_removed", actor=user, obj=trigger.process,
        details={"trigger": str(trigger.uuid), "kind": trigger.kind},
    )  # fmt: skip
    trigger.delete()


def process_model(process: Process) -> Model | None:
    return Model.objects.filter(uuid=(process.settings or {}).get("model") or None).first()


@transaction.atomic
def run_start(*, process: Process, trigger_kind: str, trigger_data=None, user=None) -> ProcessRun:
    if not process.enabled:
        raise ValidationError(f"The process “{process.name}” is disabled.")
    workflow = bpmn.workflow_new(process.bpmn_xml, process.dmn_xml)
    workflow.do_engine_steps()
    run = ProcessRun.objects.create(
        process=process, trigger_kind=trigger_kind, trigger_data=trigger_data or {},
        started_by=user, workflow_state=bpmn.workflow_dump(workflow),
    )  # fmt: skip
    audit_record(
        action="process.run_started", actor=user, obj=process,
        details={"run": str(run.uuid), "trigger": trigger_kind},
    )  # fmt: skip
    return run


@transaction.atomic
def run_approve(*, run: ProcessRun, user) -> RunStep:
    """USER (who may change the model) approves the step RUN waits on."""
    run = ProcessRun.objects.select_for_update().get(pk=run.pk)
    step = run.steps.filter(status=StepStatus.WAITING, kind="approval").first()
    if run.status != RunStatus.WAITING_APPROVAL or step is None:
        raise ValidationError("This run waits for no approval.")
    model = process_model(run.process)
    if model is None or not model_may_change(user=user, model=model):
        raise PermissionDenied("You may not approve runs of this process.")
    step.status = StepStatus.DONE
    step.approver = user
    step.output = {"approved_by": user.get_username()}
    step.finished_at = timezone.now()
    step.save()
    run.status = RunStatus.RUNNING
    run.save(update_fields=["status", "updated_at"])
    return step


@transaction.atomic
def run_retry(*, run: ProcessRun, user) -> ProcessRun:
    """Start a failed RUN again from its failed step (its earlier steps stay done): the step is
    done anew, a job step with a new job."""
    run = ProcessRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.FAILED or not run.failed_step:
        raise ValidationError("Only a failed run can be retried.")
    if not process_may_change(user=user, process=run.process):
        raise PermissionDenied("You may not retry runs of this process.")
    step = run.steps.filter(bpmn_id=run.failed_step).first()
    if step is not None:
        step.status = StepStatus.RUNNING
        step.attempt += 1
        step.job = None
        step.verdict, step.output, step.reason, step.finished_at = {}, {}, "", None
        step.save()
    run.status = RunStatus.RUNNING
    run.failed_step, run.reason, run.finished_at = "", "", None
    run.save()
    audit_record(
        action="process.run_retried", actor=user, obj=run.process,
        details={"run": str(run.uuid), "step": step.bpmn_id if step else ""},
    )  # fmt: skip
    return run


def runs_due():
    now = timezone.now()
    return ProcessRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )


def processes_tick() -> dict[str, int]:
    """One pass of the workers' loop: advance every run that can move."""
    from processes.engine import run_advance
    from processes.triggers import triggers_poll

    started = triggers_poll()
    advanced = 0
    for run in runs_due().select_related("process")[:100]:
        advanced += run_advance(run=run)
    return {"runs started": started, "runs advanced": advanced}
