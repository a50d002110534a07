from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from django.urls import reverse

from models_registry.models import Attachment, Model, Snapshot
from models_registry.services import attachment_add
from tests.factories import ECHO_SOURCE, GroupFactory, ModelFactory, SnapshotFactory


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def attachment(alice_snapshot):
    return attachment_add(
        snapshot=alice_snapshot, name="weights.bin", content=ContentFile(b"\x00" * 2048)
    )


def _source(text: str = ECHO_SOURCE, name: str = "model.py") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/x-python")


def _register(client, team, **overrides):
    data = {
        "name": "churn",
        "description": "Predicts churn.",
        "team": team.pk,
        "tags": "classification, churn, classification",
        "source": _source(),
        "notes": "first cut",
    } | overrides
    return client.post(reverse("registry-model-create"), data)


def _object_urls(snapshot, attachment) -> list[str]:
    return [
        reverse("registry-model-detail", args=[snapshot.model.uuid]),
        reverse("registry-snapshot-detail", args=[snapshot.uuid]),
        reverse("registry-snapshot-source", args=[snapshot.uuid]),
        reverse("registry-attachment-download", args=[snapshot.uuid, attachment.name]),
    ]


# --- Access ----------------------------------------------------------------------------------


def test_every_registry_page_requires_login(client, alice_snapshot, attachment):
    urls = [reverse("registry-model-list"), reverse("registry-model-create")]
    urls += _object_urls(alice_snapshot, attachment)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_outsider_gets_404_on_every_object_page(charlie_client, alice_snapshot, attachment):
    for url in _object_urls(alice_snapshot, attachment):
        assert charlie_client.get(url).status_code == 404, url


def test_outsider_cannot_add_a_snapshot_to_another_teams_model(charlie_client, alice_snapshot):
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    response = charlie_client.post(url, {"source": _source()})
    assert response.status_code == 404
    assert alice_snapshot.model.snapshots.count() == 1


def test_teammate_sees_the_model_snapshot_and_files(client, bob, alice_snapshot, attachment):
    client.force_login(bob)
    for url in _object_urls(alice_snapshot, attachment):
        assert client.get(url).status_code == 200, url


def test_staff_sees_every_teams_models(client, staff, alice_snapshot, attachment):
    client.force_login(staff)
    assert alice_snapshot.model.name in client.get(reverse("registry-model-list")).text
    for url in _object_urls(alice_snapshot, attachment):
        assert client.get(url).status_code == 200, url


def test_model_list_shows_only_the_users_teams_models(alice_client, alice_snapshot):
    ModelFactory(name="gamma-secret", team=GroupFactory(name="gamma"))
    page = alice_client.get(reverse("registry-model-list")).text
    assert "echo" in page and "v1" in page
    assert "gamma-secret" not in page


def test_attachment_download_streams_the_file(alice_client, alice_snapshot, attachment):
    url = reverse("registry-attachment-download", args=[alice_snapshot.uuid, "weights.bin"])
    response = alice_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x00" * 2048
    assert 'filename="weights.bin"' in response["Content-Disposition"]


def test_unknown_attachment_name_is_404(alice_client, alice_snapshot):
    url = reverse("registry-attachment-download", args=[alice_snapshot.uuid, "nope.bin"])
    assert alice_client.get(url).status_code == 404


# --- Register a model --------------------------------------------------------------------------


def test_register_model_creates_version_1_with_attachments(alice_client, alice, team_alpha):
    schema = SimpleUploadedFile("input_schema.avsc", b'{"type": "record"}')
    pickle = SimpleUploadedFile("model.pickle", b"binary")
    response = _register(alice_client, team_alpha, attachments=[schema, pickle])

    model = Model.objects.get()
    assert response.status_code == 302
    assert response["Location"] == model.get_absolute_url()
    assert (model.owner, model.team, model.tags) == (alice, team_alpha, ["classification", "churn"])
    snapshot = model.latest_snapshot()
    assert snapshot.version == 1 and snapshot.notes == "first cut"
    assert snapshot.tags_parsed.functions == {"init": "begin", "score": "action"}
    assert sorted(a.name for a in snapshot.attachments.all()) == [
        "input_schema.avsc",
        "model.pickle",
    ]
    assert snapshot.attachments.get(name="model.pickle").size == 6


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("def action(x):\n    return x\n", "model.py", "has no function tagged"),
        ("# modelop.score\ndef action(x:\n", "model.py", "is not valid Python"),
        (ECHO_SOURCE, "model.txt", "must be a .py file"),
    ],
    ids=["no-tagged-function", "syntax-error", "not-python-file"],
)
def test_register_model_refuses_a_bad_source(alice_client, team_alpha, source, name, message):
    response = _register(alice_client, team_alpha, source=_source(source, name))
    assert response.status_code == 200
    assert message in response.text
    assert not Model.objects.exists() and not Snapshot.objects.exists()


