from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The demo domain: private chat rooms with join requests."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"
