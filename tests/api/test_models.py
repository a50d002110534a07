from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import Model
from tests.api.conftest import assert_matches_schema
from tests.factories import ECHO_SOURCE, GroupFactory

pytestmark = pytest.mark.django_db


def source(text: str = ECHO_SOURCE, name: str = "model.py") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/x-python")


def attachment(name: str, data: bytes = b"weights") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def register(api, **fields):
    data = {"name": "echo", "source": source(), **fields}
    return api.post("/api/models/", data, format="multipart")


def test_registering_a_model_makes_version_1_with_its_attachments(alice_api, alice):
    answer = register(
        alice_api,
        description="doubles x",
        tags="demo, echo",
        runtime_tags="gpu",
        notes="first",
        attachments=[attachment("model.pickle"), attachment("input_schema.avsc", b"{}")],
    )

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    body = answer.json()
    assert (body["name"], body["team"], body["owner"]) == ("echo", "alpha", "alice")
    assert body["tags"] == ["demo", "echo"]
    assert body["snapshot_count"] == 1
    (snapshot,) = body["snapshots"]
    assert snapshot["version"] == 1 and snapshot["runtime_tags"] == ["gpu"]
    assert snapshot["functions"] == ["init", "score"]
    assert body["latest_snapshot"] == {"uuid": snapshot["uuid"], "version": 1}

    detail = alice_api.get(snapshot["url"])
    assert detail.status_code == 200
    assert_matches_schema(detail)
    assert [a["name"] for a in detail.json()["attachments"]] == [
        "input_schema.avsc",
        "model.pickle",
    ]
    assert detail.json()["schemas"] == ["input_schema.avsc"]
    assert detail.json()["notes"] == "first"


def test_lists_show_only_the_teams_models_and_search_narrows_them(
    alice_api, charlie_api, alice_snapshot
):
    listed = alice_api.get("/api/models/")
    assert listed.status_code == 200
    assert_matches_schema(listed)
    assert [m["name"] for m in listed.json()["results"]] == ["echo"]
    assert listed.json()["results"][0]["latest_snapshot"]["uuid"] == str(alice_snapshot.uuid)
    assert alice_api.get("/api/models/?search=nothing-like-it").json()["count"] == 0
    assert alice_api.get("/api/models/?search=ECH").json()["count"] == 1

    assert charlie_api.get("/api/models/").json() == {
        "count": 0, "next": None, "previous": None, "results": [],
    }  # fmt: skip


def test_lists_are_paginated(alice_api, alice, team_alpha):
    for i in range(3):
        Model.objects.create(name=f"m{i}", owner=alice, team=team_alpha)

    page = alice_api.get("/api/models/?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert len(alice_api.get(page["next"]).json()["results"]) == 1
    assert alice_api.get("/api/models/?page=9").status_code == 404


def test_an_outsider_sees_nothing_of_another_teams_model(charlie_api, alice_snapshot):
    model = alice_snapshot.model

    for url in (
        f"/api/models/{model.uuid}/",
        f"/api/models/{model.uuid}/snapshots/",
        f"/api/snapshots/{alice_snapshot.uuid}/",
    ):
        answer = charlie_api.get(url)
        assert answer.status_code == 404, url
        assert answer.json() == {"detail": "Not found."}
    added = charlie_api.post(
        f"/api/models/{model.uuid}/snapshots/", {"source": source()}, format="multipart"
    )
    assert added.status_code == 404
    assert model.snapshots.count() == 1


def test_a_teammate_adds_a_snapshot_that_keeps_the_earlier_attachments(alice_api, bob_api):
    model = register(
        alice_api, runtime_tags="gpu", attachments=[attachment("model.pickle"), attachment("a.txt")]
    ).json()

    answer = bob_api.post(
        f"/api/models/{model['uuid']}/snapshots/",
        {"source": source(), "attachments": [attachment("a.txt", b"new")], "notes": "v2"},
        format="multipart",
    )

    assert answer.status_code == 201, answer.content
    assert_matches_schema(answer)
    body = answer.json()
    assert body["version"] == 2 and body["created_by"] == "bob"
    assert body["runtime_tags"] == ["gpu"]  # the parent's, as none were given
    assert body["parent"]["version"] == 1
    sizes = {a["name"]: a["size"] for a in body["attachments"]}
    assert sizes == {"a.txt": 3, "model.pickle": 7}
    listed = alice_api.get(f"/api/models/{model['uuid']}/snapshots/")
    assert_matches_schema(listed)
    assert [s["version"] for s in listed.json()["results"]] == [2, 1]


def test_a_snapshot_can_drop_the_earlier_attachments(alice_api):
    model = register(alice_api, attachments=[attachment("model.pickle")]).json()

    answer = alice_api.post(
        f"/api/models/{model['uuid']}/snapshots/",
        {"source": source(), "keep_attachments": "false"},
        format="multipart",
    )

    assert answer.status_code == 201
    assert answer.json()["attachments"] == []


# --- Bad input: 400 with the field and a message, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"name": ""}, "name", "blank"),
        ({"source": None}, "source", "No file"),
        ({"source": source("def f(:\n")}, "source", "not valid Python: line 1"),
        ({"source": source("def score(x):\n    return x\n")}, "source", "no function tagged"),
        ({"source": source(name="model.txt")}, "source", "must be a .py file"),
        ({"source": SimpleUploadedFile("m.py", b"\xff\xfe")}, "source", "not UTF-8"),
        ({"attachments": [attachment("../.env")]}, "attachments", "not a plain file name"),
        ({"attachments": [attachment("model.py")]}, "attachments", "source's name"),
        ({"attachments": [attachment("a.bin"), attachment("a.bin")]}, "attachments", "a.bin"),
        ({"attachments": "just text"}, "attachments", "not a file"),
        ({"team": "gamma"}, "team", "not in a team named 'gamma'"),
        ({"runtime_tags": "gpu, no spaces"}, "runtime_tags", "is not a tag"),
    ],
)
def test_registering_refuses_bad_input_with_field_messages(alice_api, fields, field, words):
    data = {"name": "echo", "source": source(), **fields}
    data = {k: v for k, v in data.items() if v is not None}

    answer = alice_api.post("/api/models/", data, format="multipart")

    assert answer.status_code == 400, answer.content
    messages = answer.json()[field]
    if isinstance(messages, dict):  # one list of messages per file
        messages = [m for per_file in messages.values() for m in per_file]
    assert any(words.lower() in m.lower() for m in messages), messages
    assert not Model.objects.exists()


