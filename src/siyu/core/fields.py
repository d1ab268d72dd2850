"""Model fields for personal data."""

from __future__ import annotations

from django.db import models

from . import crypto


class Ciphertext(str):
    """A value already encrypted with crypto.encrypt (bulk paths encrypt up front)."""


class EncryptedTextField(models.TextField):
    """Text stored AES-GCM encrypted; reads return plaintext. Not filterable: use a lookup hash."""

    def from_db_value(self, value, expression, connection):
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        if isinstance(value, Ciphertext):
            return str(value)
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)
