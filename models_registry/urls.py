from __future__ import annotations

from django.urls import path

from models_registry import views

urlpatterns = [
    path("", views.model_list_view, name="registry-model-list"),
    path("new/", views.model_create_view, name="registry-model-create"),
    path("<uuid:model_uuid>/", views.model_detail_view, name="registry-model-detail"),
    path(
        "<uuid:model_uuid>/snapshots/new/",
        views.snapshot_create_view,
        name="registry-snapshot-create",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/",
        views.snapshot_detail_view,
        name="registry-snapshot-detail",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/promote/",
        views.snapshot_promote_view,
        name="registry-snapshot-promote",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/source/",
        views.snapshot_source_view,
        name="registry-snapshot-source",
    ),
    path(
        "snapshots/<uuid:snapshot_uuid>/files/<str:name>",
        views.attachment_download_view,
        name="registry-attachment-download",
    ),
]
