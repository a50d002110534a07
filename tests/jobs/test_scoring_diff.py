"""The scoring diff of two scoring jobs on one input: the numbers, the page, its link."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from jobs import scoring_diff as diffing
from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.scoring_diff import DiffError, scoring_diff
from tests.factories import SnapshotFactory


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def scoring_job(snapshot, user, records, *, fmt="jsonl", status=JobStatus.COMPLETE, data="x\n"):
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, status=status, job_type=JobType.SCORING
    )
    JobAsset.objects.create(job=job, direction="in", kind="embedded", name="in.csv", data=data)
    out = JobAsset(job=job, direction="out", kind="embedded", name=f"out.{fmt}", format=fmt)
    if records is not None:
        if fmt == "parquet":
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(records), sink)
            content = sink.getvalue().to_pybytes()
        elif fmt == "csv":
            keys = list(records[0])
            lines = [",".join(keys)] + [",".join(str(r[k]) for k in keys) for r in records]
            content = ("\n".join(lines) + "\n").encode()
        else:
            content = "".join(json.dumps(r) + "\n" for r in records).encode()
        out.file.save(out.name, ContentFile(content), save=False)
    out.save()
    return job


def records(scores, regions=None):
    return [
        {"id": i, "score": s, "region": (regions or ["north", "south"])[i % 2]}
        for i, s in enumerate(scores)
    ]


def test_agreement_top_disagreements_and_segments(alice_snapshot, alice):
    champion = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.4, 0.8, 0.2, 0.7]))
    v2 = SnapshotFactory(model=alice_snapshot.model, version=2)
    # B reverses records 2 and 3 (across 0.5) and nudges record 5.
    challenger = scoring_job(v2, alice, records([0.1, 0.9, 0.6, 0.3, 0.2, 0.65]), fmt="parquet")
    diff = scoring_diff(a=champion, b=challenger, segment="region")
    assert (diff.key, diff.score, diff.records) == ("id", "score", 6)
    assert diff.agreement == pytest.approx(4 / 6)
    assert [row["record"] for row in diff.top] == [3, 2, 5]
    assert diff.top[0]["difference"] == pytest.approx(0.5)
    segments = {row["segment"]: row for row in diff.segments}
    assert segments["north"]["agreement_rate"] == pytest.approx(2 / 3)  # ids 0, 2, 4
    assert segments["south"]["agreement_rate"] == pytest.approx(2 / 3)  # ids 1, 3, 5
    assert sum(diff.histogram["a"]) == sum(diff.histogram["b"]) == 6


def test_records_are_joined_on_their_id_not_their_order(alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.3]))
    b = scoring_job(alice_snapshot, alice, list(reversed(records([0.1, 0.9, 0.3]))), fmt="csv")
    diff = scoring_diff(a=a, b=b)
    assert diff.agreement == 1.0 and diff.top == [] and diff.mean_abs_difference == 0


def test_without_an_id_the_order_joins_and_labels_compare_as_text(alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, [{"label": x} for x in "yynn"])
    b = scoring_job(alice_snapshot, alice, [{"label": x} for x in "ynnn"])
    diff = scoring_diff(a=a, b=b)
    assert diff.key == "" and not diff.numeric and diff.agreement == 0.75
    assert diff.top == [{"record": 2, "a": "y", "b": "n", "difference": None, "segment": None}]


def test_a_bounded_sample_is_read_and_said(alice_snapshot, alice, monkeypatch):
    monkeypatch.setattr(diffing, "SAMPLE_LIMIT", 50)
    monkeypatch.setattr(diffing, "CHUNK_ROWS", 7)
    a = scoring_job(alice_snapshot, alice, records([0.5] * 120))
    b = scoring_job(alice_snapshot, alice, records([0.5] * 120))
    diff = scoring_diff(a=a, b=b)
    assert (diff.read_a, diff.read_b, diff.records, diff.truncated) == (50, 50, 50, True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": JobStatus.RUNNING}, "job B is running, not complete"),
        ({"records": None}, "job B has no stored output file to read"),
        ({"records": [{"other": "x"}]}, "no score column in both outputs"),
    ],
)
def test_jobs_that_cannot_be_diffed_say_why(alice_snapshot, alice, change, message):
    a = scoring_job(alice_snapshot, alice, records([0.1, 0.2]))
    b = scoring_job(alice_snapshot, alice, change.pop("records", records([0.3])), **change)
    with pytest.raises(DiffError, match=message):
        scoring_diff(a=a, b=b)


@pytest.mark.parametrize("segment", ["score", "id"])
def test_a_segment_must_be_another_column(alice_snapshot, alice, segment):
    a = scoring_job(alice_snapshot, alice, records([0.1, 0.2]))
    b = scoring_job(alice_snapshot, alice, records([0.1, 0.3]))
    with pytest.raises(DiffError, match="segment by a column other than the score and the id"):
        scoring_diff(a=a, b=b, segment=segment)


def test_infinite_or_missing_scores_are_compared_as_text(alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, [{"id": 1, "score": 0.5}, {"id": 2, "score": None}])
    b = scoring_job(alice_snapshot, alice, [{"id": 1, "score": 0.5}, {"id": 2, "score": 0.1}])
    diff = scoring_diff(a=a, b=b)
    assert not diff.numeric and diff.agreement == 0.5


def test_a_missing_output_file_is_a_clear_error(alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, records([0.1]))
    b = scoring_job(alice_snapshot, alice, records([0.1]))
    b.output_asset().file.delete(save=False)
    with pytest.raises(DiffError, match="job B's output file is missing from storage"):
        scoring_diff(a=a, b=b)


def test_the_page_shows_the_diff_and_the_job_page_links_to_it(alice_client, alice_snapshot, alice):
    a = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.4, 0.8]))
    b = scoring_job(alice_snapshot, alice, records([0.1, 0.9, 0.6, 0.8]))
    other_input = scoring_job(alice_snapshot, alice, records([0.1]), data="y\n")
    job_page = alice_client.get(reverse("jobs-detail", args=[a.uuid])).content.decode()
    url = reverse("jobs-scoring-diff", args=[a.uuid])
    assert f'href="{url}">Compare with another scoring job on this input</a>' in job_page
    form = alice_client.get(url).content.decode()
    options = [o.split('"')[0] for o in form.split('<option value="')[1:]]
    assert options[0] == str(b.uuid) and options[-1] == str(other_input.uuid)  # same input first
    assert "· same input</option>" in form and "· another input</option>" in form
    html = alice_client.get(url, {"other": str(b.uuid), "segment": "region"}).content.decode()
    assert '<dd class="diff-agreement">75%</dd>' in html
    assert "Distribution of score</title>" in html
    assert '<table class="table compact diff-top">' in html and "<h2>By region</h2>" in html
    bad = alice_client.get(url, {"other": str(b.uuid), "segment": "nope"})
    assert bad.status_code == 200
    assert "the segment column &#x27;nope&#x27; is not in both outputs" in bad.content.decode()


def test_the_page_checks_ownership(alice_client, charlie_client, alice_snapshot, alice, charlie):
    a = scoring_job(alice_snapshot, alice, records([0.1]))
    theirs = scoring_job(SnapshotFactory(model__owner=charlie), charlie, records([0.1]))
    url = reverse("jobs-scoring-diff", args=[a.uuid])
    assert charlie_client.get(url).status_code == 404
    alice_client.force_login(alice)
    assert alice_client.get(url, {"other": str(theirs.uuid)}).status_code == 404
    assert alice_client.get(url, {"other": "nope"}).status_code == 200
