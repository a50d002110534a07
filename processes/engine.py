"""Advancing a run: SpiffWorkflow moves through the BPMN, and each of our steps is done here.

A run's state is in the database (the serialized workflow and a RunStep per step), saved after
every step, so any worker can take a run over after another one died. A step's job is created
with an idempotency key made of the run and the step, so doing a step again after a crash finds
the job it made the first time; promoting is idempotent per run too.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from SpiffWorkflow.util.task import TaskState

from jobs.models import Connection, JobAsset, JobResult, JobStatus, Upload
from jobs.services import InputSpec, job_submit
from models_registry.models import Model, Promotion, Snapshot
from models_registry.selectors import model_job_snapshot
from models_registry.services import snapshot_promote
from processes import bpmn
from processes.gates import gate_evaluate, rules_parse
from processes.models import ProcessRun, RunStatus, RunStep, StepStatus
from processes.webhooks import WebhookRefused, webhook_post

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60  # longer than one step of a pass; a killed worker's lease ends then


class StepFailed(Exception):
    pass


class LeaseLost(Exception):
    """Another pass took the run over (this one outlived its lease): stop, writing nothing."""


def _lease_take(run: ProcessRun) -> bool:
    """Take RUN's lease; its end time, kept on RUN, fences what this pass writes after."""
    now = timezone.now()
    until = now + timedelta(seconds=LEASE_SECONDS)
    taken = bool(
        ProcessRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=until)
    )
    run.lease_until = until if taken else None
    return taken


def _fenced(run: ProcessRun):
    """RUN's row while this pass still holds its lease."""
    return ProcessRun.objects.filter(pk=run.pk, lease_until=run.lease_until)


def _lease_renew(run: ProcessRun) -> None:
    """Renew the lease between steps; LeaseLost when another pass holds the run now."""
    until = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    if not _fenced(run).update(lease_until=until):
        raise LeaseLost(str(run.uuid))
    run.lease_until = until


def run_advance(*, run: ProcessRun) -> bool:
    """Do what can be done on RUN now; False when another worker holds it."""
    if not _lease_take(run):
        return False
    try:
        _advance(run)
    except LeaseLost:
        logger.warning("%s: the lease ended during a pass; another pass took the run over", run)
    finally:  # the lease as last renewed; one another pass holds now is left to it
        _fenced(run).update(lease_until=None)
    return True


def _advance(run: ProcessRun) -> None:
    lease = run.lease_until
    run.refresh_from_db()
    if run.lease_until != lease:
        raise LeaseLost(str(run.uuid))
    workflow = bpmn.workflow_load(run.workflow_state)
    steps = run.process.settings.get("steps") or {}
    while True:
        workflow.do_engine_steps()
        if workflow.is_completed():
            _run_end(run, workflow, RunStatus.SUCCEEDED)
            return
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        progressed = False
        for task in ready:
            bpmn_id = task.task_spec.bpmn_id
            config = steps.get(bpmn_id)
            step, _ = RunStep.objects.get_or_create(
                run=run, bpmn_id=bpmn_id,
                defaults={"name": task.task_spec.bpmn_name or bpmn_id,
                          "kind": (config or {}).get("kind", "")},
            )  # fmt: skip
            try:
                if config is None:
                    raise StepFailed(f"the step {bpmn_id!r} has no configuration in the process")
                done = _step_do(run, step, config, task.data)
            except StepFailed as exc:
                _step_fail(run, workflow, step, str(exc))
                return
            except (ValidationError, PermissionDenied) as exc:
                _step_fail(run, workflow, step, _message(exc))
                return
            except (DatabaseError, LeaseLost):
                raise  # the database is away, or another pass has the run: it goes on there
            except Exception as exc:
                logger.exception("step %s of %s failed", bpmn_id, run)
                _step_fail(run, workflow, step, f"unexpected error: {exc}")
                return
            if not done:
                continue
            _lease_renew(run)  # a pass that outlived its lease writes nothing more
            step.status = StepStatus.DONE
            step.finished_at = timezone.now()
            step.save()
            task.data[bpmn_id] = step.output
            # A metrics job's numbers, by key, for the DMN tables and gateway conditions after.
            if step.job is not None and isinstance(step.job.metrics, dict):
                task.data.update(_numbers_of(step.job.metrics))
            task.run()
            progressed = True
            _state_save(run, workflow)
        if not progressed:
            _state_save(run, workflow)
            return


def _state_save(run: ProcessRun, workflow) -> None:
    run.workflow_state = bpmn.workflow_dump(workflow)
    if not _fenced(run).update(workflow_state=run.workflow_state, updated_at=timezone.now()):
        raise LeaseLost(str(run.uuid))