NESTED = "the model source is too deeply nested for Python to parse"
# CPython's parser answers the first with MemoryError, the second with RecursionError.
DEEP_SOURCES = {
    "memory-error": "# modelop.score\ndef action(x):\n    return " + "-" * 100_000 + "1\n",
    "recursion-error": "# modelop.score\ndef action(x):\n    return " + "+".join(["1"] * 200_000),
}


@pytest.mark.parametrize("source", DEEP_SOURCES.values(), ids=DEEP_SOURCES.keys())
def test_register_model_refuses_a_source_too_deeply_nested_to_parse(
    alice_client, team_alpha, source
):
    response = _register(alice_client, team_alpha, source=_source(source))
    assert response.status_code == 200
    assert NESTED in response.text
    assert not Model.objects.exists() and not Snapshot.objects.exists()


@pytest.mark.parametrize("source", DEEP_SOURCES.values(), ids=DEEP_SOURCES.keys())
def test_new_snapshot_refuses_a_source_too_deeply_nested_to_parse(
    alice_client, alice_snapshot, source
):
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    response = alice_client.post(url, {"source": _source(source)})
    assert response.status_code == 200
    assert NESTED in response.text
    assert alice_snapshot.model.snapshots.count() == 1


def test_register_model_refuses_an_attachment_over_the_limit_while_it_streams(
    alice_client, team_alpha, settings, tmp_path
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    big = SimpleUploadedFile("weights.bin", b"\x00" * 1001)
    response = _register(alice_client, team_alpha, attachments=[big])
    assert response.status_code == 200
    assert "weights.bin is larger than 1000 bytes (1,000 bytes), the largest file allowed " in (
        response.text
    )
    assert "(ATTACHMENT_MAX_BYTES); it was not stored." in response.text
    assert not Model.objects.exists() and not Attachment.objects.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file is left behind


def test_register_model_refuses_attachments_together_over_the_snapshot_limit(
    alice_client, team_alpha, settings
):
    settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES = 1500
    files = [SimpleUploadedFile(f"part{i}.bin", b"\x00" * 1000) for i in range(2)]
    response = _register(alice_client, team_alpha, attachments=files)
    assert response.status_code == 200
    assert "The attachments are 2.0 KB (2,000 bytes) together; a snapshot may hold at most " in (
        response.text
    )
    assert not Model.objects.exists() and not Attachment.objects.exists()


def test_new_snapshot_refuses_carried_attachments_over_the_snapshot_limit(
    alice_client, alice_snapshot, attachment, settings
):
    settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES = 3000  # the carried weights.bin is 2,048 bytes
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    extra = SimpleUploadedFile("more.bin", b"\x00" * 1000)
    response = alice_client.post(
        url, {"source": _source(), "attachments": [extra], "keep_attachments": "on"}
    )
    assert response.status_code == 200
    assert "(SNAPSHOT_ATTACHMENTS_MAX_BYTES). Leave some out, or do not carry over" in (
        response.text
    )
    assert alice_snapshot.model.snapshots.count() == 1
    assert Attachment.objects.count() == 1


def test_register_model_refuses_a_hidden_attachment_name(alice_client, team_alpha):
    response = _register(
        alice_client, team_alpha, attachments=[SimpleUploadedFile(".env", b"SECRET=1")]
    )
    assert response.status_code == 200
    assert "is not a plain file name" in response.text
    assert not Model.objects.exists() and not Attachment.objects.exists()


def test_register_model_keeps_a_traversal_attachment_inside_the_snapshot(alice_client, team_alpha):
    """Django's multipart parser drops the folders of an uploaded name ("../x.py" → "x.py")
    before the form sees it, so such a file can only land inside its snapshot's folder. (The
    service itself refuses "../x.py" outright: tests/models_registry/test_services.py.)"""
    # The test client would strip the folder itself, so the body is written by hand.
    boundary = "traversal-test"
    body = encode_multipart(boundary, {"name": "m", "team": team_alpha.pk, "source": _source()})
    body = body.replace(
        f"--{boundary}--".encode(),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="../x.py"\r\nContent-Type: text/plain\r\n\r\nprint(1)\r\n--{boundary}--'
        ).encode(),
    )
    response = alice_client.post(
        reverse("registry-model-create"),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 302
    snapshot = Snapshot.objects.get()
    (attachment,) = snapshot.attachments.all()
    assert attachment.name == "x.py"
    assert attachment.file.name == f"snapshots/{snapshot.uuid}/x.py"


def test_register_model_refuses_a_team_the_user_is_not_in(alice_client):
    gamma = GroupFactory(name="gamma")
    response = _register(alice_client, gamma)
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert not Model.objects.exists()


def test_a_user_without_a_team_is_told_to_ask_for_one(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="loner"))
    page = client.get(reverse("registry-model-create")).text
    assert "You are not in any team" in page
    response = client.post(reverse("registry-model-create"), {"name": "x", "source": _source()})
    assert response.status_code == 200 and not Model.objects.exists()


