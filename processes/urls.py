from __future__ import annotations

from django.urls import path

from processes import views

urlpatterns = [
    path("", views.process_list_view, name="processes-list"),
    path("new/", views.process_create_view, name="processes-create"),
    path("import/", views.process_import_view, name="processes-import"),
    path("<uuid:process_uuid>/", views.process_detail_view, name="processes-detail"),
    path("<uuid:process_uuid>/run/", views.process_run_view, name="processes-run-now"),
    path("<uuid:process_uuid>/triggers/", views.trigger_add_view, name="processes-trigger-add"),
    path(
        "<uuid:process_uuid>/triggers/<uuid:trigger_uuid>/",
        views.trigger_edit_view,
        name="processes-trigger-edit",
    ),  # fmt: skip
    path(
        "<uuid:process_uuid>/triggers/<uuid:trigger_uuid>/delete/",
        views.trigger_delete_view,
        name="processes-trigger-delete",
    ),  # fmt: skip
    path("runs/<uuid:run_uuid>/", views.run_detail_view, name="processes-run"),
    path("runs/<uuid:run_uuid>/retry/", views.run_retry_view, name="processes-run-retry"),
    path("runs/<uuid:run_uuid>/approve/", views.run_approve_view, name="processes-run-approve"),
]
