"""The create-a-batch-job wizard: one URL per step, answers in the session (jobs.wizard).

Without JavaScript each step is a plain POST → redirect → GET. With htmx the wizard region
is a partial: a step's form posts with hx-post, and the answer is the next step's partial
with its URL pushed, so Back/Forward and reloads land on real pages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, push_url

from commandcenter.lib.uploads import input_file_limits, upload_limits, upload_refusals
from jobs.forms import (
    ATTACHMENT,
    InputAddForm,
    JobTypeStepForm,
    ModelStepForm,
    OutputStepForm,
    RejectOptionsForm,
    RuntimeStepForm,
    SchemaStepForm,
    SnapshotStepForm,
)
from jobs.models import Job, JobAsset, Upload
from jobs.selectors import runtime_health
from jobs.services import EXTERNAL_KINDS, job_submit, upload_create
from jobs.services.assets import JOB_MAX_INPUTS
from jobs.services.placement import runtime_fit_check, runtime_tags_missing
from jobs.views._common import get_job_for_user, wants_partial
from jobs.views._external import external_sizes, kind_groups, location_check
from jobs.views.dry_runs import dry_run_context, dry_run_for_review
from jobs.wizard import AUTO_RUNTIME, STEP_BY_SLUG, Wizard
from models_registry.selectors import model_list, snapshot_list

logger = logging.getLogger(__name__)

TEMPLATE = "jobs/wizard.html"


# A step's GET builds its page context; its POST returns a context (stay, show errors),
# None (answer saved: go on) or a response (the job was created).
StepGet = Callable[[HttpRequest, Wizard], dict]
StepPost = Callable[[HttpRequest, Wizard], dict | HttpResponse | None]


def _step_url(slug: str) -> str:
    return reverse("jobs-wizard-step", args=[slug])


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Http404("Not a valid id.") from exc


# --- Steps ----------------------------------------------------------------------------------


def _model_choices(request: HttpRequest, queryset) -> tuple[str, object]:
    """The models to offer, narrowed by ?q= (name, description or team), each with what
    tells models of the same name apart: its team, newest version and last job."""
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:100]  # PostgreSQL: no NUL
    if query:
        queryset = queryset.filter(
            Q(name__icontains=query) | Q(description__icontains=query)
            | Q(team__name__icontains=query)
        )  # fmt: skip
    last = Job.objects.filter(snapshot__model=OuterRef("pk")).order_by("-created_at")
    queryset = queryset.select_related("team").annotate(
        last_job_at=Subquery(last.values("created_at")[:1]),
        last_job_status=Subquery(last.values("status")[:1]),
    )
    return query, queryset.order_by("name", "team__name")


def _model_get(request: HttpRequest, wizard: Wizard, form: ModelStepForm | None = None) -> dict:
    if form is None:
        form = ModelStepForm(user=request.user)
        choices = list(form.fields["model"].queryset.order_by("name")[:2])
        # A person with a single model should not have to pick it.
        only = str(choices[0].uuid) if len(choices) == 1 else None
        form.initial = {"model": wizard.answer("model") or only}
    query, choices = _model_choices(request, form.fields["model"].queryset)
    choices = list(choices[:200])
    names = [model.name.casefold() for model in choices]
    for model in choices:
        model.same_name = names.count(model.name.casefold()) > 1
    return {"form": form, "choices": choices, "query": query}


def _model_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = ModelStepForm(request.POST, user=request.user)
    if not form.is_valid():
        return _model_get(request, wizard, form)
    wizard.save("model", str(form.cleaned_data["model"].uuid))
    return None


def _snapshot_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    if form is None:
        latest = wizard.model.latest_snapshot()
        initial = wizard.answer("snapshot") or (str(latest.uuid) if latest else None)
        form = SnapshotStepForm(
            user=request.user, model=wizard.model, initial={"snapshot": initial}
        )
    choices = form.fields["snapshot"].queryset.order_by("-version")
    return {"form": form, "choices": choices}


def _snapshot_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = SnapshotStepForm(request.POST, user=request.user, model=wizard.model)
    if not form.is_valid():
        return _snapshot_get(request, wizard, form)
    wizard.save("snapshot", str(form.cleaned_data["snapshot"].uuid))
    return None


def _runtime_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    form = form or RuntimeStepForm(initial={"runtime": wizard.answer("runtime", AUTO_RUNTIME)})
    snapshot = wizard.snapshot
    rows = [
        (runtime, runtime_health(runtime), runtime_tags_missing(runtime=runtime, snapshot=snapshot))
        for runtime in form.runtimes
    ]
    return {"form": form, "runtimes": rows, "auto": AUTO_RUNTIME}


def _runtime_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = RuntimeStepForm(request.POST)
    if not form.is_valid():
        return _runtime_get(request, wizard, form)
    choice = form.cleaned_data["runtime"]
    chosen = next((r for r in form.runtimes if str(r.uuid) == choice), None)
    if chosen is not None:
        try:
            runtime_fit_check(runtime=chosen, snapshot=wizard.snapshot)
        except ValidationError as exc:
            form.add_error("runtime", exc.message_dict["runtime"])
            return _runtime_get(request, wizard, form)
    wizard.save("runtime", choice)
    return None


def _type_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    if form is None:
        form = JobTypeStepForm(snapshot=wizard.snapshot)
        available = [value for value, _, reason in form.availability if not reason]
        initial = wizard.answer("type") or (available[0] if available else None)
        form.initial = {"job_type": initial, "evaluator": wizard.answer("evaluator", False)}
    has_metrics = "metrics" in wizard.snapshot.tags_parsed.functions
    return {"form": form, "availability": form.availability, "has_metrics": has_metrics}


def _type_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = JobTypeStepForm(request.POST, snapshot=wizard.snapshot)
    if not form.is_valid():
        return _type_get(request, wizard, form)
    wizard.save("type", form.cleaned_data["job_type"])
    wizard.save("evaluator", form.cleaned_data["evaluator"])
    return None


def _schemas_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    if form is None:
        snapshot = wizard.snapshot
        names = set(snapshot.schema_names())
        tags = snapshot.tags_parsed
        # Default to the schemas the source's header tags name, when they are attached.
        saved = wizard.answer("schemas") or {
            "input": tags.input_schema if tags.input_schema in names else "",
            "output": tags.output_schema if tags.output_schema in names else "",
        }
        form = SchemaStepForm(
            snapshot=snapshot,
            initial={
                "input_schema": saved.get("input", ""),
                "output_schema": saved.get("output", ""),
                "check_input": saved.get("check_input", False),
                "check_output": saved.get("check_output", False),
            },
        )
    return {"form": form, "tags": wizard.snapshot.tags_parsed}


def _schemas_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = SchemaStepForm(request.POST, snapshot=wizard.snapshot)
    if not form.is_valid():
        return _schemas_get(request, wizard, form)
    data = form.cleaned_data
    wizard.save(
        "schemas",
        {
            "input": data["input_schema"],
            "output": data["output_schema"],
            "check_input": data["check_input"],
            "check_output": data["check_output"],
        },
    )
    return None


def _embedded_format(data: str) -> str:
    """Pasted data's format when "automatic": JSON array, JSON lines or CSV by its first char."""
    first = data.lstrip()[:1]
    return {"[": "json", "{": "jsonl"}.get(first, "csv")


