from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import token_issue
from api.serializers.auth import MeSerializer, TokenRequestSerializer, TokenSerializer
from api.serializers.common import DetailSerializer

WRONG_LOGIN = "Wrong user name or password."


class TokenObtainView(APIView):
    """Log in with a user name and password; the answer's token replaces any earlier one."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: DetailSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        # The Django request, so login rate limiting sees what the login page's would.
        user = authenticate(
            request=request._request,
            username=form.validated_data["username"],
            password=form.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response({"detail": WRONG_LOGIN}, status=status.HTTP_400_BAD_REQUEST)
        issued = token_issue(user=user)
        answer = {
            "token": issued.key,
            "username": user.get_username(),
            "expires_at": issued.expires_at,
        }
        return Response(TokenSerializer(answer).data)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        teams = list(user.groups.order_by("name").values_list("name", flat=True))
        answer = {"username": user.get_username(), "is_staff": user.is_staff, "teams": teams}
        return Response(MeSerializer(answer).data)
