from django.db import migrations, models

import jobs.models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_connection_secrets_encrypted"),
    ]

    operations = [
        migrations.AddField(
            model_name="runtime",
            name="allow_network",
            field=models.BooleanField(
                default=False,
                help_text="Let model code on this runtime open network connections (TCP). Off: none.",
            ),
        ),
        migrations.AddField(
            model_name="runtime",
            name="network_ports",
            field=models.CharField(
                blank=True,
                help_text="With network allowed: only these TCP ports, comma-separated (e.g. 443, 5432). Blank: any port.",
                max_length=200,
                validators=[jobs.models.validate_port_list],
            ),
        ),
        migrations.AddField(
            model_name="worker",
            name="sandbox",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="job",
            name="sandbox",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