def _session_bound(form, answers: list[dict], kind: str, data: str) -> bool:
    """Whether one more input fits what the wizard keeps in the session until the job is
    submitted (the session is read on every request): at most JOB_MAX_INPUTS inputs, and
    pasted data of all of them together at most EMBEDDED_INPUT_MAX_BYTES. If not, FORM says
    why."""
    if len(answers) >= JOB_MAX_INPUTS:
        form.add_error(None, f"A job has at most {JOB_MAX_INPUTS} inputs; remove one first.")
        return False
    if kind != JobAsset.Kind.EMBEDDED:
        return True
    limit = settings.EMBEDDED_INPUT_MAX_BYTES
    pasted = len(data.encode()) + sum(
        len(a.get("data", "").encode()) for a in answers if a["kind"] == JobAsset.Kind.EMBEDDED
    )
    if pasted > limit:
        form.add_error(
            "data",
            f"Pasted data of this job's inputs would be {pasted:,} bytes together; the limit "
            f"is {limit:,} (EMBEDDED_INPUT_MAX_BYTES). Upload it as a file instead.",
        )
        return False
    return True


def _inputs_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    form = form or InputAddForm(user=request.user, snapshot=wizard.snapshot)
    return {"form": form, "inputs": wizard.inputs, **kind_groups(form)}