def _numbers_of(metrics: dict) -> dict:
    return {
        k: v for k, v in metrics.items()
        if k.isidentifier() and isinstance(v, int | float) and not isinstance(v, bool)
    }  # fmt: skip


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _step_fail(run: ProcessRun, workflow, step: RunStep, reason: str) -> None:
    _lease_renew(run)
    step.status = StepStatus.FAILED
    step.reason = reason
    step.finished_at = timezone.now()
    step.save()
    run.failed_step = step.bpmn_id
    run.reason = f"{step.name}: {reason}"
    _run_end(run, workflow, RunStatus.FAILED)


def _run_end(run: ProcessRun, workflow, status: str) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.workflow_state = bpmn.workflow_dump(workflow)
    fields = ["status", "finished_at", "workflow_state", "failed_step", "reason"]
    if not _fenced(run).update(updated_at=timezone.now(), **{f: getattr(run, f) for f in fields}):
        raise LeaseLost(str(run.uuid))


# --- The steps ------------------------------------------------------------------------------


def _step_do(run: ProcessRun, step: RunStep, config: dict, data: dict) -> bool:
    """Do STEP (again, after a crash: every branch is safe to repeat); True once it is done."""
    if step.status == StepStatus.DONE:
        return True
    kind = config.get("kind")
    if kind == "job":
        return _job_step(run, step, config)
    if kind == "gate" and config.get("compare_step"):
        return _compare_step(run, step, config)
    if kind == "gate" and config.get("decision"):
        return _decision_gate_step(run, step, config, data)
    if kind == "gate":
        return _gate_step(run, step, config)
    if kind == "promote":
        return _promote_step(run, step, config)
    if kind == "approval":
        return _approval_step(run, step)
    if kind == "notify":
        return _notify_step(run, step, config)
    raise StepFailed(f"unknown step kind {kind!r}")


def _model(run: ProcessRun) -> Model:
    model = Model.objects.filter(uuid=run.process.settings.get("model") or None).first()
    if model is None:
        raise StepFailed("the process's model no longer exists")
    return model


def _snapshot(run: ProcessRun, ref: str) -> Snapshot:
    if ref in ("model", "champion"):
        snapshot = model_job_snapshot(model=_model(run))
        if snapshot is None:
            raise StepFailed("the model has no snapshot")
        return snapshot
    if ref == "trigger":  # the new snapshot that started the run (manual: the newest)
        uuid = (run.trigger_data or {}).get("snapshot")
        snapshot = Snapshot.objects.filter(uuid=uuid, model=_model(run)).first() if uuid else None
        return snapshot or _model(run).latest_snapshot() or _snapshot(run, "model")
    if ref.startswith("step:"):
        earlier = run.steps.filter(bpmn_id=ref[5:], status=StepStatus.DONE).first()
        uuid = (earlier.output or {}).get("snapshot") if earlier else None
        snapshot = Snapshot.objects.filter(uuid=uuid).first() if uuid else None
        if snapshot is None:
            raise StepFailed(f"the step {ref[5:]!r} made no snapshot")
        return snapshot
    snapshot = Snapshot.objects.filter(uuid=ref).first()
    if snapshot is None:
        raise StepFailed(f"no snapshot {ref!r}")
    return snapshot


def _input(run: ProcessRun, spec: dict) -> InputSpec:
    if "upload" in spec:
        upload = Upload.objects.filter(uuid=spec["upload"]).first() if spec["upload"] else None
        if upload is None:
            raise StepFailed(f"the uploaded file {spec['upload']} no longer exists")
        return InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)
    if spec.get("trigger") == "location":  # the object a trigger found (new S3 or HDFS data)
        data = run.trigger_data or {}
        connection = Connection.objects.filter(pk=data.get("connection") or None).first()
        if not data.get("location") or connection is None:
            raise StepFailed("this run was not started by new data (its trigger named none)")
        kind = JobAsset.Kind.HDFS if connection.kind == Connection.Kind.HDFS else JobAsset.Kind.S3
        return InputSpec(kind=kind, connection=connection, location=data["location"])
    raise StepFailed(f"an input of the step is not understood: {spec!r}")


def step_job_key(run: ProcessRun, step: RunStep) -> str:
    """The idempotency key of STEP's job: the same after a crash, a new one for a retry."""
    key = f"process-run:{run.uuid}:{step.bpmn_id}"
    return key if step.attempt == 1 else f"{key}:{step.attempt}"


def _job_step(run: ProcessRun, step: RunStep, config: dict) -> bool:
    if step.job_id is None:
        process = run.process
        job = job_submit(
            user=process.owner,
            snapshot=_snapshot(run, config.get("snapshot") or "model"),
            job_type=config["job_type"],
            inputs=[_input(run, spec) for spec in config.get("inputs") or []],
            params=config.get("params") or None,
            idempotency_key=step_job_key(run, step),
        )
        step.job = job
        step.save(update_fields=["job", "updated_at"])
    job = step.job
    job.refresh_from_db()
    if not job.is_terminal:
        return False
    if job.status != JobStatus.COMPLETE or job.result == JobResult.FAILURE:
        why = job.error_message or job.get_result_display() or job.get_status_display()
        raise StepFailed(f"job {str(job.uuid)[:8]} ended {job.get_status_display()}: {why}")
    step.output = {"job": str(job.uuid)}
    if job.result_snapshot_id:
        step.output["snapshot"] = str(job.result_snapshot.uuid)
    else:
        step.output["snapshot"] = str(job.snapshot.uuid)
    return True


def _gate_step(run: ProcessRun, step: RunStep, config: dict) -> bool:
    rules = rules_parse(config.get("rules") or [])
    measured = run.steps.filter(bpmn_id=config.get("job_step") or "").first()
    if measured is None or measured.job is None:
        raise StepFailed(f"the step {config.get('job_step')!r} ran no job to read metrics from")
    step.job = measured.job
    step.verdict = gate_evaluate(rules=rules, metrics=measured.job.metrics)
    step.save(update_fields=["job", "verdict", "updated_at"])
    if not step.verdict["passed"]:
        raise StepFailed(step.verdict["failed"])
    step.output = {"passed": True, "snapshot": (measured.output or {}).get("snapshot")}
    return True


def _compare_step(run: ProcessRun, step: RunStep, config: dict) -> bool:
    """Champion/challenger: every key of the challenger's metrics at least the champion's plus
    the margin."""
    from processes.gates import metric_values

    steps = {
        s.bpmn_id: s
        for s in run.steps.filter(bpmn_id__in=[config["job_step"], config["compare_step"]])
    }
    challenger, champion = steps.get(config["job_step"]), steps.get(config["compare_step"])
    if not (challenger and challenger.job and champion and champion.job):
        raise StepFailed("the two metrics jobs to compare are not both there")
    margin = float(config.get("margin") or 0)
    rules, failed = [], ""
    for key in config.get("compare") or []:
        mine = metric_values(challenger.job.metrics, key)
        theirs = metric_values(champion.job.metrics, key)
        passed = bool(mine and theirs) and min(mine) >= max(theirs) + margin
        rules.append({"rule": f"challenger {key} >= champion {key} + {margin:g}", "key": key,
                      "values": mine + theirs, "passed": passed})  # fmt: skip
        if not passed and not failed:
            failed = (
                f"the challenger's {key} ({', '.join(f'{v:.4g}' for v in mine) or 'none'}) is "
                f"not at least the champion's ({', '.join(f'{v:.4g}' for v in theirs) or 'none'})"
                + (f" + {margin:g}" if margin else "")
            )
    step.job = challenger.job
    step.verdict = {"passed": not failed, "failed": failed, "rules": rules}
    step.save(update_fields=["job", "verdict", "updated_at"])
    if failed:
        raise StepFailed(failed)
    step.output = {"passed": True}
    return True


def _decision_gate_step(run: ProcessRun, step: RunStep, config: dict, data: dict) -> bool:
    """A gate whose verdict a DMN table before it gave: its outputs `passed` and `reason`."""
    if "passed" not in data:
        raise StepFailed("no decision table before this gate gave an output 'passed'")
    measured = run.steps.filter(bpmn_id=config.get("job_step") or "").first()
    read = _numbers_of(measured.job.metrics) if measured and measured.job else {}
    passed = data.get("passed") is True
    reason = str(data.get("reason") or "")
    step.job = measured.job if measured else None
    step.verdict = {
        "passed": passed, "failed": "" if passed else f"the decision table said no: {reason}",
        "decision": {"passed": passed, "reason": reason},
        "rules": [{"rule": f"{k} (read by the decision table)", "key": k, "values": [v],
                   "passed": passed} for k, v in read.items()],
    }  # fmt: skip
    step.save(update_fields=["job", "verdict", "updated_at"])
    if not passed:
        raise StepFailed(step.verdict["failed"])
    step.output = {"passed": True, "reason": reason}
    return True


def _promote_step(run: ProcessRun, step: RunStep, config: dict) -> bool:
    snapshot = _snapshot(run, config.get("snapshot") or "")
    promotion = snapshot_promote(
        snapshot=snapshot, user=None, source=Promotion.Source.PROCESS,
        reason=f"Process “{run.process.name}”, run {run.uuid}", process_run=run.uuid,
    )  # fmt: skip
    step.output = {"snapshot": str(snapshot.uuid), "version": snapshot.version,
                   "promotion": promotion.pk}  # fmt: skip
    return True


