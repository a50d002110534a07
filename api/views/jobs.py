from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.pagination import BoundedCountPagination
from api.parsers import JSONParser
from api.serializers.common import DetailSerializer, absolute_url
from api.serializers.jobs import (
    JobCreateSerializer,
    JobDetailSerializer,
    JobFilterSerializer,
    JobLogSerializer,
    JobResultSerializer,
    JobSummarySerializer,
)
from api.serializers.scoring_diff import ScoringDiffQuerySerializer, ScoringDiffSerializer
from api.views._common import AnyAccept, visible_or_404
from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.scoring_diff import DiffError, scoring_diff
from jobs.selectors import job_list, output_download_link
from jobs.services import job_cancel, job_rerun, job_submit
from jobs.views.pages import job_output_download_view, job_rejects_download_view

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Submitting twice with the same key creates one job (the second answer is 200).",
)
FILE_ANSWER = {
    (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
    404: DetailSerializer,
}


def _job(request: Request, job_uuid) -> Job:
    return visible_or_404(job_list(user=request.user), uuid=job_uuid)


def _detail(request: Request, job: Job, code: int = status.HTTP_200_OK) -> Response:
    return Response(JobDetailSerializer(job, context={"request": request}).data, status=code)


class JobListCreateView(generics.ListAPIView):
    serializer_class = JobSummarySerializer
    pagination_class = BoundedCountPagination  # no COUNT(*) of every job
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[Job]:
        form = JobFilterSerializer(data=self.request.query_params)
        form.is_valid(raise_exception=True)
        filters = form.validated_data
        jobs = job_list(user=self.request.user, filters=filters)
        if "snapshot" in filters:
            jobs = jobs.filter(snapshot__uuid=filters["snapshot"])
        if "created_by" in filters:
            jobs = jobs.filter(created_by__username=filters["created_by"])
        if "runtime" in filters:
            jobs = jobs.filter(runtime__name=filters["runtime"])
        return jobs

    @extend_schema(parameters=[JobFilterSerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=JobCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: JobDetailSerializer, 200: JobDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if "\x00" in key:
            raise ValidationError({"Idempotency-Key": ["The key cannot hold NUL characters."]})
        try:
            with transaction.atomic():
                if key:
                    # One keyed submit of a user at a time: whether this request made the job
                    # or found the first one is then certain (201 or 200).
                    get_user_model().objects.select_for_update().filter(pk=request.user.pk).first()
                    if job := Job.objects.filter(
                        created_by=request.user, idempotency_key=key
                    ).first():
                        return _detail(request, job)  # the first submit's job; nothing new
                job = self._submit(request, key)
        except IntegrityError:
            if not key:
                raise
            # The same key was used meanwhile by a caller of job_submit outside the API.
            return _detail(request, Job.objects.get(created_by=request.user, idempotency_key=key))
        return _detail(request, job, status.HTTP_201_CREATED)

    def _submit(self, request: Request, key: str) -> Job:
        form = JobCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        return job_submit(
            user=request.user,
            snapshot=data["snapshot"],
            job_type=data["job_type"],
            inputs=data["inputs"],
            output=data.get("output"),
            runtime=data.get("runtime"),
            input_schema=data["input_schema"],
            output_schema=data["output_schema"],
            check_input_schema=data["check_input_schema"],
            check_output_schema=data["check_output_schema"],
            params=data["params"],
            stop_on_bad_records=data["stop_on_bad_records"],
            max_rejects=data["max_rejects"],
            max_rejects_percent=data["max_rejects_percent"],
            idempotency_key=key,
        )


class JobDetailView(APIView):
    @extend_schema(responses={200: JobDetailSerializer, 404: DetailSerializer})
    def get(self, request: Request, job_uuid) -> Response:
        return _detail(request, _job(request, job_uuid))


class JobCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: JobDetailSerializer, 404: DetailSerializer, 409: DetailSerializer},
    )
    def post(self, request: Request, job_uuid) -> Response:
        job = _job(request, job_uuid)
        if not job_cancel(job=job, by=request.user):
            job.refresh_from_db()
            detail = (
                f"The job already ended ({job.status}); it cannot be cancelled."
                if job.is_terminal
                else "Too late to cancel: the job is publishing its output."
            )
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return _detail(request, job)


class JobRerunView(APIView):
    @extend_schema(request=None, responses={201: JobDetailSerializer, 404: DetailSerializer})
    def post(self, request: Request, job_uuid) -> Response:
        job = job_rerun(job=_job(request, job_uuid), user=request.user)
        return _detail(request, job, status.HTTP_201_CREATED)


class JobLogView(APIView):
    @extend_schema(responses={200: JobLogSerializer, 404: DetailSerializer})
    def get(self, request: Request, job_uuid) -> Response:
        job = _job(request, job_uuid)
        return Response(JobLogSerializer({"log": job.log, "status": job.status}).data)


def _not_ready(job: Job) -> str:
    if job.status == JobStatus.ERROR:
        return f"The job ended in ERROR; it has no result: {job.error_message}"
    if job.status == JobStatus.CANCELLED:
        return "The job was CANCELLED; it has no result."
    return f"The job is {job.status}; its result is not ready."


class JobResultView(APIView):
    @extend_schema(
        responses={200: JobResultSerializer, 404: DetailSerializer, 409: DetailSerializer}
    )
    def get(self, request: Request, job_uuid) -> Response:
        job = _job(request, job_uuid)
        if job.status != JobStatus.COMPLETE:
            return Response({"detail": _not_ready(job)}, status=status.HTTP_409_CONFLICT)
        context = {"request": request}
        output = job.output_asset()
        download_url = None
        if output is not None and output.file:
            download_url = absolute_url(context, "api-job-output", job.uuid)
        elif output is not None and output.kind == JobAsset.Kind.S3:
            download_url = output_download_link(output) or None
        snapshot = job.result_snapshot
        answer = {
            "job_type": job.job_type,
            "status": job.status,
            "result": job.result,
            "records_written": job.records_written,
            "records_rejected": job.records_rejected,
            "output": output,
            "download_url": download_url,
            "rejects_url": (
                absolute_url(context, "api-job-rejects", job.uuid)
                if output is not None and output.rejects_file
                else None
            ),
            "metrics": job.metrics if job.job_type == JobType.METRICS else None,
            "result_snapshot": (
                {"uuid": snapshot.uuid, "version": snapshot.version, "model": snapshot.model}
                if snapshot is not None
                else None
            ),
        }
        return Response(JobResultSerializer(answer).data)


class _FileView(APIView):
    content_negotiation_class = AnyAccept


class JobOutputView(_FileView):
    """The committed output file, as the job page's download serves it."""

    @extend_schema(responses=FILE_ANSWER)
    def get(self, request: Request, job_uuid) -> FileResponse:
        job = _job(request, job_uuid)
        return job_output_download_view(request._request, job.uuid)


class JobRejectsView(_FileView):
    """The records the schema checks left out, with their reasons (JSON lines)."""

    @extend_schema(responses=FILE_ANSWER)
    def get(self, request: Request, job_uuid) -> FileResponse:
        job = _job(request, job_uuid)
        output = job.output_asset()
        if output is None or not output.rejects_file:
            raise NotFound("This job has no rejects file.")
        return job_rejects_download_view(request._request, job.uuid, output.uuid)


class JobScoringDiffView(APIView):
    """This scoring job (A) against another on the same input (B), record by record."""

    @extend_schema(
        parameters=[ScoringDiffQuerySerializer],
        responses={200: ScoringDiffSerializer, 400: DetailSerializer, 404: DetailSerializer},
    )
    def get(self, request: Request, job_uuid) -> Response:
        job = _job(request, job_uuid)
        form = ScoringDiffQuerySerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        query = form.validated_data
        other = _job(request, query["other"])
        try:
            diff = scoring_diff(
                a=job, b=other, score=query.get("score", ""), key=query.get("key", ""),
                segment=query.get("segment", ""), threshold=query["threshold"],
            )  # fmt: skip
        except DiffError as exc:
            return Response({"detail": f"{exc}."}, status=status.HTTP_400_BAD_REQUEST)
        except Exception:  # outputs are what model code wrote: never a 500 for them
            logger.exception("scoring diff of jobs %s and %s", job.uuid, other.uuid)
            return Response(
                {"detail": "Reading the outputs failed unexpectedly; the server log has why."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(ScoringDiffSerializer(diff.as_dict()).data)
