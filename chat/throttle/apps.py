from __future__ import annotations

from django.apps import AppConfig


class ThrottleConfig(AppConfig):
    """Counts failed attempts (logins, join codes) in Postgres, shared by every server process."""

    name = "chat.throttle"
    label = "throttle"
    default_auto_field = "django.db.models.BigAutoField"
