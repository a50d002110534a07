from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.common import DetailSerializer
from api.serializers.processes import ProcessRunSerializer, ProcessSerializer
from api.views._common import visible_or_404
from processes.models import Process, ProcessRun, Trigger
from processes.selectors import process_list, run_list
from processes.services import process_may_change, run_approve, run_retry, run_start


class ProcessListView(generics.ListAPIView):
    """MLC processes of your teams."""

    serializer_class = ProcessSerializer

    def get_queryset(self) -> QuerySet[Process]:
        return process_list(user=self.request.user).prefetch_related("triggers")


class ProcessDetailView(generics.RetrieveAPIView):
    serializer_class = ProcessSerializer

    def get_object(self) -> Process:
        return visible_or_404(process_list(user=self.request.user), uuid=self.kwargs["uuid"])


class ProcessRunsView(generics.ListCreateAPIView):
    """GET: the process's runs, newest first. POST: run it now (a manual trigger)."""

    serializer_class = ProcessRunSerializer

    def _process(self) -> Process:
        return visible_or_404(process_list(user=self.request.user), uuid=self.kwargs["uuid"])

    def get_queryset(self) -> QuerySet[ProcessRun]:
        return (
            self._process()
            .runs.select_related("process", "started_by")
            .prefetch_related("steps__job", "steps__approver")
        )

    @extend_schema(
        request=None,
        responses={201: ProcessRunSerializer, 400: DetailSerializer, 403: DetailSerializer,
                   404: DetailSerializer},
    )  # fmt: skip
    def post(self, request: Request, uuid) -> Response:
        process = self._process()
        if not process_may_change(user=request.user, process=process):
            raise PermissionDenied("You may not run this process.")
        run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL, user=request.user)
        return Response(ProcessRunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(generics.RetrieveAPIView):
    serializer_class = ProcessRunSerializer

    def get_object(self) -> ProcessRun:
        return visible_or_404(run_list(user=self.request.user), uuid=self.kwargs["uuid"])


class _RunActionView(APIView):
    run_action = None  # a service: (run=, user=)

    @extend_schema(
        request=None,
        responses={200: ProcessRunSerializer, 400: DetailSerializer, 403: DetailSerializer,
                   404: DetailSerializer},
    )  # fmt: skip
    def post(self, request: Request, uuid) -> Response:
        run = visible_or_404(run_list(user=request.user), uuid=uuid)
        self.run_action(run=run, user=request.user)
        run.refresh_from_db()
        return Response(ProcessRunSerializer(run).data)


class RunApproveView(_RunActionView):
    """Approve the step the run waits on (you must be allowed to change the model)."""

    run_action = staticmethod(run_approve)


class RunRetryView(_RunActionView):
    """Start a failed run again from its failed step."""

    run_action = staticmethod(run_retry)
