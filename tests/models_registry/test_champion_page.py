"""The model page's champion: the badge, the Promote button (a plain form, no JavaScript
needed), the history, and each version's key metrics with a chart across versions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobStatus, JobType
from models_registry.models import Promotion
from models_registry.services import snapshot_promote
from tests.factories import SnapshotFactory


@pytest.fixture
def versions(alice_model):
    return [SnapshotFactory(model=alice_model, version=v) for v in (1, 2)]


def _metrics_job(snapshot, metrics, *, status=JobStatus.COMPLETE, minutes_ago=0):
    return Job.objects.create(
        snapshot=snapshot, created_by=snapshot.created_by, status=status,
        job_type=JobType.METRICS, metrics=metrics,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def _page(client, model) -> str:
    response = client.get(reverse("registry-model-detail", args=[model.uuid]))
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, version: int) -> str:
    match = re.search(
        rf'<tr[^>]*>\s*<td class="nowrap"><a href="[^"]+">v{version}</a>.*?</tr>', html, re.S
    )
    assert match, f"no row for v{version}"
    return match.group(0)


def test_each_snapshot_offers_a_promote_form_with_csrf(alice_client, versions):
    html = _page(alice_client, versions[0].model)
    for snapshot in versions:
        row = _row(html, snapshot.version)
        action = reverse("registry-snapshot-promote", args=[snapshot.uuid])
        assert f'method="post" action="{action}"' in row
        assert 'name="csrfmiddlewaretoken"' in row
    assert "none — jobs created by model use the newest snapshot" in html


def test_a_plain_post_promotes_and_the_page_shows_badge_and_history(alice_client, versions):
    v1, v2 = versions
    url = reverse("registry-snapshot-promote", args=[v1.uuid])
    response = alice_client.post(url, {"reason": "passed review"}, follow=True)
    assert response.redirect_chain[-1][0] == v1.model.get_absolute_url()
    html = response.content.decode()
    assert "Version 1 is now the champion." in html
    assert "badge-champion" in _row(html, 1)
    assert "badge-champion" not in _row(html, 2)
    assert reverse("registry-snapshot-promote", args=[v1.uuid]) not in html  # already champion
    history = html[html.index('id="promotions"') :]
    assert "passed review" in history and "alice" in history and "Model page" in history
    promotion = Promotion.objects.get()
    assert (promotion.snapshot, promotion.source, promotion.promoted_by.username) == (
        v1,
        "page",
        "alice",
    )


def test_the_history_names_the_previous_champion(alice_client, alice, bob, versions):
    v1, v2 = versions
    snapshot_promote(snapshot=v1, user=alice, source="api")
    snapshot_promote(snapshot=v2, user=bob, source="cli", reason="better auc")
    html = _page(alice_client, v1.model)
    history = html[html.index('id="promotions"') : html.index("Recent jobs")]
    rows = re.findall(r"<tr>.*?</tr>", history[history.index("<tbody>") :], re.S)
    assert len(rows) == 2
    assert ">v2</a>" in rows[0] and ">v1</a>" in rows[0] and "bob" in rows[0]
    assert "better auc" in rows[0] and "moc" in rows[0]
    assert ">v1</a>" in rows[1] and "none" in rows[1] and "API" in rows[1]


def test_an_outsider_cannot_promote_and_sees_nothing(charlie_client, versions):
    v1, _ = versions
    response = charlie_client.post(reverse("registry-snapshot-promote", args=[v1.uuid]))
    assert response.status_code == 404
    v1.model.refresh_from_db()
    assert v1.model.champion is None
    assert not Promotion.objects.exists()


def test_promote_needs_login_and_post(alice_client, versions):
    url = reverse("registry-snapshot-promote", args=[versions[0].uuid])
    assert Client().post(url).status_code == 302  # to the login page
    assert alice_client.get(url).status_code == 405
    assert not Promotion.objects.exists()


def test_promoting_the_champion_again_says_so_and_is_not_a_500(alice_client, alice, versions):
    v1, _ = versions
    snapshot_promote(snapshot=v1, user=alice, source="page")
    url = reverse("registry-snapshot-promote", args=[v1.uuid])
    response = alice_client.post(url, {"reason": "again"}, follow=True)
    assert response.status_code == 200
    assert "already the champion" in response.content.decode()
    assert Promotion.objects.count() == 1


def test_a_too_long_reason_is_refused_with_a_message(alice_client, versions):
    url = reverse("registry-snapshot-promote", args=[versions[0].uuid])
    response = alice_client.post(url, {"reason": "x" * 2001}, follow=True)
    assert response.status_code == 200
    assert "at most 2000 characters" in response.content.decode()
    assert not Promotion.objects.exists()


def test_each_version_shows_its_latest_metrics_and_a_chart_across_versions(alice_client, versions):
    v1, v2 = versions
    _metrics_job(v1, {"auc": 0.5, "accuracy": 0.6}, minutes_ago=10)
    latest = _metrics_job(v1, {"auc": 0.812345, "accuracy": 0.7, "f1_score": 0.66666})
    _metrics_job(v1, {"auc": 0.1}, status=JobStatus.ERROR)  # not complete: not read
    _metrics_job(v2, [{"auc": 0.912345, "accuracy": 0.8, "labels": ["a", "b"]}])
    html = _page(alice_client, v1.model)
    row1, row2 = _row(html, 1), _row(html, 2)
    assert "AUC <strong>0.8123</strong>" in row1
    assert "F1 <strong>0.6667</strong>" in row1
    assert latest.get_absolute_url() in row1
    assert "AUC <strong>0.9123</strong>" in row2
    chart = html[html.index('<svg class="plot-svg"') : html.index("</svg>")]
    assert "Key metrics by version" in chart
    assert ">v1</text>" in chart and ">v2</text>" in chart
    assert "AUC · v2: 0.9123" in chart
    assert "Accuracy · v1: 0.7" in chart


def test_flat_keys_of_a_modelop_metrics_function_are_shown(alice_client, versions):
    _metrics_job(versions[0], {"ks_statistic": 0.43219, "gini": 0.61, "note": "text"})
    html = _page(alice_client, versions[0].model)
    row = _row(html, 1)
    assert "ks_statistic <strong>0.4322</strong>" in row
    assert "gini <strong>0.61</strong>" in row
    assert "note" not in row


def test_odd_metrics_never_break_the_page(alice_client, versions):
    _metrics_job(versions[0], ["not a dict", 3])
    _metrics_job(versions[1], {"auc": "0.9", "accuracy": True, "nested": {"auc": 0.9}})
    html = _page(alice_client, versions[0].model)
    assert "Key metrics by version" not in html
    assert "<strong>" not in _row(html, 1) and "<strong>" not in _row(html, 2)


def test_a_teammate_may_promote_from_the_page(client, bob, versions):
    client.force_login(bob)
    html = _page(client, versions[0].model)
    assert "No snapshot has been promoted" in html
    url = reverse("registry-snapshot-promote", args=[versions[1].uuid])
    assert url in _row(html, 2)
    assert client.post(url).status_code == 302
    assert Promotion.objects.get().promoted_by == bob


def test_a_model_without_snapshots_renders(alice_client, alice_model):
    html = _page(alice_client, alice_model)
    assert "has no snapshot yet" in html and "Key metrics by version" not in html


def test_the_model_list_and_the_snapshot_page_show_the_champion(alice_client, alice, versions):
    v1, v2 = versions
    snapshot_promote(snapshot=v2, user=alice, source="page")
    listing = alice_client.get(reverse("registry-model-list")).content.decode()
    assert '<span class="badge badge-champion">v2</span>' in listing
    page = alice_client.get(reverse("registry-snapshot-detail", args=[v2.uuid])).content.decode()
    assert "badge-champion" in page
    other = alice_client.get(reverse("registry-snapshot-detail", args=[v1.uuid])).content.decode()
    assert "badge-champion" not in other


def test_only_the_newest_versions_metrics_are_read(alice_client, alice_model, monkeypatch):
    from models_registry import snapshot_metrics

    monkeypatch.setattr(snapshot_metrics, "VERSIONS_CHARTED", 2)
    for version in (1, 2, 3):
        _metrics_job(SnapshotFactory(model=alice_model, version=version), {"auc": version / 10})
    html = _page(alice_client, alice_model)
    assert "AUC <strong>0.3</strong>" in _row(html, 3)
    assert "AUC <strong>0.2</strong>" in _row(html, 2)
    assert "<strong>" not in _row(html, 1)
    chart = html[html.index('<svg class="plot-svg"') : html.index("</svg>")]
    assert ">v1</text>" not in chart and ">v3</text>" in chart
