from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from commandcenter.lib.encryption import EncryptedTextField, SecretUndecryptable


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret again with the first key of FIELD_ENCRYPTION_KEY (after "
        "a new key was put first); then the old keys can be dropped."
    )

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        rows = secrets = 0
        for model in apps.get_models():
            fields = [
                f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
            ]
            if not fields:
                continue
            manager = model._base_manager
            try:
                stored = list(manager.values_list("pk", *fields))
            except SecretUndecryptable as exc:
                raise CommandError(str(exc)) from None
            for pk, *values in stored:
                # update() writes through the field, which encrypts with the first key.
                manager.filter(pk=pk).update(**dict(zip(fields, values, strict=True)))
                rows += 1
                secrets += sum(1 for v in values if v)
        self.stdout.write(
            f"Encrypted {secrets} secret(s) in {rows} row(s) with the first key of "
            "FIELD_ENCRYPTION_KEY; keys after it are no longer needed."
        )
