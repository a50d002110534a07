"""The input step's preview: the first rows with the types read, the guessed extended schema,
and attaching it, which makes a new snapshot (snapshots are immutable) that the wizard uses."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.input_schema import input_head, schema_guess
from tests.jobs.test_wizard import answers, step, walk_to_inputs

CSV = "id,age,income,city,label\n1,31,5000.5,Oslo,1\n2,45,,Bergen,0\n"


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_types_are_read_and_the_schema_guesses_role_and_data_class():
    head = input_head(fmt="csv", data=CSV)
    assert head.columns == ["id", "age", "income", "city", "label"]
    assert head.types == ["long", "long", "double", "string", "long"]
    fields = {f["name"]: f for f in schema_guess(head, name="credit")["fields"]}
    assert (fields["id"]["role"], fields["label"]["role"], fields["age"]["role"]) == (
        "identifier", "label", "predictor",
    )  # fmt: skip
    assert fields["city"]["dataClass"] == "categorical"
    assert fields["income"]["dataClass"] == "numerical"
    assert fields["income"]["type"] == ["null", "double"]


def test_unreadable_data_says_why():
    assert "could not be read" in input_head(fmt="jsonl", data="{not json\n").error


def _preview_url(client) -> str:
    item = answers(client)["inputs"][0]
    return reverse("jobs-wizard-input-preview", args=[item["id"]])


def test_preview_then_attach_makes_a_new_snapshot_the_wizard_uses(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    upload = SimpleUploadedFile("credit.csv", CSV.encode())
    alice_client.post(step("inputs"), {"file": upload, "action": "add"})
    assert "Preview and schema" in alice_client.get(step("inputs")).text
    url = _preview_url(alice_client)
    page = alice_client.get(url)
    assert page.status_code == 200
    assert '<th class="muted small">double</th>' in page.text and "Bergen" in page.text
    schema = page.context["form"].initial["schema"]
    assert json.loads(schema)["fields"][4]["role"] == "label"

    response = alice_client.post(url, {"name": "credit_schema.avsc", "schema": schema})
    assert response.status_code == 302 and response["Location"] == step("inputs")
    model = alice_snapshot.model
    new = model.snapshots.order_by("-version").first()
    assert new.version == 2 and new.parent == alice_snapshot
    assert "credit_schema.avsc" in new.schema_names()
    assert not alice_snapshot.attachments.filter(name="credit_schema.avsc").exists()
    saved = answers(alice_client)
    assert saved["snapshot"] == str(new.uuid) and saved["schemas"]["input"] == "credit_schema.avsc"
    assert saved["type"] == "scoring" and saved["inputs"]  # the other answers are kept
    assert "new snapshot, v2" in alice_client.get(step("inputs")).text


def test_a_bad_schema_or_name_is_refused_with_the_reason(alice_client, alice_snapshot):
    walk_to_inputs(alice_client, alice_snapshot)
    alice_client.post(step("inputs"), {"data": CSV, "action": "add"})
    url = _preview_url(alice_client)
    for data, words in [
        ({"name": "s.avsc", "schema": "{nope"}, "not JSON"),
        ({"name": "s.avsc", "schema": '{"fields": "x"}'}, "not a valid extended schema"),
        ({"name": "s.txt", "schema": '{"type": "record", "fields": []}'}, "ends in .avsc"),
        ({"name": "../x.avsc", "schema": '{"type": "record", "fields": []}'}, ""),
    ]:
        response = alice_client.post(url, data)
        assert response.status_code == 200 and words in response.text
    assert alice_snapshot.model.snapshots.count() == 1


def test_an_unknown_input_is_a_404_and_a_fresh_wizard_goes_to_its_step(
    alice_client, alice_snapshot
):
    walk_to_inputs(alice_client, alice_snapshot)
    assert (
        alice_client.get(reverse("jobs-wizard-input-preview", args=["0123abcd"])).status_code == 404
    )
    alice_client.get(reverse("jobs-wizard-start"))
    response = alice_client.get(reverse("jobs-wizard-input-preview", args=["0123abcd"]))
    assert response.status_code == 302