def _inputs_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    answers = list(wizard.answer("inputs") or [])
    action = request.POST.get("action", "next")
    if action == "remove":
        remaining = [a for a in answers if a["id"] != request.POST.get("input")]
        wizard.save("inputs", remaining)
        return _inputs_get(request, wizard)

    form = InputAddForm(request.POST, request.FILES, user=request.user, snapshot=wizard.snapshot)
    if refusals := upload_refusals(request):  # a file too large was dropped while it streamed
        for field, message in refusals:
            form.add_error(field if field in form.fields else None, message)
        return _inputs_get(request, wizard, form)
    if not form.is_valid():
        return _inputs_get(request, wizard, form)
    data = form.cleaned_data
    kind = data["kind"]
    if kind and not _session_bound(form, answers, kind, data.get("data") or ""):
        return _inputs_get(request, wizard, form)
    if kind == JobAsset.Kind.UPLOAD:
        try:
            upload = upload_create(owner=request.user, content=data["file"])
        except ValidationError as exc:
            form.add_error("file", exc)
            return _inputs_get(request, wizard, form)
        answers.append(
            {
                "id": uuid.uuid4().hex,
                "kind": JobAsset.Kind.UPLOAD,
                "upload": str(upload.uuid),
                "format": data["format"],
                "role": data["role"],
            }
        )
    elif kind == ATTACHMENT:
        attachment = data["attachment"]
        # The snapshot's stored file, named by an upload of this user (as a re-run's inputs
        # are): nothing is copied, and the upload sweep leaves attachments' files alone.
        upload = Upload.objects.create(
            owner=request.user, name=attachment.name, file=attachment.file.name,
            size=attachment.size,
        )  # fmt: skip
        answers.append(
            {
                "id": uuid.uuid4().hex,
                "kind": JobAsset.Kind.UPLOAD,
                "upload": str(upload.uuid),
                "format": data["format"],
                "role": data["role"],
                "attachment": attachment.name,
            }
        )
    elif kind == JobAsset.Kind.EMBEDDED:
        answers.append(
            {
                "id": uuid.uuid4().hex,
                "kind": JobAsset.Kind.EMBEDDED,
                "data": data["data"],
                "format": data["format"] or _embedded_format(data["data"]),
                "name": "",
                "role": data["role"],
            }
        )
    elif kind in EXTERNAL_KINDS:
        connection = data["connection"]
        cleaned = location_check(
            form, kind=kind, connection=connection, where=data["where"],
            direction=JobAsset.Direction.INPUT,
        )  # fmt: skip
        if cleaned is None:
            return _inputs_get(request, wizard, form)
        is_query = kind == JobAsset.Kind.SQL
        answers.append(
            {
                "id": uuid.uuid4().hex,
                "kind": kind,
                "connection": str(connection.uuid),
                "location": "" if is_query else cleaned,
                "query": cleaned if is_query else "",
                "format": data["format"],
                "role": data["role"],
            }
        )
    wizard.save("inputs", answers)

    if action == "next":
        if wizard.inputs:
            return None
        form.add_error(None, "Add at least one input: upload a file, paste data or name one.")
        return _inputs_get(request, wizard, form)
    return _inputs_get(request, wizard)  # "add": show the list with the new input


