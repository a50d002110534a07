"""Token authentication (`Authorization: Token <key>`) against hashed tokens that expire
after settings.API_TOKEN_TTL_DAYS."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from api.models import ApiToken

TOKEN_EXPIRED = "Token expired; run `moc login` again."
TOKEN_INVALID = "Invalid token."
USER_INACTIVE = "User inactive or deleted."
PREFIX_LENGTH = 8  # ApiToken.prefix


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_expires_at(token: ApiToken) -> datetime:
    return token.created_at + timedelta(days=settings.API_TOKEN_TTL_DAYS)


@dataclass(frozen=True)
class IssuedToken:
    key: str  # known only here: the database keeps its digest
    token: ApiToken

    @property
    def expires_at(self) -> datetime:
        return token_expires_at(self.token)


@transaction.atomic
def token_issue(*, user) -> IssuedToken:
    """A new token for USER; the one they had stops working."""
    ApiToken.objects.filter(user=user).delete()
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(user=user, prefix=key[:PREFIX_LENGTH], digest=key_digest(key))
    return IssuedToken(key=key, token=token)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        digest = key_digest(key)
        candidates = ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH])
        token = next((t for t in candidates if hmac.compare_digest(t.digest, digest)), None)
        if token is None:
            raise AuthenticationFailed(TOKEN_INVALID)
        if not token.user.is_active:
            raise AuthenticationFailed(USER_INACTIVE)
        if token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed(TOKEN_EXPIRED)
        return token.user, token
