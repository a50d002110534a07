"""Helpers that register the demo iris model and its sample input for tests."""

from __future__ import annotations

from django.core.files.base import ContentFile

from jobs.models import Upload
from models_registry import demo
from models_registry.services import model_create


def demo_snapshot(*, owner, team, source: str | None = None):
    model = model_create(
        owner=owner,
        team=team,
        name="iris",
        source_name=demo.SOURCE_NAME,
        source=source or demo.source(),
        attachments=[
            ContentFile(demo.train_pickle(), name="model.pickle"),
            ContentFile(demo.schema("input_schema.avsc"), name="input_schema.avsc"),
            ContentFile(demo.schema("output_schema.avsc"), name="output_schema.avsc"),
        ],
    )
    return model.latest_snapshot()


def sample_upload(*, owner, tmp_path, rows: int | None = None, name="iris.jsonl") -> Upload:
    path = demo.write_sample_jsonl(tmp_path / name, rows)
    upload = Upload(owner=owner, name=name, size=path.stat().st_size)
    with open(path, "rb") as f:
        upload.file.save(name, ContentFile(f.read()), save=False)
    upload.save()
    return upload
