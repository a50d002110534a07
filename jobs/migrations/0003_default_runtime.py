from django.db import migrations


def create_default_runtime(apps, schema_editor):
    Runtime = apps.get_model("jobs", "Runtime")
    if not Runtime.objects.exists():
        Runtime.objects.create(
            name="default",
            queue="default",
            description="The runtime every installation starts with.",
            is_default=True,
        )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_initial")]
    operations = [migrations.RunPython(create_default_runtime, migrations.RunPython.noop)]
