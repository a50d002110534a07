"""The wizard's S3, HDFS and SQL assets: their fields per kind, their checks, their sizes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import ValidationError

from jobs.forms import no_connections_message
from jobs.models import JobAsset
from jobs.services import EXTERNAL_KINDS
from jobs.views._common import call_all_with_timeout

logger = logging.getLogger(__name__)

# The review step asks external inputs for their size over the network; it waits this long.
SIZE_TIMEOUT = 2.0


def kind_groups(form) -> dict:
    """Per external kind: its fields and whether the user has any connection of it."""
    return {
        "external_groups": [
            {
                "kind": kind,
                "connection": form[f"{kind}_connection"],
                "where": form[form.where_field(kind)],
                "available": bool(form.connection_counts[kind]),
                "no_connections": no_connections_message(kind),
            }
            for kind in EXTERNAL_KINDS
        ]
    }


def location_check(form, *, kind: str, connection, where: str, direction: str) -> str | None:
    """The cleaned location (or SQL) of an external asset, or None with the reason added to
    FORM: a bad URL, SQL that writes, a kind this installation cannot read yet."""
    from jobs.assets import location_validate

    is_query = kind == JobAsset.Kind.SQL and direction == JobAsset.Direction.INPUT
    try:
        return location_validate(
            kind=kind, connection=connection, location="" if is_query else where,
            query=where if is_query else "", direction=direction,
        )  # fmt: skip
    except ValidationError as exc:
        form.add_error(form.where_field(kind), exc)
    except ImportError:
        form.add_error("kind", f"{JobAsset.Kind(kind).label} assets are not supported yet.")
    except Exception:  # a half-configured kind must not turn the step into a 500
        logger.exception("checking a %s location failed", kind)
        form.add_error(form.where_field(kind), "This could not be checked; the error is logged.")
    return None


def external_sizes(items: list[dict]) -> None:
    """Fill each external input's size where its kind learns it quickly (a HEAD request, a
    directory listing); every call runs at once, all within SIZE_TIMEOUT seconds together.
    An input whose size is not known by then, or whose size fails, shows "size unknown", with
    the reason when its kind gave one (e.g. more objects under an S3 prefix than a job reads)."""
    from jobs.assets import AssetError, input_source

    def size_of(item: dict) -> Callable[[], int | None]:
        asset = JobAsset(
            direction=JobAsset.Direction.INPUT, kind=item["kind"],
            connection=item["connection_row"], location=item.get("location", ""),
            query=item.get("query", ""), format=item.get("format") or "jsonl",
        )  # fmt: skip
        return lambda: input_source(asset).size()

    external = [item for item in items if item["kind"] in EXTERNAL_KINDS]
    calls = call_all_with_timeout([size_of(item) for item in external], timeout=SIZE_TIMEOUT)
    for item, (finished, size, error) in zip(external, calls, strict=True):
        if error is not None:
            logger.info("size of input %s unknown: %s", item.get("location"), error)
        item["size"] = size if finished and error is None else None
        item["size_note"] = str(error) if isinstance(error, AssetError) else ""