def _output_get(request: HttpRequest, wizard: Wizard, form=None) -> dict:
    if form is None:
        saved = dict(wizard.answer("output") or {"kind": JobAsset.Kind.EMBEDDED})
        kind = saved.get("kind")
        if kind in EXTERNAL_KINDS:
            saved[f"{kind}_connection"] = saved.get("connection")
            saved["sql_table" if kind == JobAsset.Kind.SQL else f"{kind}_location"] = saved.get(
                "location", ""
            )
        form = OutputStepForm(user=request.user, initial=saved)
    return {"form": form, **kind_groups(form)}


def _output_post(request: HttpRequest, wizard: Wizard) -> dict | None:
    form = OutputStepForm(request.POST, user=request.user)
    if not form.is_valid():
        return _output_get(request, wizard, form)
    data = form.cleaned_data
    kind = data["kind"]
    answer = {"kind": kind, "name": data["name"], "format": data["format"]}
    if kind in EXTERNAL_KINDS:
        cleaned = location_check(
            form, kind=kind, connection=data["connection"], where=data["where"],
            direction=JobAsset.Direction.OUTPUT,
        )  # fmt: skip
        if cleaned is None:
            return _output_get(request, wizard, form)
        answer.update(
            connection=str(data["connection"].uuid), location=cleaned,
            write_mode=data["write_mode"],
        )  # fmt: skip
    wizard.save("output", answer)
    return None


def _review_get(
    request: HttpRequest,
    wizard: Wizard,
    errors: list[str] | None = None,
    form: RejectOptionsForm | None = None,
) -> dict:
    inputs = [dict(item) for item in wizard.inputs]
    external_sizes(inputs)
    return {
        **dry_run_context(dry_run_for_review(request)),
        "review": wizard.review(),
        "inputs": inputs,
        "errors": errors or [],
        "form": form or RejectOptionsForm(initial=wizard.answer("rejects")),
    }


def _review_post(request: HttpRequest, wizard: Wizard) -> dict | HttpResponse:
    form = RejectOptionsForm(request.POST)
    if not form.is_valid():
        return _review_get(request, wizard, form=form)
    try:
        job = job_submit(user=request.user, **wizard.submit_kwargs(), **form.submit_kwargs())
    except ValidationError as exc:
        return _review_get(request, wizard, exc.messages, form=form)
    except ImportError as exc:  # an external kind whose module this installation lacks
        logger.warning("job_submit could not load an asset kind: %s", exc)
        return _review_get(
            request, wizard, ["One of the asset kinds is not supported yet."], form=form
        )
    wizard.reset()
    messages.success(request, "Job submitted.")
    if request.htmx:
        # The job page is a whole page, not a wizard region: have htmx navigate to it.
        return HttpResponseClientRedirect(job.get_absolute_url())
    return redirect(job)


HANDLERS: dict[str, tuple[StepGet, StepPost]] = {
    "model": (_model_get, _model_post),
    "snapshot": (_snapshot_get, _snapshot_post),
    "runtime": (_runtime_get, _runtime_post),
    "type": (_type_get, _type_post),
    "schemas": (_schemas_get, _schemas_post),
    "inputs": (_inputs_get, _inputs_post),
    "output": (_output_get, _output_post),
    "review": (_review_get, _review_post),
}


# --- Rendering ------------------------------------------------------------------------------


def _indicator(wizard: Wizard, current: str) -> list[dict]:
    """The job's steps, each done / current / to do; a step is a link once it is reachable."""
    steps = wizard.steps()
    slugs = [step.slug for step in steps]
    current_index = slugs.index(current) if current in slugs else 0
    missing = wizard.first_missing()
    missing_index = slugs.index(missing) if missing in slugs else len(slugs) - 1
    rows = []
    for index, step in enumerate(steps):
        if index == current_index:
            state = "current"
        elif step.slug != "review" and wizard.is_answered(step.slug):
            state = "done"
        else:
            state = "todo"
        reachable = index <= missing_index and index != current_index
        rows.append(
            {"step": step, "state": state, "url": _step_url(step.slug) if reachable else ""}
        )
    return rows


