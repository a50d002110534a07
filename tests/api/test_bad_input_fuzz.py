"""Every field of every write endpoint, given values of the wrong kind: always a 4xx with a
message, never a 500, and nothing is created."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, Upload
from models_registry.models import Model
from tests.factories import ECHO_SOURCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_runtime_online")]

JUNK = [
    None, 0, -1, 2**70, 1.5, True, "", " ", "x" * 5000, "\x00", "a\x00b", "../../etc/passwd",
    "€ü", [], [None], [1, "a"], {}, {"a": None}, {"\x00": 1}, {"kind": "upload"},
]  # fmt: skip


def _job_body(snapshot) -> dict:
    return {
        "snapshot": str(snapshot.uuid),
        "job_type": "scoring",
        "inputs": [{"kind": "embedded", "data": '{"x": 1}\n', "format": "jsonl"}],
        "output": {"kind": "file", "name": "out.jsonl", "format": "jsonl", "write_mode": "replace"},
        "runtime": "default",
        "input_schema": "",
        "output_schema": "",
        "check_input_schema": False,
        "check_output_schema": False,
        "params": {"a": 1},
        "evaluator": False,
    }


def _variants(body: dict):
    """BODY with one field (top level, in the first input, or in the output) made junk."""
    for key in body:
        for junk in JUNK:
            yield f"{key}={junk!r:.20}", {**body, key: junk}
    for part in ("inputs", "output"):
        inner = body[part][0] if part == "inputs" else body[part]
        for key in (*inner, "upload", "location", "query", "connection", "data"):
            for junk in JUNK:
                changed = {**inner, key: junk}
                value = [changed] if part == "inputs" else changed
                yield f"{part}.{key}={junk!r:.20}", {**body, part: value}


def _is_refusal(answer) -> bool:
    return 400 <= answer.status_code < 500 and bool(answer.json())


def test_junk_in_any_job_field_is_refused_never_a_500(alice_api, alice_snapshot):
    valid = _job_body(alice_snapshot)
    created = 0
    for label, body in _variants(valid):
        answer = alice_api.post("/api/jobs/", body, format="json")
        assert answer.status_code < 500, (label, answer.content[:300])
        if answer.status_code == 201:  # junk that is still a valid job (e.g. params={})
            created += 1
        else:
            assert _is_refusal(answer), (label, answer.status_code)
    assert Job.objects.count() == created


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[" * 100_000,
        b'{"a": NaN}',
        b"\xff\xfe",
        b'{"inputs": [' + b"{}," * 200 + b"{}]}",
    ],
)
def test_malformed_job_bodies_are_400(alice_api, alice_snapshot, raw):
    answer = alice_api.post("/api/jobs/", raw, content_type="application/json")

    assert answer.status_code == 400, answer.content[:300]
    assert not Job.objects.exists()


def test_junk_in_the_model_form_is_refused_never_a_500(alice_api):
    fields = ["name", "description", "team", "tags", "notes", "runtime_tags"]
    for field in fields:
        for junk in ("", "\x00", "a\x00b", "x" * 5000, "../x", "€"):
            data = {"name": "m", "source": SimpleUploadedFile("m.py", ECHO_SOURCE.encode())}
            data[field] = junk
            answer = alice_api.post("/api/models/", data, format="multipart")
            assert answer.status_code in (201, 400), (field, junk[:10], answer.content[:300])
    for name in ("x" * 250 + ".py", ".py", "m.PY", "a\x00.py"):
        data = {"name": "m", "source": SimpleUploadedFile(name, ECHO_SOURCE.encode())}
        answer = alice_api.post("/api/models/", data, format="multipart")
        # The NUL is dropped on the way in (a.py); the others are refused.
        assert answer.status_code == (201 if "\x00" in name else 400), (name[:10], answer.content)
    for name in ("x" * 250, "a\x00b", ".x", "a/b"):
        data = {
            "name": "m",
            "source": SimpleUploadedFile("m.py", ECHO_SOURCE.encode()),
            "attachments": [SimpleUploadedFile(name, b"1")],
        }
        answer = alice_api.post("/api/models/", data, format="multipart")
        assert answer.status_code in (201, 400), (name[:10], answer.content[:300])
    for model in Model.objects.all():
        for snapshot in model.snapshots.all():
            for attachment in snapshot.attachments.all():
                assert "/" not in attachment.name and "\x00" not in attachment.name


def test_junk_uploads_are_refused_never_a_500(alice_api):
    for name in ("x" * 250 + ".csv", "a\x00b.csv", ".x", "../../up.csv"):
        answer = alice_api.post(
            "/api/uploads/", {"file": SimpleUploadedFile(name, b"x\n")}, format="multipart"
        )
        assert answer.status_code in (201, 400), (name[:10], answer.content[:300])
    for upload in Upload.objects.all():
        assert "/" not in upload.name and "\x00" not in upload.name
    broken = alice_api.post(
        "/api/uploads/",
        b"--x\r\nnot a multipart body",
        content_type="multipart/form-data; boundary=x",
    )
    assert broken.status_code == 400


def test_junk_in_query_strings_and_paths_is_never_a_500(alice_api, alice_snapshot):
    for url in (
        "/api/models/?search=%00", "/api/models/?page=%00", "/api/models/?page_size=-5",
        "/api/jobs/?created_by=%00", "/api/jobs/?runtime=%00", "/api/jobs/?snapshot=1",
        "/api/jobs/?page=99999999999999999999", "/api/runtimes/%00/", "/api/runtimes/x%00y/",
        "/api/jobs/?model=%00",
    ):  # fmt: skip
        answer = alice_api.get(url)
        assert answer.status_code < 500, url
    junk_key = alice_api.post(
        "/api/jobs/",
        {"snapshot": str(alice_snapshot.uuid), "inputs": [{"kind": "embedded", "data": "{}"}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="a\x00b",
    )
    assert junk_key.status_code == 400


def test_junk_log_ins_are_refused_never_a_500(anon_api, db):
    for body in ({"username": "\x00", "password": "x"}, {"username": "u" * 10_000, "password": "x"},
                 {"username": ["a"], "password": {}}, {"username": "a", "password": "p" * 10_000}):  # fmt: skip
        answer = anon_api.post("/api/auth/token/", body, format="json")
        assert answer.status_code == 400, (str(body)[:40], answer.content[:300])
