"""Model fields kept encrypted at rest, with Fernet (AES-CBC plus an HMAC, from the
cryptography package) under the keys in settings.FIELD_ENCRYPTION_KEYS.

The first key encrypts, every key decrypts: to rotate, put a new key first, run
`manage.py reencrypt_secrets`, then drop the old key. A value no key decrypts raises
SecretUndecryptable (it is never handed on as if it were the secret).

Not django-fernet-encrypted-fields: it derives its keys from SECRET_KEY (rotating that one
would lose every secret) and returns the stored text unchanged when no key fits.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretUndecryptable(Exception):
    """A stored secret that none of FIELD_ENCRYPTION_KEYS decrypts."""


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def secret_encrypt(value: str) -> str:
    return _keys().encrypt(value.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The plain text of TOKEN; InvalidToken when no key decrypts it."""
    return _keys().decrypt(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token. A blank value is stored blank (that a connection has
    no secret is no secret), so blank=True and `filter(name="")` keep working; no other
    lookup can match, as every encryption of a value differs."""

    description = "Text stored encrypted"

    def get_db_prep_save(self, value, connection):
        value = super().get_db_prep_save(value, connection)
        return secret_encrypt(value) if value else value

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return secret_decrypt(value)
        except InvalidToken:
            raise SecretUndecryptable(
                f"A stored secret ({self.model._meta.label}.{self.name}) cannot be decrypted "
                "with any key in FIELD_ENCRYPTION_KEY: add the key it was encrypted with."
            ) from None
