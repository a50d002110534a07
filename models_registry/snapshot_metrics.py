"""Each snapshot's key metrics, from its latest complete metrics job, and a chart of them across
versions for the model page (so v1 and v2 can be told apart at a glance)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import F, OuterRef, Subquery
from django.utils.safestring import SafeString

from jobs import charts
from jobs.models import Job, JobStatus, JobType
from jobs.views.metrics import HEADLINE, HEADLINE_LABELS, _is_number, fmt, metric_dicts
from models_registry.models import Snapshot

KEYS_SHOWN = 4  # metrics a snapshot row shows, and the chart draws
FLAT_KEYS_READ = 200  # top-level keys of a metrics dict looked at for numbers (no headline key)
VERSIONS_CHARTED = charts.MAX_CATEGORIES  # the newest versions whose metrics are read


@dataclass
class KeyMetrics:
    job: Job
    values: dict[str, float] = field(default_factory=dict)  # key → number, in display order

    def shown(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        return [(label(k), fmt(self.values[k])) for k in keys if k in self.values]


def label(key: str) -> str:
    return HEADLINE_LABELS.get(key, key)


def _numbers(metrics: object) -> dict[str, float]:
    """The headline numbers of the job's first metric set, or else its first flat numeric keys
    (a ModelOp metrics function may yield any flat keys)."""
    dicts = metric_dicts(metrics)
    if not dicts:
        return {}
    first = dicts[0]
    found = {k: first[k] for k, _ in HEADLINE if _is_number(first.get(k))}
    if found:
        return found
    for index, (key, value) in enumerate(first.items()):
        if index >= FLAT_KEYS_READ or len(found) >= KEYS_SHOWN:
            break
        if _is_number(value):
            found[str(key)] = value
    return found


def snapshot_key_metrics(*, snapshots: Sequence[Snapshot]) -> dict[int, KeyMetrics]:
    """Snapshot pk → the key metrics of its latest complete metrics job (snapshots without one
    are left out), for the newest VERSIONS_CHARTED of SNAPSHOTS: each job's metrics JSON is
    read whole. Two queries."""
    snapshots = sorted(snapshots, key=lambda s: s.version, reverse=True)[:VERSIONS_CHARTED]
    latest = (
        Job.objects.filter(
            snapshot=OuterRef("pk"),
            job_type=JobType.METRICS,
            status=JobStatus.COMPLETE,
            metrics__isnull=False,
        )
        .order_by(F("finished_at").desc(nulls_last=True), "-id")
        .values("pk")[:1]
    )
    job_ids = (
        Snapshot.objects.filter(pk__in=[s.pk for s in snapshots])
        .annotate(metrics_job=Subquery(latest))
        .exclude(metrics_job=None)
        .values_list("pk", "metrics_job")
    )
    by_job = dict((job, snap) for snap, job in job_ids)
    found = {}
    for job in Job.objects.filter(pk__in=by_job).only("uuid", "metrics", "snapshot_id"):
        values = _numbers(job.metrics)
        if values:
            found[by_job[job.pk]] = KeyMetrics(job=job, values=values)
    return found


def chart_keys(key_metrics: dict[int, KeyMetrics]) -> list[str]:
    """The keys shown for every snapshot: the headline ones first, then the commonest."""
    counts = Counter(k for m in key_metrics.values() for k in m.values)
    order = {k: i for i, (k, _) in enumerate(HEADLINE)}
    ranked = sorted(counts, key=lambda k: (k not in order, order.get(k, 0), -counts[k], k))
    return ranked[:KEYS_SHOWN]


def versions_chart(
    snapshots: Sequence[Snapshot], key_metrics: dict[int, KeyMetrics], keys: Sequence[str]
) -> SafeString | None:
    """Grouped bars, one group per version (oldest first), one bar per key; None when fewer than
    one version has metrics."""
    measured = sorted((s for s in snapshots if s.pk in key_metrics), key=lambda s: s.version)
    measured = measured[-VERSIONS_CHARTED:]
    if not measured or not keys:
        return None
    series = [(label(key), [key_metrics[s.pk].values.get(key) for s in measured]) for key in keys]
    return charts.bar_chart(
        [f"v{s.version}" for s in measured],
        series,
        uid="versions-metrics",
        title="Key metrics by version",
        x_label="Version",
        y_label="Value",
    )
