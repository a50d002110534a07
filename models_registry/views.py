from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from commandcenter.lib.uploads import attachment_limits, upload_limits, upload_refusals
from jobs.selectors import job_list
from models_registry import services
from models_registry.forms import ModelRegisterForm, PromoteForm, SnapshotForm
from models_registry.models import Model, Promotion, Snapshot
from models_registry.selectors import model_list, snapshot_list, user_teams
from models_registry.snapshot_metrics import chart_keys, snapshot_key_metrics, versions_chart

PROMOTIONS_SHOWN = 50


def _get_model_for_user(request: HttpRequest, model_uuid: UUID) -> Model:
    """The model, or 404 when it does not exist or belongs to a team the user is not in."""
    return get_object_or_404(model_list(user=request.user), uuid=model_uuid)


def _get_snapshot_for_user(request: HttpRequest, snapshot_uuid: UUID) -> Snapshot:
    return get_object_or_404(snapshot_list(user=request.user), uuid=snapshot_uuid)


def _errors_to_form(form, exc: ValidationError) -> None:
    """Put a service's refusal on the form as a non-field error: never a 500."""
    for message in exc.messages:
        form.add_error(None, message)


def _valid_with_every_file(request: HttpRequest, form) -> bool:
    """form.is_valid(), and no file was dropped while it streamed in for being too large (a
    model must not be registered without an attachment it was given)."""
    valid = form.is_valid()
    refusals = upload_refusals(request)
    for field, message in refusals:
        form.add_error(field if field in form.fields else None, message)
    return valid and not refusals


@login_required
@require_GET
def model_list_view(request: HttpRequest) -> HttpResponse:
    models = model_list(user=request.user).select_related("champion").order_by("name")
    return render(request, "models_registry/model_list.html", {"models": models})


@upload_limits(attachment_limits)
@login_required
@require_http_methods(["GET", "POST"])
def model_create_view(request: HttpRequest) -> HttpResponse:
    has_team = user_teams(user=request.user).exists()
    form = ModelRegisterForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and has_team and _valid_with_every_file(request, form):
        data = form.cleaned_data
        try:
            model = services.model_create(
                owner=request.user,
                team=data["team"],
                name=data["name"],
                description=data["description"],
                tags=data["tags"],
                source_name=data["source"].name,
                source=form.source_text,
                attachments=data["attachments"],
                notes=data["notes"],
                runtime_tags=data["runtime_tags"],
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Model “{model.name}” registered as version 1.")
            return redirect(model)
    return render(
        request, "models_registry/model_create.html", {"form": form, "has_team": has_team}
    )


def _model_detail(request: HttpRequest, model: Model, form: SnapshotForm) -> HttpResponse:
    snapshots = list(
        model.snapshots.select_related("created_by")
        .annotate(job_count=Count("jobs"))
        .order_by("-version")
    )
    key_metrics = snapshot_key_metrics(snapshots=snapshots)
    keys = chart_keys(key_metrics)
    for snapshot in snapshots:
        measured = key_metrics.get(snapshot.pk)
        snapshot.key_metrics = measured.shown(keys) if measured else []
        snapshot.metrics_job = measured.job if measured else None
    promotions = model.promotions.select_related("snapshot", "previous", "promoted_by")
    jobs = job_list(user=request.user, filters={"model": model.uuid})[:10]
    context = {
        "model": model,
        "snapshots": snapshots,
        "form": form,
        "jobs": jobs,
        "may_change": services.model_may_change(user=request.user, model=model),
        "promote_form": PromoteForm(),
        "promotions": promotions[:PROMOTIONS_SHOWN],
        "promotions_total": promotions.count(),
        "versions_chart": versions_chart(snapshots, key_metrics, keys),
    }
    return render(request, "models_registry/model_detail.html", context)


@login_required
@require_GET
def model_detail_view(request: HttpRequest, model_uuid: UUID) -> HttpResponse:
    model = _get_model_for_user(request, model_uuid)
    latest = model.latest_snapshot()
    initial = {"runtime_tags": ", ".join(latest.runtime_tags)} if latest else {}
    return _model_detail(request, model, SnapshotForm(initial=initial))


@upload_limits(attachment_limits)
@login_required
@require_POST
def snapshot_create_view(request: HttpRequest, model_uuid: UUID) -> HttpResponse:
    model = _get_model_for_user(request, model_uuid)
    form = SnapshotForm(request.POST, request.FILES)
    if _valid_with_every_file(request, form):
        data = form.cleaned_data
        try:
            snapshot = services.snapshot_add_version(
                model=model,
                created_by=request.user,
                source_name=data["source"].name,
                source=form.source_text,
                uploads=data["attachments"],
                keep_attachments=data["keep_attachments"],
                notes=data["notes"],
                runtime_tags=data["runtime_tags"],
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Snapshot version {snapshot.version} created.")
            return redirect(snapshot)
    return _model_detail(request, model, form)


@login_required
@require_POST
def snapshot_promote_view(request: HttpRequest, snapshot_uuid: UUID) -> HttpResponse:
    """Make the snapshot its model's champion (the model page's Promote button)."""
    snapshot = _get_snapshot_for_user(request, snapshot_uuid)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        for message in (m for errors in form.errors.values() for m in errors):
            messages.error(request, message)
        return redirect(snapshot.model)
    try:
        services.snapshot_promote(
            snapshot=snapshot,
            user=request.user,
            source=Promotion.Source.PAGE,
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"Version {snapshot.version} is now the champion.")
    return redirect(snapshot.model)


@login_required
@require_GET
def snapshot_detail_view(request: HttpRequest, snapshot_uuid: UUID) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, snapshot_uuid)
    tags = snapshot.tags_parsed
    functions = [
        (kind, tags.functions[kind])
        for kind in ("init", "score", "metrics", "train")
        if kind in tags.functions
    ]
    context = {
        "snapshot": snapshot,
        "model": snapshot.model,
        "tags": tags,
        "functions": functions,
        "attachments": snapshot.attachments.all(),
        "children": snapshot.children.order_by("version"),
        "jobs": job_list(user=request.user).filter(snapshot=snapshot)[:20],
    }
    return render(request, "models_registry/snapshot_detail.html", context)


@login_required
@require_GET
def attachment_download_view(request: HttpRequest, snapshot_uuid: UUID, name: str) -> FileResponse:
    snapshot = _get_snapshot_for_user(request, snapshot_uuid)
    if "\x00" in name:  # PostgreSQL cannot even compare a NUL: no attachment has one
        raise Http404("No such attachment.")
    attachment = get_object_or_404(snapshot.attachments, name=name)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The attachment's file is missing from storage.") from exc
    return FileResponse(handle, as_attachment=True, filename=attachment.name)


@login_required
@require_GET
def snapshot_source_view(request: HttpRequest, snapshot_uuid: UUID) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, snapshot_uuid)
    response = HttpResponse(snapshot.source, content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, snapshot.source_name)
    return response
