from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends import signals


class ListenerConfig(AppConfig):
    """The LISTEN worker, the event log and the in-process channel layer."""

    name = "listener"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        signals.connection_created.connect(_quiet_writes, dispatch_uid="realtime-notify")


def _quiet_writes(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Unless REALTIME_NOTIFY = "always", this process's writes append events without NOTIFY."""
    from listener import conf

    if conf.get("REALTIME_NOTIFY") in ("waker", "off") and connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET realtime.notify = 'off'")
