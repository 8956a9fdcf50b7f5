from __future__ import annotations

from django.apps import AppConfig


class UuidUsersConfig(AppConfig):
    """The UUID user model's app (label ``uuid_users``)."""

    name = "tests.sockets.uuid_users"
    label = "uuid_users"
    default_auto_field = "django.db.models.BigAutoField"
