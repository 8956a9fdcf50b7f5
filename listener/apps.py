from __future__ import annotations

import weakref
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.backends import signals


class ListenerConfig(AppConfig):
    """The LISTEN worker, the event log and the in-process channel layer."""

    name = "listener"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        """Load the user model's app first, wherever INSTALLED_APPS lists it.

        ``listener.models`` subclasses AUTH_USER_MODEL (a proxy that carries the revocation
        triggers); Django imports models in INSTALLED_APPS order, so a user app listed after
        ``listener`` would not be loaded yet and Django would call it "not installed".
        """
        assert self.apps is not None  # set by the registry before it imports models
        label = settings.AUTH_USER_MODEL.partition(".")[0]
        target = self.apps.app_configs.get(label)
        if target is not None and target is not self and target.models is None:
            target.import_models()
        super().import_models()

    def ready(self) -> None:
        signals.connection_created.connect(_session_defaults, dispatch_uid="realtime-session-defaults")
        from django.utils import module_loading

        from listener.ops import system_checks

        system_checks.register()
        # Each app's ``live.py`` declares its live regions (listener.Live), as ``admin.py`` its admin.
        module_loading.autodiscover_modules("live")


# Database sessions that already carry the defaults below. With Django's connection pool every
# request's connection fires `connection_created` on a session the pool hands out again and again;
# the settings are session-wide and outlive the checkout, so each session needs them once, not one
# round trip per request. Weak: a session the pool closes (or a restart breaks) drops out by itself.
_configured: weakref.WeakSet[Any] = weakref.WeakSet()


def _session_defaults(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Settings of this process's database sessions that make captured writes cheaper, in one query.

    `pgtrigger.ignore = '{}'` (ignore no trigger, as when unset): every trigger django-pgtrigger
    installs starts by reading that setting inside an exception block, and in a session that never
    set it the read raises and catches an error for every captured row, dearer with each row the
    transaction already wrote: a 20,000-row statement cost 290 µs per row instead of 69
    (docs/benchmarks_capture.md). `pgtrigger.ignore()` still works: it sets the value for its own
    statements. Unless REALTIME_NOTIFY = "always", `realtime.notify =
    'off'`: writes append events without NOTIFY (listener/waker.py).
    """
    from listener import conf

    if connection.vendor != "postgresql" or connection.connection in _configured:
        return
    quiet = conf.notify() is not conf.Notify.ALWAYS
    with connection.cursor() as cur:
        cur.execute(
            "SELECT set_config('pgtrigger.ignore', '{}', false)"
            + (", set_config('realtime.notify', 'off', false)" if quiet else "")
        )
    _configured.add(connection.connection)
