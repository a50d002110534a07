"""Uploaded input files."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.utils import timezone

from jobs.models import JobAsset, Upload
from models_registry.models import Attachment

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


def upload_sweep(*, now=None) -> dict[str, int]:
    """Delete uploads that no job uses, UPLOAD_UNUSED_HOURS after they were uploaded (a
    wizard left half-way, an API upload never submitted), and what uploads left in
    FILE_UPLOAD_TEMP_DIR as long ago (a process killed mid-upload). A stored file goes only
    when no job asset and no other upload (a re-run's) names it. Returns what went."""
    now = now or timezone.now()
    hours = settings.UPLOAD_UNUSED_HOURS
    used = JobAsset.objects.filter(kind=JobAsset.Kind.UPLOAD).values("file")
    stale = Upload.objects.filter(created_at__lt=now - timedelta(hours=hours)).exclude(
        file__in=used
    )
    removed = files = 0
    for upload in stale.iterator():
        name = upload.file.name
        upload.delete()
        removed += 1
        if (
            name
            and not Upload.objects.filter(file=name).exists()
            and not Attachment.objects.filter(file=name).exists()  # chosen in the wizard
        ):
            try:
                upload.file.storage.delete(name)
                files += 1
            except OSError:
                logger.warning("could not delete the unused upload file %s", name, exc_info=True)
    return {"uploads": removed, "files": files, "temporary": _temporary_sweep(hours)}


def _temporary_sweep(hours: int) -> int:
    """Temporary upload files untouched for HOURS (a live upload writes to its file)."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR or "")
    if not settings.FILE_UPLOAD_TEMP_DIR or not folder.is_dir():
        return 0
    cutoff = time.time() - hours * 3600
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed
