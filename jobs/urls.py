from __future__ import annotations

from django.urls import path

from jobs.views import (
    compare,
    dry_runs,
    lists,
    metrics,
    pages,
    scoring_diff,
    wizard,
    wizard_preview,
)

urlpatterns = [
    path("", lists.job_list_view, name="jobs-list"),
    path("rows/", lists.job_list_rows_view, name="jobs-list-rows"),
    path("new/", wizard.wizard_start_view, name="jobs-wizard-start"),
    path("new/try/", dry_runs.wizard_try_view, name="jobs-wizard-try"),
    path("dry-runs/<uuid:dry_run_uuid>/", dry_runs.dry_run_status_view, name="jobs-dry-run"),
    path(
        "new/inputs/<slug:input_id>/preview/",
        wizard_preview.wizard_input_preview_view,
        name="jobs-wizard-input-preview",
    ),
    path("new/<slug:step>/", wizard.wizard_step_view, name="jobs-wizard-step"),
    path("compare/", compare.job_compare_view, name="jobs-compare"),
    path("<uuid:job_uuid>/", pages.job_detail_view, name="jobs-detail"),
    path("<uuid:job_uuid>/status/", pages.job_status_view, name="jobs-status"),
    path("<uuid:job_uuid>/cancel/", pages.job_cancel_view, name="jobs-cancel"),
    path("<uuid:job_uuid>/diff/", scoring_diff.job_scoring_diff_view, name="jobs-scoring-diff"),
    path("<uuid:job_uuid>/rerun/", pages.job_rerun_view, name="jobs-rerun"),
    path("<uuid:job_uuid>/edit/", wizard.wizard_from_job_view, name="jobs-edit"),
    path("<uuid:job_uuid>/output/", pages.job_output_download_view, name="jobs-output-download"),
    path(
        "<uuid:job_uuid>/metrics/", metrics.job_metrics_download_view, name="jobs-metrics-download"
    ),
    path(
        "<uuid:job_uuid>/assets/<uuid:asset_uuid>/",
        pages.job_asset_download_view,
        name="jobs-asset-download",
    ),
    path(
        "<uuid:job_uuid>/assets/<uuid:asset_uuid>/rejects/",
        pages.job_rejects_download_view,
        name="jobs-rejects-download",
    ),
]
