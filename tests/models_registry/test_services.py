from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from models_registry.models import Attachment, Model, Snapshot
from models_registry.services import model_create, snapshot_create
from tests.factories import ECHO_SOURCE


def _create(alice, team, **kwargs):
    options = {"name": "echo", "source_name": "echo.py", "source": ECHO_SOURCE} | kwargs
    return model_create(owner=alice, team=team, **options)


def test_model_create_makes_version_one_with_parsed_tags(alice, team_alpha):
    model = _create(alice, team_alpha, attachments=[ContentFile(b"abc", name="weights.bin")])
    snapshot = model.latest_snapshot()
    assert snapshot.version == 1
    assert snapshot.smart_tags["functions"] == {"init": "begin", "score": "action"}
    attachment = snapshot.attachments.get()
    assert (attachment.name, attachment.size) == ("weights.bin", 3)
    assert attachment.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_snapshot_create_numbers_versions_and_keeps_lineage(alice, team_alpha):
    model = _create(alice, team_alpha)
    first = model.latest_snapshot()
    second = snapshot_create(
        model=model, created_by=alice, source_name="echo.py", source=ECHO_SOURCE, parent=first
    )
    assert second.version == 2
    assert second.parent == first


def test_a_refused_source_creates_nothing(alice, team_alpha):
    with pytest.raises(ValidationError, match="no function tagged"):
        _create(alice, team_alpha, source="def f():\n    pass\n")
    assert not Model.objects.exists()
    assert not Snapshot.objects.exists()


@pytest.mark.parametrize("name", ["../evil.py", "sub/dir.bin", ".hidden", "..", "a\\b.bin"])
def test_attachments_with_path_names_are_refused(alice, team_alpha, name):
    with pytest.raises(ValidationError, match="not a plain file name"):
        _create(alice, team_alpha, attachments=[ContentFile(b"x", name=name)])
    assert not Attachment.objects.exists()
    assert not Model.objects.exists()


def test_a_source_that_is_not_a_py_file_is_refused(alice, team_alpha):
    with pytest.raises(ValidationError, match=r"\.py file"):
        _create(alice, team_alpha, source_name="model.txt")


def test_an_attachment_over_the_limit_is_refused_before_anything_is_written(
    alice, team_alpha, settings
):
    settings.ATTACHMENT_MAX_BYTES = 10
    with pytest.raises(ValidationError, match=r"one attachment may be at most 10 bytes"):
        _create(alice, team_alpha, attachments=[ContentFile(b"x" * 11, name="big.bin")])
    assert not Model.objects.exists() and not Attachment.objects.exists()


def test_attachments_together_over_the_snapshot_limit_are_refused(alice, team_alpha, settings):
    settings.SNAPSHOT_ATTACHMENTS_MAX_BYTES = 10
    files = [ContentFile(b"x" * 6, name=f"{n}.bin") for n in "ab"]
    with pytest.raises(ValidationError, match=r"The attachments are 12 bytes \(12 bytes\)"):
        _create(alice, team_alpha, attachments=files)
    assert not Snapshot.objects.exists()
