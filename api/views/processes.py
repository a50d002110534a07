from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.common import DetailSerializer
from api.serializers.processes import (
    ProcessRunSerializer,
    ProcessSerializer,
    TriggerSerializer,
    TriggerWriteSerializer,
)
from api.views._common import visible_or_404
from processes.models import Process, ProcessRun, Trigger
from processes.selectors import process_list, run_list
from processes.services import (
    process_may_change,
    run_approve,
    run_retry,
    run_start,
    trigger_create,
    trigger_delete,
    trigger_update,
)


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


def _trigger_values(request: Request, data: dict) -> dict:
    """The write serializer's DATA as trigger_create/trigger_update take it: the connection by
    name or uuid, among those the user may use."""
    from django.core.exceptions import ValidationError

    from jobs.selectors import connection_list

    values = dict(data)
    if "connection" in values:
        ref = (values["connection"] or "").strip()
        connection = None
        if ref:
            usable = connection_list(user=request.user)
            connection = usable.filter(name=ref).first()
            if connection is None and _is_uuid(ref):
                connection = usable.filter(uuid=ref).first()
            if connection is None:
                raise ValidationError({"connection": f"No connection {ref!r} you may use."})
        values["connection"] = connection
    return values


def _is_uuid(text: str) -> bool:
    import uuid as uuid_module

    try:
        uuid_module.UUID(text)
    except ValueError:
        return False
    return True


_TRIGGER_ERRORS = {400: DetailSerializer, 403: DetailSerializer, 404: DetailSerializer}


class ProcessTriggersView(APIView):
    """GET: the process's triggers. POST: add one (you must be allowed to change the process):
    kind, and cron (schedule), connection and location (S3 prefix, HDFS folder), connection
    and query (SQL result changed), job_type (a job finished)."""

    def _process(self) -> Process:
        return visible_or_404(process_list(user=self.request.user), uuid=self.kwargs["uuid"])

    @extend_schema(responses={200: TriggerSerializer(many=True), 404: DetailSerializer})
    def get(self, request: Request, uuid) -> Response:
        triggers = self._process().triggers.select_related("connection").order_by("created_at")
        return Response(TriggerSerializer(triggers, many=True).data)

    @extend_schema(request=TriggerWriteSerializer,
                   responses={201: TriggerSerializer, **_TRIGGER_ERRORS})  # fmt: skip
    def post(self, request: Request, uuid) -> Response:
        process = self._process()
        serializer = TriggerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = {
            "kind": Trigger.Kind.MANUAL,
            **_trigger_values(request, serializer.validated_data),
        }
        trigger = trigger_create(process=process, user=request.user, values=values)
        return Response(TriggerSerializer(trigger).data, status=status.HTTP_201_CREATED)


class TriggerDetailView(APIView):
    """GET a trigger; PATCH changes the fields given; DELETE removes it."""

    def _trigger(self) -> Trigger:
        process = visible_or_404(process_list(user=self.request.user), uuid=self.kwargs["uuid"])
        return visible_or_404(
            process.triggers.select_related("process", "connection"),
            uuid=self.kwargs["trigger_uuid"],
        )

    @extend_schema(responses={200: TriggerSerializer, 404: DetailSerializer})
    def get(self, request: Request, uuid, trigger_uuid) -> Response:
        return Response(TriggerSerializer(self._trigger()).data)

    @extend_schema(request=TriggerWriteSerializer,
                   responses={200: TriggerSerializer, **_TRIGGER_ERRORS})  # fmt: skip
    def patch(self, request: Request, uuid, trigger_uuid) -> Response:
        trigger = self._trigger()
        serializer = TriggerWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = _trigger_values(request, serializer.validated_data)
        trigger = trigger_update(trigger=trigger, user=request.user, values=values)
        return Response(TriggerSerializer(trigger).data)

    @extend_schema(request=None, responses={204: None, **_TRIGGER_ERRORS})
    def delete(self, request: Request, uuid, trigger_uuid) -> Response:
        trigger_delete(trigger=self._trigger(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
