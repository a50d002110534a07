from django.db import migrations, models

import jobs.models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0013_job_publishing"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobasset",
            name="role",
            field=models.CharField(
                blank=True, max_length=40, validators=[jobs.models.validate_asset_role]
            ),
        ),
    ]
