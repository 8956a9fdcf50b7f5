"""Django system checks: refusals that say what is wrong with a project before anything fails.

Without them a project that kept ``startproject``'s SQLite learns it at ``migrate``, from a
syntax error deep in listener.0001, and a mistyped setting inside a socket. ``manage.py check``,
``migrate`` (which runs the checks before any migration, including the database-tagged ones for
its database) and ``runserver`` stop with these messages instead. Ids:

- ``listener.E001``: the default database is not PostgreSQL.
- ``listener.E002``: its PostgreSQL is older than the oldest supported (a ``database`` check).
- ``listener.E003``: the default database cannot be reached to check its version.
- ``listener.E004``: a ``REALTIME_*`` setting has a wrong type or value.
- ``listener.E005``: ``CHANNEL_LAYERS['default']`` is another backend, and the ASGI application
  serves real-time sockets (``listener.W003`` when it does not, or cannot be imported to tell).
- ``listener.W001``: no ``CHANNEL_LAYERS['default']``.
- ``listener.W002``: a ``REALTIME_*`` setting that the library does not read (a typo?).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from django import db
from django.conf import settings
from django.core import checks
from django.utils import module_loading

from listener import conf, conf_rules
from listener.layer import channel_layer as layer
from listener.sockets import consumer

# Django 5.2, which the library needs, supports no older server either.
MIN_POSTGRES = 14
LAYER_PATH = "listener.layer.PostgresChannelLayer"
_LAYER_HINT = "CHANNEL_LAYERS = {'default': {'BACKEND': '%s'}}" % LAYER_PATH


def register() -> None:
    """Register the checks (from ``ListenerConfig.ready``)."""
    checks.register(database_engine, "listener", checks.Tags.compatibility)
    checks.register(postgres_version, checks.Tags.database)
    checks.register(realtime_settings, "listener")
    checks.register(channel_layer, "listener")


def database_engine(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    wrapper = db.connections[db.DEFAULT_DB_ALIAS]
    if wrapper.vendor == "postgresql":
        return []
    engine = wrapper.settings_dict.get("ENGINE") or "none"
    return [
        checks.Error(
            "The default database is %s (%s); the listener needs PostgreSQL." % (wrapper.vendor, engine),
            hint=(
                "Point DATABASES['default'] at a PostgreSQL %d+ server (ENGINE "
                "'django.db.backends.postgresql'): the event log's triggers, snapshots and "
                "LISTEN/NOTIFY exist only there. startproject's SQLite cannot run the listener's "
                "migrations." % MIN_POSTGRES
            ),
            id="listener.E001",
        )
    ]


def version_problem(pg_version: int) -> checks.CheckMessage | None:
    """E002 for a server version number as Postgres reports it (``150020`` is 15.20), or None."""
    if pg_version >= MIN_POSTGRES * 10000:
        return None
    found = "%d.%d" % (pg_version // 10000, pg_version % 10000)
    return checks.Error(
        "The default database runs PostgreSQL %s; the listener needs %d or later." % (found, MIN_POSTGRES),
        hint="Upgrade the server (Django 5.2 itself needs PostgreSQL %d+)." % MIN_POSTGRES,
        id="listener.E002",
    )


def postgres_version(
    app_configs: Sequence[Any] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Runs with ``check --database default`` and before ``migrate``, which pass ``databases``."""
    wrapper = db.connections[db.DEFAULT_DB_ALIAS]
    if not databases or db.DEFAULT_DB_ALIAS not in databases or wrapper.vendor != "postgresql":
        return []
    try:
        with wrapper.temporary_connection():
            version: int = wrapper.pg_version  # type: ignore[attr-defined]
    except db.NotSupportedError as exc:
        # Django refuses to connect to a server it does not support; say so in our words too.
        return [checks.Error(str(exc), hint="Upgrade the server.", id="listener.E002")]
    except db.Error as exc:
        return [
            checks.Error(
                "Cannot reach the default database to check its version: %s" % exc,
                hint="Is the server running, and do DATABASES['default']'s host, port and credentials match?",
                id="listener.E003",
            )
        ]
    problem = version_problem(version)
    return [] if problem is None else [problem]


def realtime_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = [
        checks.Error(
            message,
            hint="Its default is %r; docs/reference/settings.md says what it does." % conf.DEFAULTS[name],
            id="listener.E004",
        )
        for name, message in conf_rules.problems()
    ]
    for name in conf_rules.unknown():
        near = difflib.get_close_matches(name, conf.DEFAULTS, n=1)
        found.append(
            checks.Warning(
                "%s is set, but the listener has no such setting." % name,
                hint="Did you mean %s?" % near[0] if near else "docs/reference/settings.md lists them.",
                id="listener.W002",
            )
        )
    return found


def channel_layer(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    configured = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    if configured is None:
        return [
            checks.Warning(
                "CHANNEL_LAYERS has no 'default'; real-time sockets and with_listener need one.",
                hint=_LAYER_HINT,
                id="listener.W001",
            )
        ]
    backend = configured.get("BACKEND", "")
    try:
        ours = issubclass(module_loading.import_string(backend), layer.PostgresChannelLayer)
    except ImportError:
        ours = False
    if ours:
        return []
    message = "CHANNEL_LAYERS['default'] is %r; real-time sockets run only on %s." % (backend, LAYER_PATH)
    serves, unknown = _serves_sockets()
    if serves:
        return [checks.Error(message, hint=_LAYER_HINT, id="listener.E005")]
    hint = "Fine if this project only publishes events and serves no real-time sockets; else " + _LAYER_HINT
    if unknown:
        hint = "%s (ASGI_APPLICATION could not be imported to tell: %s)" % (hint, unknown)
    return [checks.Warning(message, hint=hint, id="listener.W003")]


def _serves_sockets() -> tuple[bool, str]:
    """Whether importing ASGI_APPLICATION loads a ``RealtimeConsumer`` (as Django's URL check imports
    ROOT_URLCONF), and why that could not be told."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return False, ""
    try:
        module_loading.import_string(path)
    except Exception as exc:
        # Daphne will report it with its traceback; this check only asks what it serves.
        return False, "%s: %s" % (type(exc).__name__, exc)
    return bool(consumer.RealtimeConsumer.__subclasses__()), ""
