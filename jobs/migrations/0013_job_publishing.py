from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0012_job_reject_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="publishing",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
