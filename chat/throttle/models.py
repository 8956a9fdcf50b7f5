"""One row per counted attempt; rows older than the window are deleted as new ones arrive."""

from __future__ import annotations

from django.db import models
from django.db.models import functions


class Attempt(models.Model):
    """An attempt counted against ``key`` (e.g. ``login:user:olivia``) at ``at``."""

    key = models.CharField(max_length=200)
    at = models.DateTimeField(db_default=functions.Now())

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"], name="throttle_attempt_key_at"),
            models.Index(fields=["at"], name="throttle_attempt_at"),
        ]

    def __str__(self) -> str:
        return "%s at %s" % (self.key, self.at)
