from __future__ import annotations

from django.contrib.auth.decorators import login_not_required, login_required
from django.http import JsonResponse
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views import auth, dry_runs, infra, jobs, processes, registry


def _api(view_class):
    """DRF authenticates API requests (a token or the session) and answers 401 in JSON, so
    the site-wide login redirect does not apply (DRF marks its views so too; said here, as
    the API relies on it)."""
    return login_not_required(view_class.as_view())


@login_not_required
def not_found(request, rest: str = ""):
    """Any other path under /api/: a JSON 404 like the API's own, not the site's HTML page."""
    return JsonResponse({"detail": "Not found: no such API endpoint. See /api/docs/."}, status=404)


urlpatterns = [
    path("auth/token/", _api(auth.TokenObtainView), name="api-token"),
    path("me/", _api(auth.MeView), name="api-me"),
    path("models/", _api(registry.ModelListCreateView), name="api-model-list"),
    path("models/<uuid:model_uuid>/", _api(registry.ModelDetailView), name="api-model-detail"),
    path(
        "models/<uuid:model_uuid>/snapshots/",
        _api(registry.ModelSnapshotsView),
        name="api-model-snapshots",
    ),
    path(
        "models/<uuid:model_uuid>/promotions/",
        _api(registry.ModelPromotionsView),
        name="api-model-promotions",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/",
        _api(registry.SnapshotDetailView),
        name="api-snapshot-detail",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/promote/",
        _api(registry.SnapshotPromoteView),
        name="api-snapshot-promote",
    ),
    path("runtimes/", _api(infra.RuntimeListView), name="api-runtime-list"),
    path("runtimes/<str:runtime>/", _api(infra.RuntimeDetailView), name="api-runtime-detail"),
    path("uploads/", _api(infra.UploadCreateView), name="api-upload-create"),
    path("uploads/reuse/", _api(infra.UploadReuseView), name="api-upload-reuse"),
    path("connections/", _api(infra.ConnectionListView), name="api-connection-list"),
    path("processes/", _api(processes.ProcessListView), name="api-process-list"),
    path("processes/<uuid:uuid>/", _api(processes.ProcessDetailView), name="api-process-detail"),
    path("processes/<uuid:uuid>/runs/", _api(processes.ProcessRunsView), name="api-process-runs"),
    path(
        "processes/<uuid:uuid>/triggers/",
        _api(processes.ProcessTriggersView),
        name="api-process-triggers",
    ),
    path(
        "processes/<uuid:uuid>/triggers/<uuid:trigger_uuid>/",
        _api(processes.TriggerDetailView),
        name="api-trigger-detail",
    ),
    path("process-runs/<uuid:uuid>/", _api(processes.RunDetailView), name="api-run-detail"),
    path(
        "process-runs/<uuid:uuid>/approve/", _api(processes.RunApproveView), name="api-run-approve"
    ),
    path("process-runs/<uuid:uuid>/retry/", _api(processes.RunRetryView), name="api-run-retry"),
    path("jobs/", _api(jobs.JobListCreateView), name="api-job-list"),
    path("jobs/dry-run/", _api(dry_runs.DryRunCreateView), name="api-dry-run-create"),
    path(
        "dry-runs/<uuid:dry_run_uuid>/", _api(dry_runs.DryRunDetailView), name="api-dry-run-detail"
    ),
    path("jobs/<uuid:job_uuid>/", _api(jobs.JobDetailView), name="api-job-detail"),
    path("jobs/<uuid:job_uuid>/cancel/", _api(jobs.JobCancelView), name="api-job-cancel"),
    path("jobs/<uuid:job_uuid>/rerun/", _api(jobs.JobRerunView), name="api-job-rerun"),
    path("jobs/<uuid:job_uuid>/log/", _api(jobs.JobLogView), name="api-job-log"),
    path("jobs/<uuid:job_uuid>/result/", _api(jobs.JobResultView), name="api-job-result"),
    path("jobs/<uuid:job_uuid>/output/", _api(jobs.JobOutputView), name="api-job-output"),
    path("jobs/<uuid:job_uuid>/diff/", _api(jobs.JobScoringDiffView), name="api-job-scoring-diff"),
    path("jobs/<uuid:job_uuid>/rejects/", _api(jobs.JobRejectsView), name="api-job-rejects"),
    path("schema/", _api(SpectacularAPIView), name="api-schema"),
    # A page for browsers: without a session, the site's login page comes first.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    re_path(r"^(?P<rest>.*)$", not_found),
]
