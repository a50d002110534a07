"""Dry runs: the job a client would submit, tried on the first records of its inputs by a
worker of its runtime; nothing is saved as a job. Poll the answer's url until its status is
done or error."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.parsers import JSONParser
from api.serializers.common import DetailSerializer
from api.serializers.dry_runs import DryRunSerializer
from api.serializers.jobs import JobCreateSerializer
from dryruns.services import dry_run_get, dry_run_start


def _answer(request: Request, dry_run, code: int = status.HTTP_200_OK) -> Response:
    return Response(DryRunSerializer(dry_run, context={"request": request}).data, status=code)


class DryRunCreateView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=JobCreateSerializer,
        responses={201: DryRunSerializer, 400: DetailSerializer},
        summary="Try a job on the first records of its inputs (a dry run)",
        description="The body is a job's (POST /api/jobs/); the output and bad-record options "
        "are ignored. The model runs sandboxed and time-bound on a worker of the runtime; poll "
        "the answer's url for the output records or the error. Uploaded files and pasted data "
        "can be sampled; S3, HDFS and SQL inputs are refused.",
    )
    def post(self, request: Request) -> Response:
        form = JobCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        dry_run = dry_run_start(
            user=request.user,
            snapshot=data["snapshot"],
            job_type=data["job_type"],
            inputs=data["inputs"],
            runtime=data.get("runtime"),
            input_schema=data["input_schema"],
            output_schema=data["output_schema"],
            check_input_schema=data["check_input_schema"],
            check_output_schema=data["check_output_schema"],
            params=data["params"],
        )  # a refusal is a 400 with its reason (api.exceptions)
        return _answer(request, dry_run, status.HTTP_201_CREATED)


class DryRunDetailView(APIView):
    @extend_schema(responses={200: DryRunSerializer, 404: DetailSerializer})
    def get(self, request: Request, dry_run_uuid) -> Response:
        dry_run = dry_run_get(user=request.user, uuid=dry_run_uuid)
        if dry_run is None:
            raise NotFound("No dry run with this uuid of yours.")
        return _answer(request, dry_run)
