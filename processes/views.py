from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from models_registry.selectors import model_list
from processes import bpmn
from processes.forms import (
    BpmnImportForm,
    ChampionChallengerForm,
    RetrainPromoteForm,
    ScheduledScoringForm,
    TriggerForm,
)
from processes.models import Process, ProcessRun, Template, Trigger
from processes.selectors import process_list, run_list, runs_waiting_approval
from processes.services import (
    process_create_bpmn,
    process_create_from_template,
    process_create_retrain,
    process_may_change,
    process_model,
    run_approve,
    run_retry,
    run_start,
    trigger_create,
    trigger_delete,
    trigger_update,
)


def _get_process_for_user(request: HttpRequest, process_uuid) -> Process:
    process = process_list(user=request.user).filter(uuid=process_uuid).first()
    if process is None:
        raise Http404("No such process.")
    return process


def _get_run_for_user(request: HttpRequest, run_uuid) -> ProcessRun:
    run = run_list(user=request.user).filter(uuid=run_uuid).first()
    if run is None:
        raise Http404("No such run.")
    return run


def _messages_of(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@login_required
def process_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "processes/process_list.html", {
        "processes": process_list(user=request.user).prefetch_related("triggers"),
        "waiting": runs_waiting_approval(user=request.user),
    })  # fmt: skip


FORMS = {
    Template.RETRAIN_PROMOTE: RetrainPromoteForm,
    Template.SCHEDULED_SCORING: ScheduledScoringForm,
    Template.CHAMPION_CHALLENGER: ChampionChallengerForm,
}


@login_required
def process_create_view(request: HttpRequest) -> HttpResponse:
    template = request.GET.get("template") or Template.RETRAIN_PROMOTE
    if template not in FORMS:
        template = Template.RETRAIN_PROMOTE
    form = FORMS[template](request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        name = values.pop("name")
        try:
            if template == Template.RETRAIN_PROMOTE:
                process = process_create_retrain(user=request.user, name=name, values=values)
            else:
                process = process_create_from_template(
                    user=request.user, name=name, template=template, values=values,
                    cron=values.pop("cron", ""),
                )  # fmt: skip
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, _messages_of(exc))
        else:
            messages.success(request, "Process created.")
            return redirect(process)
    return render(request, "processes/process_create.html", {
        "form": form, "template": template, "label": Template(template).label,
        "templates": [(t, Template(t).label) for t in FORMS],
    })  # fmt: skip


@login_required
def process_detail_view(
    request: HttpRequest, process_uuid, *, trigger_form=None, status: int = 200
) -> HttpResponse:
    process = _get_process_for_user(request, process_uuid)
    may_change = process_may_change(user=request.user, process=process)
    if may_change and trigger_form is None:
        trigger_form = TriggerForm(user=request.user, initial={"kind": Trigger.Kind.SCHEDULE})
    try:
        steps = bpmn.steps_in_order(process.bpmn_xml, process.dmn_xml)
    except ValidationError as exc:
        steps, error = [], _messages_of(exc)
    else:
        error = ""
    configs = (process.settings or {}).get("steps") or {}
    return render(request, "processes/process_detail.html", {
        "process": process,
        "model": process_model(process),
        "steps": [(i, name, configs.get(i, {})) for i, name in steps],
        "definition_error": error,
        "triggers": process.triggers.select_related("connection").order_by("created_at", "id"),
        "runs": process.runs.all()[:50],
        "may_change": may_change,
        "trigger_form": trigger_form if may_change else None,
    }, status=status)  # fmt: skip


