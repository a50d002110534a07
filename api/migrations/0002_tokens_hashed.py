# Tokens of rest_framework.authtoken (which kept each key as it is) become hashed tokens that
# keep working; the old rows are deleted, so no key stays in the database.

import hashlib
from datetime import timezone as dt_timezone

from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

OLD_TABLE = "authtoken_token"


def tokens_hash(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return  # a new installation
    ApiToken = apps.get_model("api", "ApiToken")
    table = connection.ops.quote_name(OLD_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        if isinstance(created, str):
            created = parse_datetime(created)
        if timezone.is_naive(created):
            created = timezone.make_aware(created, dt_timezone.utc)
        digest = hashlib.sha256(key.encode()).hexdigest()
        token = ApiToken.objects.create(user_id=user_id, prefix=key[:8], digest=digest)
        ApiToken.objects.filter(pk=token.pk).update(created_at=created)  # its expiry holds
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0001_api_token'),
    ]

    operations = [
        # Backwards there is nothing to restore: the keys are gone; people log in again.
        migrations.RunPython(tokens_hash, migrations.RunPython.noop),
    ]