DEEP_SOURCES = {
    "memory-error": "# modelop.score\ndef action(x):\n    return " + "-" * 100_000 + "1\n",
    "recursion-error": "# modelop.score\ndef action(x):\n    return " + "+".join(["1"] * 200_000),
}


@pytest.mark.parametrize("text", DEEP_SOURCES.values(), ids=DEEP_SOURCES.keys())
def test_a_source_too_deeply_nested_to_parse_is_a_400(alice_api, alice_snapshot, text):
    registered = register(alice_api, source=source(text))
    added = alice_api.post(
        f"/api/models/{alice_snapshot.model.uuid}/snapshots/",
        {"source": source(text)},
        format="multipart",
    )
    for answer in (registered, added):
        assert answer.status_code == 400, answer.content
        (message,) = answer.json()["source"]
        assert "the model source is too deeply nested for Python to parse" in message
    assert Model.objects.count() == 1 and alice_snapshot.model.snapshots.count() == 1


def test_an_attachment_over_the_limit_is_a_400_and_nothing_is_registered(
    alice_api, settings, tmp_path
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    answer = register(
        alice_api, attachments=[attachment("ok.txt"), attachment("w.bin", b"0" * 1001)]
    )
    assert answer.status_code == 400
    (message,) = answer.json()["attachments"]
    assert message.startswith("w.bin is larger than 1000 bytes (1,000 bytes)")
    assert "ATTACHMENT_MAX_BYTES" in message
    assert not Model.objects.exists() and list(tmp_path.iterdir()) == []


def test_a_snapshot_over_the_total_limit_is_a_400(alice_api, settings):
    model = register(alice_api, attachments=[attachment("a.bin", b"0" * 600)]).json()
    settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES = 1000
    answer = alice_api.post(
        f"/api/models/{model['uuid']}/snapshots/",
        {"source": source(), "attachments": [attachment("b.bin", b"0" * 600)]},
        format="multipart",
    )
    assert answer.status_code == 400
    assert "The attachments are 1.2 KB (1,200 bytes) together" in answer.json()["detail"]
    assert Model.objects.get().snapshots.count() == 1


def test_an_attachment_path_is_reduced_to_its_file_name(alice_api):
    answer = register(alice_api, attachments=[attachment("../../etc/model.pickle")])

    assert answer.status_code == 201
    snapshot = alice_api.get(answer.json()["snapshots"][0]["url"]).json()
    assert [a["name"] for a in snapshot["attachments"]] == ["model.pickle"]


def test_a_user_in_two_teams_must_choose_one(alice_api, alice):
    alice.groups.add(GroupFactory(name="beta"))

    answer = register(alice_api)
    assert answer.status_code == 400
    assert answer.json() == {"team": ["Choose a team: alpha, beta."]}
    assert register(alice_api, team="beta").json()["team"] == "beta"


def test_a_json_body_is_refused_for_multipart_endpoints(alice_api):
    answer = alice_api.post("/api/models/", {"name": "x"}, format="json")

    assert answer.status_code == 415
    assert "detail" in answer.json()


def test_unknown_model_and_snapshot_uuids_are_404(alice_api):
    missing = "00000000-0000-0000-0000-000000000000"
    assert alice_api.get(f"/api/models/{missing}/").status_code == 404
    assert alice_api.get(f"/api/snapshots/{missing}/").status_code == 404
    assert alice_api.get("/api/models/not-a-uuid/").status_code == 404
