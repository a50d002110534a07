"""The error lines moc prints for the server's refusals (no server needed)."""

from __future__ import annotations

from moc_cli.client import _messages


def test_nested_field_errors_are_named_by_their_path():
    body = {
        "inputs": {"0": {"upload": ["The uploaded input file was not found; upload it again."]}},
        "output": {"connection": ["Choose a SQL connection: other, warehouse."]},
    }

    assert _messages(body) == [
        "inputs[0].upload: The uploaded input file was not found; upload it again.",
        "output.connection: Choose a SQL connection: other, warehouse.",
    ]


def test_detail_and_non_field_errors_are_the_message_itself():
    assert _messages({"detail": "Not found."}) == ["Not found."]
    assert _messages({"non_field_errors": ["Give a snapshot or a model."]}) == [
        "Give a snapshot or a model."
    ]
    assert _messages(["One.", "Two."]) == ["One.", "Two."]
