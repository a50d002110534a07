"""Uploaded files are bounded while they stream in, not once they are on disk.

BoundedUploadHandler comes first in FILE_UPLOAD_HANDLERS. A view declares its limits with
@upload_limits (a DRF view with an ``upload_limits`` class attribute) and then shows
upload_refusals(request) as form errors or a 400: a refused file is never silently absent.
A request whose Content-Length is above the view's total is refused before its first file is
read; a file that grows past the per-file limit is dropped at that byte (its temporary file is
deleted at once) and the rest of the request is still read, so the form's other fields and the
CSRF token arrive.

It also hashes every file as it streams through (SHA-256) and sets the digest on the uploaded
file the next handler gives (``uploaded.sha256``): what the server computed from the bytes it
received, never what a client claims.

A view that declares nothing (the admin's forms) gets attachment_limits(), and a refusal there
is a plain 400 (RequestDataTooBig), since such a view would not look for refusals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.template.defaultfilters import filesizeformat

REFUSALS_ATTR = "upload_refusals"


@dataclass(frozen=True)
class UploadLimits:
    file_bytes: int  # one file
    file_setting: str  # the setting that sets it, named in messages
    request_bytes: int  # the whole request body


def attachment_limits() -> UploadLimits:
    """A model's source and attachments; also views that declare nothing (the admin's)."""
    return UploadLimits(
        file_bytes=settings.ATTACHMENT_MAX_BYTES,
        file_setting="ATTACHMENT_MAX_BYTES",
        request_bytes=settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES
        + settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    )


def input_file_limits() -> UploadLimits:
    """A job's uploaded input file (the wizard's input step, POST /api/uploads/)."""
    return UploadLimits(
        file_bytes=settings.UPLOAD_MAX_BYTES,
        file_setting="UPLOAD_MAX_BYTES",
        request_bytes=settings.UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    )


def upload_limits(limits: Callable[[], UploadLimits]):
    """Declare a function view's limits (read at each request, so settings may change); the
    view promises to show upload_refusals(request)."""

    def decorate(view):
        view.upload_limits = limits
        return view

    return decorate


def _declared(request) -> Callable[[], UploadLimits] | None:
    func = getattr(getattr(request, "resolver_match", None), "func", None)
    return getattr(func, "upload_limits", None) or getattr(
        getattr(func, "cls", None), "upload_limits", None
    )


def size_text(size: int) -> str:
    """E.g. "512.0 MB (536,870,912 bytes)": plain spaces, as API messages are plain text."""
    return f"{filesizeformat(size)} ({size:,} bytes)".replace("\xa0", " ")


def upload_refusals(request) -> list[tuple[str | None, str]]:
    """(field name or None, message) for each file or request refused while streaming."""
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    return list(getattr(request, REFUSALS_ATTR, ()))


class BoundedUploadHandler(FileUploadHandler):
    """Counts bytes as they arrive and stops what is over the view's limits; passes every
    chunk on unchanged to the next handler (memory or temporary file)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        declared = _declared(self.request)
        self.declared = declared is not None
        self.limits = (declared or attachment_limits)()
        self.received = 0
        self.over_request = content_length > self.limits.request_bytes
        return None  # Django's parser goes on

    def _refuse(self, field: str | None, message: str) -> None:
        if not self.declared:
            self._close_partial()
            raise RequestDataTooBig(message)
        refusals = getattr(self.request, REFUSALS_ATTR, None)
        if refusals is None:
            refusals = []
            setattr(self.request, REFUSALS_ATTR, refusals)
        refusals.append((field, message))

    def _close_partial(self) -> None:
        """The other handlers' file in progress (a temporary file is deleted on close)."""
        for handler in self.request.upload_handlers:
            if handler is not self and hasattr(handler, "file"):
                handler.file.close()

    def _request_too_large(self) -> None:
        self._refuse(
            None,
            f"The upload is larger than {size_text(self.limits.request_bytes)}, the most one "
            "request may carry here; nothing was stored.",
        )
        raise StopUpload(connection_reset=True)

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.digest = hashlib.sha256()
        if self.over_request:
            # Not a byte of any file is read: what came before (fields, the CSRF token) stays.
            self._request_too_large()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limits.request_bytes:  # a Content-Length that lied
            self._request_too_large()
        if start + len(raw_data) > self.limits.file_bytes:
            self._refuse(
                self.field_name,
                f"{self.file_name} is larger than {size_text(self.limits.file_bytes)}, the "
                f"largest file allowed here ({self.limits.file_setting}); it was not stored.",
            )
            raise SkipFile  # the parser closes (deletes) its temporary file
        self.digest.update(raw_data)
        return raw_data

    def file_complete(self, file_size: int):
        """The next handlers' file (memory or temporary), with its SHA-256 set on it: the
        parser asks no handler after the one that gives it."""
        handlers = self.request.upload_handlers
        for handler in handlers[handlers.index(self) + 1 :]:
            uploaded = handler.file_complete(file_size)
            if uploaded:
                uploaded.sha256 = self.digest.hexdigest()
                return uploaded
        return None
