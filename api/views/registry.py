from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.parsers import JSONParser
from api.serializers.common import DetailSerializer
from api.serializers.registry import (
    ModelCreateSerializer,
    ModelDetailSerializer,
    ModelSummarySerializer,
    PromoteSerializer,
    PromotionSerializer,
    SnapshotAddSerializer,
    SnapshotDetailSerializer,
    SnapshotSummarySerializer,
)
from api.views._common import refuse_dropped_uploads, visible_or_404
from commandcenter.lib.uploads import attachment_limits
from models_registry.models import Model, Promotion, Snapshot
from models_registry.selectors import model_list, snapshot_list
from models_registry.services import model_create, snapshot_add_version, snapshot_promote


def models_for(user) -> QuerySet[Model]:
    """model_list(user=...) with each model's newest snapshot, as the serializers show it."""
    newest = Snapshot.objects.filter(model=OuterRef("pk")).order_by("-version")
    return (
        model_list(user=user)
        .select_related("champion")
        .annotate(latest_uuid=Subquery(newest.values("uuid")[:1]))
    )


class ModelListCreateView(generics.ListCreateAPIView):
    parser_classes = [MultiPartParser, FormParser]
    upload_limits = staticmethod(attachment_limits)

    def get_serializer_class(self):
        return ModelCreateSerializer if self.request.method == "POST" else ModelSummarySerializer

    def get_queryset(self) -> QuerySet[Model]:
        models = models_for(self.request.user).order_by("name", "pk")
        search = self.request.query_params.get("search", "").replace("\x00", "").strip()
        if search:
            models = models.filter(Q(name__icontains=search) | Q(description__icontains=search))
        return models

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="in the name or description")]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ModelCreateSerializer, responses={201: ModelDetailSerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:
        refuse_dropped_uploads(request)
        form = ModelCreateSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        model = model_create(
            owner=request.user,
            team=data["team"],
            name=data["name"],
            description=data["description"],
            tags=data["tags"],
            source_name=data["source"].name,
            source=data["source"].text,
            attachments=data["attachments"],
            notes=data["notes"],
            runtime_tags=data["runtime_tags"] or (),
        )
        model = models_for(request.user).get(pk=model.pk)
        answer = ModelDetailSerializer(model, context=self.get_serializer_context())
        return Response(answer.data, status=status.HTTP_201_CREATED)


class ModelDetailView(generics.RetrieveAPIView):
    serializer_class = ModelDetailSerializer

    def get_object(self) -> Model:
        return visible_or_404(models_for(self.request.user), uuid=self.kwargs["model_uuid"])


class ModelSnapshotsView(generics.ListCreateAPIView):
    parser_classes = [MultiPartParser, FormParser]
    upload_limits = staticmethod(attachment_limits)

    def get_serializer_class(self):
        return SnapshotAddSerializer if self.request.method == "POST" else SnapshotSummarySerializer

    def _model(self) -> Model:
        return visible_or_404(model_list(user=self.request.user), uuid=self.kwargs["model_uuid"])

    def get_queryset(self) -> QuerySet[Snapshot]:
        return self._model().snapshots.select_related("created_by").order_by("-version")

    @extend_schema(request=SnapshotAddSerializer, responses={201: SnapshotDetailSerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:
        model = self._model()
        refuse_dropped_uploads(request)
        form = SnapshotAddSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        snapshot = snapshot_add_version(
            model=model,
            created_by=request.user,
            source_name=data["source"].name,
            source=data["source"].text,
            uploads=data["attachments"],
            keep_attachments=data["keep_attachments"],
            notes=data["notes"],
            runtime_tags=data["runtime_tags"],  # None: the parent's
        )
        answer = SnapshotDetailSerializer(snapshot, context=self.get_serializer_context())
        return Response(answer.data, status=status.HTTP_201_CREATED)


class SnapshotDetailView(generics.RetrieveAPIView):
    serializer_class = SnapshotDetailSerializer

    def get_object(self) -> Snapshot:
        snapshots = snapshot_list(user=self.request.user).select_related("parent", "training_job")
        return visible_or_404(snapshots, uuid=self.kwargs["snapshot_uuid"])


class ModelPromotionsView(generics.ListAPIView):
    """The model's champion changes, newest first."""

    serializer_class = PromotionSerializer

    def get_queryset(self) -> QuerySet[Promotion]:
        model = visible_or_404(model_list(user=self.request.user), uuid=self.kwargs["model_uuid"])
        return model.promotions.select_related("model", "snapshot", "previous", "promoted_by")


class SnapshotPromoteView(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=PromoteSerializer,
        responses={
            201: PromotionSerializer,
            400: DetailSerializer,
            403: DetailSerializer,
            404: DetailSerializer,
        },
        description="Make the snapshot its model's champion: jobs created by model run it.",
    )
    def post(self, request: Request, snapshot_uuid) -> Response:
        snapshot = visible_or_404(
            snapshot_list(user=request.user).select_related("model"), uuid=snapshot_uuid
        )
        form = PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        promotion = snapshot_promote(
            snapshot=snapshot,
            user=request.user,
            source=form.validated_data["source"],
            reason=form.validated_data["reason"],
        )
        answer = PromotionSerializer(promotion, context={"request": request})
        return Response(answer.data, status=status.HTTP_201_CREATED)