# --- Model and snapshot pages ------------------------------------------------------------------


def test_new_snapshot_is_the_next_version_with_the_latest_as_parent(
    alice_client, alice_snapshot, attachment
):
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    response = alice_client.post(
        url, {"source": _source(), "notes": "retrained", "keep_attachments": "on"}
    )
    new = alice_snapshot.model.latest_snapshot()
    assert response.status_code == 302 and response["Location"] == new.get_absolute_url()
    assert (new.version, new.parent, new.notes) == (2, alice_snapshot, "retrained")
    # The parent's file was carried over as the new snapshot's own copy.
    (carried,) = new.attachments.all()
    assert carried.name == "weights.bin" and carried.size == 2048
    assert carried.file.name != attachment.file.name


def test_new_snapshot_with_a_bad_source_shows_the_error(alice_client, alice_snapshot):
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    response = alice_client.post(url, {"source": _source("x = 1\n")})
    assert response.status_code == 200
    assert "has no function tagged" in response.text
    assert alice_snapshot.model.snapshots.count() == 1


def test_snapshot_create_only_accepts_post(alice_client, alice_snapshot):
    url = reverse("registry-snapshot-create", args=[alice_snapshot.model.uuid])
    assert alice_client.get(url).status_code == 405


def test_model_detail_lists_snapshots_and_links_the_wizard(alice_client, alice_snapshot):
    SnapshotFactory(model=alice_snapshot.model, version=2, notes="second")
    page = alice_client.get(alice_snapshot.model.get_absolute_url()).text
    assert "v2" in page and "v1" in page and "second" in page
    assert f"{reverse('jobs-wizard-start')}?model={alice_snapshot.model.uuid}" in page


def test_snapshot_detail_shows_functions_files_and_source(alice_client, alice_snapshot, attachment):
    page = alice_client.get(alice_snapshot.get_absolute_url()).text
    assert "modelop.score" in page and "action()" in page
    assert "modelop.init" in page and "begin()" in page
    assert "weights.bin" in page and "2.0\xa0KB" in page
    assert "datum[&quot;doubled&quot;]" in page  # the source, escaped, in a <pre>
    assert f"{reverse('jobs-wizard-start')}?snapshot={alice_snapshot.uuid}" in page


def test_bad_uuid_in_a_registry_url_is_404(alice_client):
    assert alice_client.get("/models/not-a-uuid/").status_code == 404
    assert alice_client.get("/models/snapshots/12345/").status_code == 404