def _neighbour(wizard: Wizard, slug: str, offset: int) -> str | None:
    """The step before (-1) or after (+1) SLUG among this job's steps."""
    slugs = [step.slug for step in wizard.steps()]
    index = slugs.index(slug) + offset if slug in slugs else -1
    return slugs[index] if 0 <= index < len(slugs) else None


def _render_step(request: HttpRequest, wizard: Wizard, slug: str, context: dict) -> HttpResponse:
    numbered = {step.slug: step for step in wizard.steps()}
    step = numbered.get(slug, STEP_BY_SLUG[slug])
    back = _neighbour(wizard, slug, -1)
    full_context = {
        "step": step,
        "steps": _indicator(wizard, slug),
        "step_url": _step_url(slug),
        "back_url": _step_url(back) if back else "",
        "step_template": f"jobs/wizard/{slug}.html",
        "wizard": wizard,
        **context,
    }
    template = f"{TEMPLATE}#wizard" if wants_partial(request) else TEMPLATE
    return render(request, template, full_context)


def _go_to(request: HttpRequest, wizard: Wizard, slug: str) -> HttpResponse:
    """Show step SLUG: htmx gets its partial right away (and its URL pushed), a plain
    browser a redirect, so that a reload never re-posts the form."""
    if wants_partial(request):
        get, _ = HANDLERS[slug]
        return push_url(_render_step(request, wizard, slug, get(request, wizard)), _step_url(slug))
    return redirect(_step_url(slug))


# --- Views ----------------------------------------------------------------------------------


@login_required
@require_GET
def wizard_start_view(request: HttpRequest) -> HttpResponse:
    """Step 2, "Create a new batch job": a fresh wizard, optionally with the model or snapshot
    preselected (?model=<uuid>, ?snapshot=<uuid>) from the model pages."""
    wizard = Wizard(request.session, request.user)
    wizard.reset()
    if snapshot_id := request.GET.get("snapshot"):
        queryset = snapshot_list(user=request.user)
        snapshot = get_object_or_404(queryset, uuid=_uuid_or_404(snapshot_id))
        wizard.save("model", str(snapshot.model.uuid))
        wizard.save("snapshot", str(snapshot.uuid))
    elif model_id := request.GET.get("model"):
        model = get_object_or_404(model_list(user=request.user), uuid=_uuid_or_404(model_id))
        wizard.save("model", str(model.uuid))
    return redirect(_step_url(wizard.first_missing() or "review"))


@login_required
@require_POST
def wizard_from_job_view(request: HttpRequest, job_uuid: uuid.UUID) -> HttpResponse:
    """ "Edit and run": the wizard with JOB's choices, at its review step (or at the first
    choice that no longer holds, e.g. a connection this user may no longer use)."""
    job = get_job_for_user(request, job_uuid)
    wizard = Wizard(request.session, request.user)
    wizard.prefill(job)
    missing = wizard.first_missing()
    if missing:
        messages.info(request, f"Choose again: {STEP_BY_SLUG[missing].title.lower()}.")
    else:
        messages.info(request, "The choices of the job, ready to change and run.")
    return redirect(_step_url(missing or "review"))


@upload_limits(input_file_limits)
@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def wizard_step_view(request: HttpRequest, step: str) -> HttpResponse:
    if step not in HANDLERS:
        raise Http404("No such step.")
    wizard = Wizard(request.session, request.user)
    missing = wizard.first_missing(before=step)
    if missing:
        if request.method == "POST" or not wants_partial(request):
            messages.info(request, f"First choose: {STEP_BY_SLUG[missing].title.lower()}.")
        return _go_to(request, wizard, missing)

    if step == "output" and wizard.is_training:  # the new snapshot is a training job's output
        return _go_to(request, wizard, "review")
    get, post = HANDLERS[step]
    if request.method == "GET":
        return _render_step(request, wizard, step, get(request, wizard))

    result = post(request, wizard)
    if isinstance(result, HttpResponse):
        return result
    if isinstance(result, dict):
        return _render_step(request, wizard, step, result)
    following = _neighbour(wizard, step, +1) or "review"
    return _go_to(request, wizard, wizard.first_missing(before=following) or following)
