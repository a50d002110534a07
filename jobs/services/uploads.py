"""Uploaded input files."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db.models import Q
from django.utils import timezone

from jobs.models import JobAsset, Upload
from models_registry.models import Attachment

logger = logging.getLogger(__name__)
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def upload_create(*, owner, content: File, name: str = "") -> Upload:
    """Store an uploaded input file for OWNER; jobs refer to it later by its uuid. Its SHA-256
    is the one the upload handler computed while the bytes came in
    (commandcenter.lib.uploads), or is computed here from the file."""
    name = PurePosixPath(PureWindowsPath(name or content.name or "").as_posix()).name
    if not name:
        raise ValidationError("The uploaded file has no name.")
    size = content.size if content.size is not None else 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            f"{name} is {size:,} bytes; the upload limit is {settings.UPLOAD_MAX_BYTES:,}."
        )
    digest = getattr(content, "sha256", "") or _sha256(content)
    upload = Upload(owner=owner, name=name, size=size, sha256=digest, team=_team(owner))
    upload.file.save(name, content, save=False)
    upload.save()
    return upload


def _sha256(content: File) -> str:
    digest = hashlib.sha256()
    for chunk in content.chunks():
        digest.update(chunk)
    content.seek(0)
    return digest.hexdigest()


def _team(owner):
    """The team an upload is shared in: its owner's, when the owner is in exactly one."""
    teams = list(owner.groups.all()[:2])
    return teams[0] if len(teams) == 1 else None


def upload_reuse(*, owner, sha256: str, name: str) -> Upload | None:
    """A new upload of OWNER named NAME on the stored file of an earlier upload whose bytes
    hashed to SHA256 (as the server computed it), by OWNER or in one of OWNER's teams; None
    when there is none (the file is then sent). Nothing is copied: uploads may share a file
    (upload_sweep deletes it once none names it)."""
    sha256 = sha256.strip().lower()
    if not SHA256_RE.fullmatch(sha256):
        raise ValidationError("A SHA-256 is 64 hexadecimal digits.")
    name = PurePosixPath(PureWindowsPath(name or "").as_posix()).name
    if not name:
        raise ValidationError("Name the file (the name jobs will show).")
    earlier = (
        Upload.objects.filter(sha256=sha256)
        .filter(Q(owner=owner) | Q(team__in=owner.groups.all()))
        .order_by("-created_at")
    )
    for found in earlier[:5]:
        if found.file and found.file.storage.exists(found.file.name):
            return Upload.objects.create(
                owner=owner, name=name, file=found.file.name, size=found.size,
                sha256=sha256, team=_team(owner) or found.team,
            )  # fmt: skip
    return None


def upload_sweep(*, now=None) -> dict[str, int]:
    """Delete uploads that no job and no MLC process uses, UPLOAD_UNUSED_HOURS after they were uploaded (a
    wizard left half-way, an API upload never submitted), and what uploads left in
    FILE_UPLOAD_TEMP_DIR as long ago (a process killed mid-upload). A stored file goes only
    when no job asset and no other upload (a re-run's) names it. Returns what went."""
    now = now or timezone.now()
    hours = settings.UPLOAD_UNUSED_HOURS
    used = JobAsset.objects.filter(kind=JobAsset.Kind.UPLOAD).values("file")
    stale = (
        Upload.objects.filter(created_at__lt=now - timedelta(hours=hours))
        .exclude(file__in=used)
        .exclude(process_uses__isnull=False)  # an MLC process's steps read it (processes app)
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