def _approval_step(run: ProcessRun, step: RunStep) -> bool:
    if step.status != StepStatus.WAITING:  # the first time: wait for a person
        with transaction.atomic():
            step.status = StepStatus.WAITING
            step.save(update_fields=["status", "updated_at"])
            ProcessRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.WAITING_APPROVAL
            )
        _approval_mail(run)
    return False


def _approval_mail(run: ProcessRun) -> None:
    """Tell the model's team (those with an address) that a run waits for them; a mail server
    away must not stop the run, which is shown on their pages anyway."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    team = run.process.team
    addresses = sorted(
        get_user_model().objects.filter(groups=team, is_active=True)
        .exclude(email="").values_list("email", flat=True)
    )  # fmt: skip
    if not addresses:
        return
    link = run.get_absolute_url()
    base = getattr(settings, "SITE_URL", "") or ""
    try:
        send_mail(
            f"[MLC process] {run.process.name}: run {str(run.uuid)[:8]} waits for an approval",
            f"The run waits for an approval by a member of {team.name}: {base}{link}",
            None, addresses,
        )  # fmt: skip
    except OSError as exc:
        logger.warning("the approval mail of %s was not sent: %s", run, exc)


def _notify_step(run: ProcessRun, step: RunStep, config: dict) -> bool:
    """Mail, then the webhook, each at most once: before sending, "sending" is written on the
    step under the run's lease, so a pass that takes the run over after this one outlived its
    lease (or died mid-send) finds it and sends nothing again. A send that may have arrived
    is not repeated: at most once, as a person reading two alerts would not want."""
    subject = f"[MLC process] {run.process.name}: run {str(run.uuid)[:8]}"
    body = "\n".join(
        f"{s.name}: {s.get_status_display()}" + (f" — {s.reason}" if s.reason else "")
        for s in run.steps.exclude(pk=step.pk)
    )
    if config.get("email") and _send_begin(run, step, "email"):
        try:
            send_mail(subject, body, None, list(config["email"]))
        except OSError as exc:  # smtplib's errors too: nothing was sent
            _send_end(run, step, "email", sent=False)
            raise StepFailed(
                f"the mail to {', '.join(config['email'])} was not sent: {exc}"
            ) from exc
        _send_end(run, step, "email", sent=True)
    if config.get("webhook") and _send_begin(run, step, "webhook"):
        data = json.dumps({"process": str(run.process.uuid), "run": str(run.uuid),
                           "subject": subject, "text": body}).encode()  # fmt: skip
        try:
            webhook_post(str(config["webhook"]), data)
        except WebhookRefused as exc:
            _send_end(run, step, "webhook", sent=False)
            raise StepFailed(str(exc)) from None
        _send_end(run, step, "webhook", sent=True)
    step.refresh_from_db(fields=["output"])
    return True


SENDING, SENT = "sending", "sent"


@transaction.atomic
def _send_begin(run: ProcessRun, step: RunStep, channel: str) -> bool:
    """True when this pass is to send on CHANNEL: not sent nor being sent, and the run's lease
    still this pass's (LeaseLost otherwise); "sending" is then on the step."""
    if not _fenced(run).select_for_update().exists():
        raise LeaseLost(str(run.uuid))
    row = RunStep.objects.select_for_update().get(pk=step.pk)
    output = dict(row.output or {})
    state = output.get(channel)
    if state in (True, SENT):
        return False
    if state == SENDING:  # an earlier pass began and never said how it ended
        output[channel] = SENT
        output[f"{channel}_note"] = (
            "an earlier pass was sending when it stopped; not sent again (it may have arrived)"
        )
        RunStep.objects.filter(pk=step.pk).update(output=output, updated_at=timezone.now())
        return False
    output[channel] = SENDING
    output[f"{channel}_at"] = timezone.now().isoformat()
    RunStep.objects.filter(pk=step.pk).update(output=output, updated_at=timezone.now())
    return True


@transaction.atomic
def _send_end(run: ProcessRun, step: RunStep, channel: str, *, sent: bool) -> None:
    if not _fenced(run).select_for_update().exists():
        raise LeaseLost(str(run.uuid))  # the pass that took over has said what it found
    row = RunStep.objects.select_for_update().get(pk=step.pk)
    output = dict(row.output or {})
    if sent:
        output[channel] = SENT
    else:
        output.pop(channel, None)
    RunStep.objects.filter(pk=step.pk).update(output=output, updated_at=timezone.now())