def _form_errors(form, exc: Exception) -> None:
    """Put a service's ValidationError (by field, or not) or PermissionDenied on FORM."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, _messages_of(exc))


def _trigger_values(form) -> dict:
    return {k: form.cleaned_data.get(k) for k in TRIGGER_FORM_FIELDS}


TRIGGER_FORM_FIELDS = ("kind", "cron", "connection", "location", "query", "job_type", "enabled")


def _get_trigger(process: Process, trigger_uuid) -> Trigger:
    trigger = process.triggers.filter(uuid=trigger_uuid).first()
    if trigger is None:
        raise Http404("No such trigger.")
    return trigger


@login_required
@require_POST
def trigger_add_view(request: HttpRequest, process_uuid) -> HttpResponse:
    process = _get_process_for_user(request, process_uuid)
    if not process_may_change(user=request.user, process=process):
        raise PermissionDenied
    form = TriggerForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            trigger_create(process=process, user=request.user, values=_trigger_values(form))
        except (ValidationError, PermissionDenied) as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Trigger added.")
            return redirect(process)
    return process_detail_view(request, process_uuid, trigger_form=form, status=400)


@login_required
def trigger_edit_view(request: HttpRequest, process_uuid, trigger_uuid) -> HttpResponse:
    process = _get_process_for_user(request, process_uuid)
    if not process_may_change(user=request.user, process=process):
        raise PermissionDenied
    trigger = _get_trigger(process, trigger_uuid)
    initial = {k: getattr(trigger, k) for k in TRIGGER_FORM_FIELDS}
    form = TriggerForm(request.POST or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                trigger_update(trigger=trigger, user=request.user, values=_trigger_values(form))
            except (ValidationError, PermissionDenied) as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, "Trigger saved.")
                return redirect(process)
        status = 400
    return render(request, "processes/trigger_edit.html", {
        "process": process, "trigger": trigger, "form": form,
    }, status=status)  # fmt: skip


@login_required
@require_POST
def trigger_delete_view(request: HttpRequest, process_uuid, trigger_uuid) -> HttpResponse:
    process = _get_process_for_user(request, process_uuid)
    trigger = _get_trigger(process, trigger_uuid)
    trigger_delete(trigger=trigger, user=request.user)  # PermissionDenied: a 403
    messages.success(request, "Trigger removed.")
    return redirect(process)


@login_required
@require_POST
def process_run_view(request: HttpRequest, process_uuid) -> HttpResponse:
    process = _get_process_for_user(request, process_uuid)
    if not process_may_change(user=request.user, process=process):
        raise PermissionDenied
    try:
        run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=request.user)
    except ValidationError as exc:
        messages.error(request, _messages_of(exc))
        return redirect(process)
    messages.success(request, "Run started.")
    return redirect(run)


@login_required
def run_detail_view(request: HttpRequest, run_uuid) -> HttpResponse:
    run = _get_run_for_user(request, run_uuid)
    context = {
        "run": run,
        "steps": run.steps.select_related("job", "approver"),
        "may_approve": run.status == "WAITING_APPROVAL"
        and process_may_change(user=request.user, process=run.process),
        "may_retry": run.status == "FAILED"
        and bool(run.failed_step)
        and process_may_change(user=request.user, process=run.process),
    }
    if request.htmx:
        response = render(request, "processes/run_detail.html#run-steps", context)
        if run.is_terminal:
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "processes/run_detail.html", context)


def _run_action(request: HttpRequest, run_uuid, action, *, denied: str, done: str):
    """A POST on a run (approve, retry): ACTION's refusal or DONE as a message, then the run."""
    run = _get_run_for_user(request, run_uuid)
    try:
        action(run=run, user=request.user)
    except PermissionDenied:
        messages.error(request, denied)
    except ValidationError as exc:
        messages.error(request, _messages_of(exc))
    else:
        messages.success(request, done)
    return redirect(run)


@login_required
@require_POST
def run_approve_view(request: HttpRequest, run_uuid) -> HttpResponse:
    return _run_action(request, run_uuid, run_approve,
                       denied="You may not approve runs of this process.",
                       done="Approved; the run goes on.")  # fmt: skip


@login_required
@require_POST
def run_retry_view(request: HttpRequest, run_uuid) -> HttpResponse:
    return _run_action(request, run_uuid, run_retry,
                       denied="You may not retry runs of this process.",
                       done="The run starts again from its failed step.")  # fmt: skip


@login_required
def process_import_view(request: HttpRequest) -> HttpResponse:
    form = BpmnImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        model = model_list(user=request.user).filter(uuid=data["model"]).first()
        try:
            if model is None:
                raise ValidationError("Choose a model you may see.")
            process = process_create_bpmn(
                user=request.user, name=data["name"], model=model, xml=data["bpmn"],
                dmn=data["dmn"], steps=data["steps"],
            )  # fmt: skip
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, _messages_of(exc))
        else:
            messages.success(request, "Process imported.")
            return redirect(process)
    return render(request, "processes/process_import.html", {"form": form})
