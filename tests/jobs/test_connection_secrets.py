"""Connection secrets are stored encrypted (FIELD_ENCRYPTION_KEY), read back after a
restart and a key rotation, and never shown."""

from __future__ import annotations

import importlib
import os
import stat
import subprocess
import sys
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.urls import reverse

from commandcenter.lib import encryption
from commandcenter.lib.encryption import SecretUndecryptable
from jobs.models import Connection

S3_SECRET = "s3cr3t-KEY-d0-not-show-9f8e7d"
DSN_PASSWORD = "pw-Zq81-never-shown"
DSN = f"postgresql://reporter:{DSN_PASSWORD}@db.internal:5432/warehouse"


@pytest.fixture
def lake(db):
    return Connection.objects.create(
        name="lake", kind="s3", endpoint_url="http://minio:9000", access_key_id="AKIAEXAMPLE",
        secret_access_key=S3_SECRET,
    )  # fmt: skip


@pytest.fixture
def warehouse(db):
    return Connection.objects.create(name="warehouse", kind="sql", dsn=DSN)


def raw_row(connection_row: Connection) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_access_key, dsn FROM jobs_connection WHERE id = %s", [connection_row.pk]
        )
        return cursor.fetchone()


def restarted(connection_row: Connection) -> Connection:
    """The row as a new process reads it: no cached keys, a new instance."""
    encryption._fernet.cache_clear()
    return Connection.objects.get(pk=connection_row.pk)


def test_the_raw_row_holds_no_secret(lake, warehouse):
    secret, _ = raw_row(lake)
    _, dsn = raw_row(warehouse)

    assert S3_SECRET not in secret
    assert DSN_PASSWORD not in dsn and "reporter" not in dsn
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(secret.encode()).decode() == S3_SECRET


def test_blank_secrets_stay_blank(lake):
    assert raw_row(lake)[1] == ""
    assert restarted(lake).dsn == ""


def test_secrets_read_back_after_a_restart(lake, warehouse):
    assert restarted(lake).secret_access_key == S3_SECRET
    assert restarted(warehouse).dsn == DSN


@pytest.mark.django_db(transaction=True)
def test_secrets_read_back_over_a_new_database_connection():
    stored = Connection.objects.create(name="lake", kind="s3", secret_access_key=S3_SECRET)
    connections.close_all()  # as a worker process opens its own

    assert restarted(stored).secret_access_key == S3_SECRET


def test_secrets_read_back_with_a_new_key_put_first(lake, settings):
    settings.FIELD_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEYS,
    ]

    assert restarted(lake).secret_access_key == S3_SECRET


def test_a_changed_secret_is_encrypted_with_the_first_key(lake, settings):
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]

    lake.secret_access_key = "rotated-secret"
    lake.save()

    assert Fernet(new_key).decrypt(raw_row(lake)[0].encode()) == b"rotated-secret"


def test_reencrypt_secrets_moves_every_secret_to_the_first_key(lake, warehouse, settings, capsys):
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("reencrypt_secrets")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped

    assert restarted(lake).secret_access_key == S3_SECRET
    assert restarted(warehouse).dsn == DSN
    assert "Encrypted 2 secret(s)" in capsys.readouterr().out


def test_a_secret_no_key_decrypts_is_an_error_not_the_stored_text(lake, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(SecretUndecryptable, match="jobs.Connection.secret_access_key"):
        restarted(lake)


def test_reencrypt_secrets_names_a_secret_it_cannot_decrypt(lake, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(Exception, match="FIELD_ENCRYPTION_KEY"):
        call_command("reencrypt_secrets")


def test_the_migration_encrypts_rows_stored_in_plain_text(lake, warehouse):
    with connection.cursor() as cursor:  # as the rows were before the migration
        cursor.execute("UPDATE jobs_connection SET secret_access_key = %s WHERE id = %s",
                       [S3_SECRET, lake.pk])  # fmt: skip
        cursor.execute("UPDATE jobs_connection SET dsn = %s WHERE id = %s", [DSN, warehouse.pk])
    migration = importlib.import_module("jobs.migrations.0008_connection_secrets_encrypted")

    migration.secrets_encrypt(None, SimpleNamespace(connection=connection))
    migration.secrets_encrypt(None, SimpleNamespace(connection=connection))  # twice: harmless

    assert S3_SECRET not in raw_row(lake)[0] and DSN_PASSWORD not in raw_row(warehouse)[1]
    assert restarted(lake).secret_access_key == S3_SECRET
    assert restarted(warehouse).dsn == DSN


def test_pages_show_neither_the_secret_nor_its_ciphertext(client, staff, lake, warehouse):
    client.force_login(staff)
    stored = [*raw_row(lake), *raw_row(warehouse)]
    pages = [
        client.get(reverse("admin:jobs_connection_change", args=[lake.pk])),
        client.get(reverse("admin:jobs_connection_change", args=[warehouse.pk])),
        client.get(reverse("admin:jobs_connection_changelist")),
        client.get(reverse("api-connection-list")),
    ]
    for page in pages:
        assert page.status_code == 200
        for value in (S3_SECRET, DSN_PASSWORD, *filter(None, stored)):
            assert value not in page.content.decode()


# --- The key from the environment, or generated once -----------------------------------------


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FIELD_ENCRYPTION_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_key_is_generated_once_into_data_dir_readable_by_the_owner_only(tmp_path):
    code = "from django.conf import settings; print(settings.FIELD_ENCRYPTION_KEYS[0])"
    first = _manage("shell", "-c", code, DATA_DIR=str(tmp_path))
    second = _manage("shell", "-c", code, DATA_DIR=str(tmp_path))

    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "field_encryption_key"
    assert first.stdout.split()[-1] == second.stdout.split()[-1] == key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_keys_come_from_the_environment_or_a_file(tmp_path):
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    (tmp_path / "keys").write_text(",".join(keys) + "\n")
    code = "from django.conf import settings; print(*settings.FIELD_ENCRYPTION_KEYS)"

    given = _manage(
        "shell", "-c", code, DATA_DIR=str(tmp_path), FIELD_ENCRYPTION_KEY=" , ".join(keys)
    )
    from_file = _manage("shell", "-c", code, DATA_DIR=str(tmp_path),
                        FIELD_ENCRYPTION_KEY_FILE=str(tmp_path / "keys"))  # fmt: skip

    assert given.stdout.split()[-2:] == from_file.stdout.split()[-2:] == keys
    assert not (tmp_path / "field_encryption_key").exists()


def test_a_bad_key_stops_the_start_naming_the_variable_not_the_value(tmp_path):
    good = Fernet.generate_key().decode()
    done = _manage("check", DATA_DIR=str(tmp_path), FIELD_ENCRYPTION_KEY=f"{good},not-a-key")

    assert done.returncode != 0
    assert "FIELD_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key" in done.stderr
    assert "not-a-key" not in done.stderr
