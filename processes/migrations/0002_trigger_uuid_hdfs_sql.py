from __future__ import annotations

import uuid

from django.db import migrations, models


def _uuids(apps, schema_editor):
    Trigger = apps.get_model("processes", "Trigger")
    for trigger in Trigger.objects.filter(uuid__isnull=True).only("pk"):
        Trigger.objects.filter(pk=trigger.pk).update(uuid=uuid.uuid4())


KINDS = [
    ("manual", "Manual"),
    ("schedule", "Schedule (cron)"),
    ("snapshot", "New snapshot of the model"),
    ("s3_objects", "New objects under an S3 prefix"),
    ("hdfs_files", "New files under an HDFS folder"),
    ("sql_changed", "A SQL query's result changed"),
    ("job_finished", "A job finished"),
]


class Migration(migrations.Migration):
    dependencies = [("processes", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="trigger", name="uuid", field=models.UUIDField(null=True, editable=False)
        ),
        migrations.RunPython(_uuids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trigger",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="trigger", name="query", field=models.TextField(blank=True)
        ),
        migrations.AlterField(
            model_name="trigger",
            name="kind",
            field=models.CharField(choices=KINDS, default="manual", max_length=20),
        ),
        migrations.AlterField(
            model_name="trigger",
            name="location",
            field=models.CharField(blank=True, max_length=1000),
        ),
        migrations.AlterField(
            model_name="processrun",
            name="trigger_kind",
            field=models.CharField(choices=KINDS, max_length=20),
        ),
    ]
