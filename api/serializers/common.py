from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import serializers


def absolute_url(context: dict, name: str, *args) -> str:
    path = reverse(name, args=args)
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


def comma_list(value: str) -> list[str]:
    """'a, b,,a' -> ['a', 'b']: the comma-separated fields of multipart forms."""
    items: list[str] = []
    for raw in (value or "").split(","):
        item = raw.strip()
        if item and item not in items:
            items.append(item)
    return items


def as_uuid(value: str) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def has_nul(value) -> bool:
    """True when a NUL character hides in VALUE (keys too): PostgreSQL cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def refusal(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as a serializer (field) error."""
    return serializers.ValidationError(exc.messages)


# Stored file names (attachments, uploads) are at most this long.
FILE_NAME_MAX = 200


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class SnapshotRefSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    version = serializers.IntegerField()


class ModelRefSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
