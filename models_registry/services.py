from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Max

from audit.services import Action, audit_record
from commandcenter.lib.tags import runtime_tags_clean
from commandcenter.lib.uploads import size_text
from jobs.runner.smarttags import SOURCE_SUFFIXES, SmartTagError, parse_smart_tags
from models_registry.models import Attachment, Model, Promotion, Snapshot
from models_registry.selectors import model_list

MAX_SOURCE_BYTES = 2 * 1024 * 1024


def attachment_name_clean(name: str) -> str:
    """A plain file name, or ValidationError: attachments are extracted into a work dir by name."""
    base = PurePosixPath(PureWindowsPath(name).as_posix()).name
    if not name or name != base or name in {".", ".."} or name.startswith(".") or "\x00" in name:
        raise ValidationError(
            f"Attachment name {name!r} is not a plain file name (no folders, no leading dot)."
        )
    return name


def attachment_sizes_check(files: Iterable[File]) -> None:
    """ValidationError when one file is over ATTACHMENT_MAX_BYTES or all of them together over
    SNAPSHOT_ATTACHMENTS_MAX_BYTES: a snapshot's attachments are copied into every version
    made from it and into every job's work dir."""
    total = 0
    for file in files:
        size = file.size or 0
        if size > settings.ATTACHMENT_MAX_BYTES:
            raise ValidationError(
                f"The attachment {file.name} is {size_text(size)}; one attachment may be at "
                f"most {size_text(settings.ATTACHMENT_MAX_BYTES)} (ATTACHMENT_MAX_BYTES)."
            )
        total += size
    if total > settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES:
        raise ValidationError(
            f"The attachments are {size_text(total)} together; a snapshot may hold at most "
            f"{size_text(settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES)} "
            "(SNAPSHOT_ATTACHMENTS_MAX_BYTES). Leave some out, or do not carry over the "
            "previous snapshot's."
        )


def source_read(upload: File) -> str:
    """An uploaded model source as text; its size is checked before it is read."""
    if (upload.size or 0) > MAX_SOURCE_BYTES:
        raise ValidationError(f"{upload.name} is larger than {MAX_SOURCE_BYTES // 1024} KiB.")
    return source_decode(upload.read(MAX_SOURCE_BYTES + 1), filename=upload.name)


def source_decode(raw: bytes, *, filename: str) -> str:
    if len(raw) > MAX_SOURCE_BYTES:
        raise ValidationError(f"{filename} is larger than {MAX_SOURCE_BYTES // 1024} KiB.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{filename} is not UTF-8 text (byte {exc.start}).") from exc


def _source_check(source: str, source_name: str) -> dict:
    if not source_name.endswith(SOURCE_SUFFIXES):
        raise ValidationError(
            f"The model source must be a .py file (or .py3), not {source_name!r}."
        )
    attachment_name_clean(source_name)
    try:
        return parse_smart_tags(source, filename=source_name).as_dict()
    except SmartTagError as exc:
        raise ValidationError(str(exc)) from exc


def source_check(*, source_name: str, source: str) -> dict:
    """The smart tags of SOURCE, or ValidationError; forms (e.g. the admin's) validate with it
    before calling snapshot_create, so a refusal shows on the form."""
    return _source_check(source, source_name)


@transaction.atomic
def model_create(
    *,
    owner,
    team,
    name: str,
    source_name: str,
    source: str,
    description: str = "",
    tags: Iterable[str] = (),
    attachments: Iterable[File] = (),
    notes: str = "",
    runtime_tags: Iterable[str] = (),
) -> Model:
    """Register a model with its first snapshot (version 1)."""
    smart_tags = _source_check(source, source_name)  # refuse before anything is written
    model = Model.objects.create(
        owner=owner, team=team, name=name, description=description, tags=list(tags)
    )
    snapshot_create(
        model=model,
        created_by=owner,
        source_name=source_name,
        source=source,
        attachments=attachments,
        notes=notes,
        runtime_tags=runtime_tags,
        _smart_tags=smart_tags,
    )
    audit_record(action=Action.MODEL_CREATED, actor=owner, obj=model, details={"team": team.name})
    return model


def snapshot_add_version(
    *,
    model: Model,
    created_by,
    source_name: str,
    source: str,
    uploads: Iterable[File] = (),
    keep_attachments: bool = True,
    notes: str = "",
    runtime_tags: Iterable[str] | None = None,
) -> Snapshot:
    """A new version of MODEL from a person (page or API): its parent is the newest snapshot,
    whose attachments it keeps (KEEP_ATTACHMENTS) unless an upload or the source has the name."""
    uploads = list(uploads)
    parent = model.latest_snapshot()
    carried = []
    if keep_attachments and parent is not None:
        replaced = {f.name for f in uploads} | {source_name}
        # Named by their attachment names: the storage path has folders, which are refused.
        carried = [
            File(attachment.file.open("rb"), name=attachment.name)
            for attachment in parent.attachments.all()
            if attachment.name not in replaced
        ]
    try:
        return snapshot_create(
            model=model,
            created_by=created_by,
            source_name=source_name,
            source=source,
            attachments=[*uploads, *carried],
            notes=notes,
            runtime_tags=runtime_tags,
            parent=parent,
        )
    finally:
        for file in carried:
            file.close()


