from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from commandcenter.lib.health import healthz
from jobs.views import runtimes

# A database away is a 503 wherever it is met, even outside any view (commandcenter/lib/outage.py).
handler500 = "commandcenter.lib.outage.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="jobs-list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("models/", include("models_registry.urls")),
    path("jobs/", include("jobs.urls")),
    path("api/", include("api.urls")),
    path("processes/", include("processes.urls")),
    path("runtimes/", runtimes.runtime_list_view, name="runtimes-list"),
    path("runtimes/<uuid:runtime_uuid>/", runtimes.runtime_detail_view, name="runtimes-detail"),
    path("audit/", include("audit.urls")),
    path("healthz", healthz, name="healthz"),
]
