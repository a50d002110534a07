"""Runtime tags, as staff type them (runtimes) and model owners ask for them (snapshots)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,49}$")


def runtime_tags_clean(value: str | Iterable[str] | None) -> list[str]:
    """A list of tags from "PROD, gpu" (or a list), blanks and repeats (in any case) dropped;
    ValidationError naming a tag that is not letters, digits and - _ . : +."""
    if value is None:
        return []
    items = value.replace("\n", ",").split(",") if isinstance(value, str) else list(value)
    tags: list[str] = []
    for item in items:
        tag = str(item).strip()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise ValidationError(
                f"{tag!r} is not a tag: use letters, digits and - _ . : + (up to 50), and "
                "separate tags with commas."
            )
        if tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    return tags