@transaction.atomic
def snapshot_create(
    *,
    model: Model,
    created_by,
    source_name: str,
    source: str,
    attachments: Iterable[File] = (),
    notes: str = "",
    tags: Iterable[str] = (),
    parent: Snapshot | None = None,
    training_job=None,
    training_data: dict | None = None,
    runtime_tags: Iterable[str] | None = None,
    _smart_tags: dict | None = None,
) -> Snapshot:
    """A new immutable snapshot, numbered one above the model's newest. RUNTIME_TAGS (the tags
    a runtime needs to run it) are the parent's when not given."""
    smart_tags = _smart_tags or _source_check(source, source_name)
    if runtime_tags is None:
        runtime_tags = parent.runtime_tags if parent is not None else []
    runtime_tags = runtime_tags_clean(runtime_tags)
    files = list(attachments)
    names = [attachment_name_clean(f.name) for f in files]
    if len(set(names)) != len(names):
        raise ValidationError("Two attachments have the same name.")
    if source_name in names:
        raise ValidationError(f"An attachment cannot have the source's name ({source_name}).")
    attachment_sizes_check(files)  # before anything is written
    # Lock the model row so two concurrent snapshots cannot take the same version number.
    Model.objects.select_for_update().filter(pk=model.pk).first()
    latest = model.snapshots.aggregate(v=Max("version"))["v"] or 0
    snapshot = Snapshot.objects.create(
        model=model,
        version=latest + 1,
        source_name=source_name,
        source=source,
        smart_tags=smart_tags,
        notes=notes,
        tags=list(tags),
        runtime_tags=runtime_tags,
        created_by=created_by,
        parent=parent,
        training_job=training_job,
        training_data=training_data or {},
    )
    for upload, name in zip(files, names, strict=True):
        attachment_add(snapshot=snapshot, name=name, content=upload)
    audit_record(
        action=Action.SNAPSHOT_REGISTERED, actor=created_by, obj=snapshot,
        details={"model": str(model.uuid), "version": snapshot.version, "attachments": names,
                 **({"training_job": str(training_job.uuid)} if training_job else {})},
    )  # fmt: skip
    return snapshot


def attachment_add(*, snapshot: Snapshot, name: str, content: File) -> Attachment:
    digest = hashlib.sha256()
    size = 0
    if hasattr(content, "seek"):
        content.seek(0)
    for chunk in content.chunks() if hasattr(content, "chunks") else [content.read()]:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(content, "seek"):
        content.seek(0)
    attachment = Attachment(snapshot=snapshot, name=name, size=size, sha256=digest.hexdigest())
    attachment.file.save(name, content, save=False)
    attachment.save()
    return attachment


def attachment_from_bytes(name: str, data: bytes) -> ContentFile:
    return ContentFile(data, name=name)


def model_may_change(*, user, model: Model) -> bool:
    """Whether USER may change MODEL (new versions, champion): its team's members and staff,
    the same people who see it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return model_list(user=user).filter(pk=model.pk).exists()


@transaction.atomic
def snapshot_promote(
    *,
    snapshot: Snapshot,
    user=None,
    source: str,
    reason: str = "",
    process_run=None,
) -> Promotion:
    """Make SNAPSHOT its model's champion (the snapshot jobs created by model use) and record
    the change as a Promotion and an audit event.

    USER None means the system (an MLC process, SOURCE "process"); a person must be allowed to
    change the model (PermissionDenied otherwise). Promoting the current champion again is
    refused (ValidationError), except for the same PROCESS_RUN, which gets its earlier
    Promotion back, so a process step retried after a crash promotes once.
    """
    if source not in Promotion.Source.values:
        raise ValidationError(f"Unknown promotion source {source!r}.")
    if user is None and source != Promotion.Source.PROCESS:
        raise ValidationError("Only a process may promote without a user.")
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise ValidationError("The reason is longer than 2,000 characters.")
    model = snapshot.model
    if user is not None and not model_may_change(user=user, model=model):
        raise PermissionDenied(f"You may not change the model “{model.name}”.")
    # Lock the model row: two promotions at once must each see the other's champion as previous.
    model = Model.objects.select_for_update().get(pk=model.pk)
    if process_run is not None:
        earlier = Promotion.objects.filter(
            model=model, snapshot=snapshot, process_run=process_run
        ).first()
        if earlier is not None:
            return earlier
    if model.champion_id == snapshot.pk:
        raise ValidationError(
            f"Version {snapshot.version} is already the champion of “{model.name}”."
        )
    previous = model.champion
    model.champion = snapshot
    model.save(update_fields=["champion", "updated_at"])
    promotion = Promotion.objects.create(
        model=model,
        snapshot=snapshot,
        previous=previous,
        promoted_by=user,
        source=source,
        process_run=process_run,
        reason=reason,
    )
    audit_record(
        action=Action.MODEL_PROMOTED, actor=user, obj=model,
        details={"snapshot": str(snapshot.uuid), "version": snapshot.version,
                 "previous": previous.version if previous else None, "source": source,
                 **({"process_run": str(process_run)} if process_run else {}),
                 **({"reason": reason} if reason else {})},
    )  # fmt: skip
    return promotion
