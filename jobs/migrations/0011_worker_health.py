from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0010_connection_use_worker_credentials"),
    ]

    operations = [
        migrations.AddField(
            model_name="worker",
            name="health",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
