"""One row per counted attempt; each row is deleted once it expires, as new ones arrive."""

from __future__ import annotations

from django.db import models
from django.db.models import functions


class Attempt(models.Model):
    """An attempt counted against ``key`` (e.g. ``login:addr:192.0.2.1``) from ``at`` until ``until``."""

    key = models.CharField(max_length=200)
    at = models.DateTimeField(db_default=functions.Now())
    # Limits have windows of their own (10 s for posts, an hour for sign-ups): each row knows
    # when it stops counting, so one sweep forgets every expired row whatever its limit.
    until = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"], name="throttle_attempt_key_at"),
            models.Index(fields=["until"], name="throttle_attempt_until"),
        ]

    def __str__(self) -> str:
        return "%s at %s" % (self.key, self.at)
