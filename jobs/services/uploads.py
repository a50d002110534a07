"""Uploaded input files."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File

from jobs.models import (
    Upload,
)

logger = logging.getLogger(__name__)


def upload_create(*, owner, content: File, name: str = "") -> Upload:
    """Store an uploaded input file for OWNER; jobs refer to it later by its uuid."""
    name = PurePosixPath(PureWindowsPath(name or content.name or "").as_posix()).name
    if not name:
        raise ValidationError("The uploaded file has no name.")
    size = content.size if content.size is not None else 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            f"{name} is {size:,} bytes; the upload limit is {settings.UPLOAD_MAX_BYTES:,}."
        )
    upload = Upload(owner=owner, name=name, size=size)
    upload.file.save(name, content, save=False)
    upload.save()
    return upload
