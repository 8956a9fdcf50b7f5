from __future__ import annotations

from django.apps import AppConfig


class ListenerConfig(AppConfig):
    """The LISTEN worker, the event log and the in-process channel layer."""

    name = "listener"
    default_auto_field = "django.db.models.BigAutoField"
