from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.common import as_uuid
from api.serializers.infra import (
    ConnectionSerializer,
    RuntimeSerializer,
    UploadCreateSerializer,
    UploadReuseSerializer,
    UploadSerializer,
)
from api.views._common import refuse_dropped_uploads, visible_or_404
from commandcenter.lib.uploads import input_file_limits
from jobs.models import Connection, Runtime
from jobs.selectors import connection_list, runtime_overview
from jobs.services import upload_create, upload_reuse


def runtime_runs(*, user, runtimes: QuerySet[Runtime] | None = None) -> list[Runtime]:
    """Runtimes with what the Runtimes page shows of them (jobs.selectors.runtime_overview),
    set on each as the serializer reads it."""
    found = []
    for entry in runtime_overview(user=user, runtimes=runtimes):
        runtime = entry["runtime"]
        visible = {str(job.uuid) for job in entry["jobs"]}
        runtime.worker_rows = []
        for row in entry["workers"]:
            worker = row["worker"]
            worker.state, worker.visible_jobs = row["state"], visible
            runtime.worker_rows.append(worker)
        runtime.health, runtime.slots = entry["health"], entry["slots"]
        runtime.running_jobs, runtime.waiting_jobs = entry["running"], entry["queued"]
        found.append(runtime)
    return found


class RuntimeListView(generics.ListAPIView):
    serializer_class = RuntimeSerializer

    def get_queryset(self) -> list[Runtime]:
        return runtime_runs(user=self.request.user, runtimes=Runtime.objects.order_by("name"))


class RuntimeDetailView(generics.RetrieveAPIView):
    """A runtime by its name or uuid."""

    serializer_class = RuntimeSerializer

    def get_object(self) -> Runtime:
        key = self.kwargs["runtime"].replace("\x00", "")
        lookup = {"uuid": uuid} if (uuid := as_uuid(key)) else {"name": key}
        runtime = visible_or_404(Runtime.objects.all(), **lookup)
        (found,) = runtime_runs(
            user=self.request.user, runtimes=Runtime.objects.filter(pk=runtime.pk)
        )
        return found


class UploadCreateView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    upload_limits = staticmethod(input_file_limits)

    @extend_schema(request=UploadCreateSerializer, responses={201: UploadSerializer})
    def post(self, request: Request) -> Response:
        refuse_dropped_uploads(request)
        form = UploadCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = upload_create(owner=request.user, content=form.validated_data["file"])
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class UploadReuseView(APIView):
    """A file this user or one of their teams uploaded before, by the SHA-256 the server
    computed of it: a new upload on the same stored file (201), or 404 (send the file)."""

    parser_classes = [JSONParser]

    @extend_schema(request=UploadReuseSerializer, responses={201: UploadSerializer})
    def post(self, request: Request) -> Response:
        form = UploadReuseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = upload_reuse(
            owner=request.user,
            sha256=form.validated_data["sha256"],
            name=form.validated_data["name"],
        )
        if upload is None:
            raise NotFound("No upload with this SHA-256 in your teams: send the file.")
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class ConnectionListView(generics.ListAPIView):
    serializer_class = ConnectionSerializer

    def get_queryset(self) -> QuerySet[Connection]:
        return connection_list(user=self.request.user).order_by("name")
