"""Connection parameters of the listener's own Postgres connection."""

from __future__ import annotations

from django.db import connections
from psycopg import conninfo

from listener import conf

# Django-only options that libpq does not understand.
_DJANGO_OPTIONS = {"pool", "server_side_binding", "isolation_level", "assume_role"}


def django_conninfo(alias: str = "default") -> str:
    """A libpq connection string for Django's database ``alias`` (read now, so a test
    database chosen after start-up is honoured)."""
    params = connections[alias].settings_dict
    values = {
        "dbname": params.get("NAME"),
        "user": params.get("USER"),
        "password": params.get("PASSWORD"),
        "host": params.get("HOST"),
        "port": params.get("PORT"),
    }
    options = {k: v for k, v in params.get("OPTIONS", {}).items() if k not in _DJANGO_OPTIONS}
    return conninfo.make_conninfo(**{k: v for k, v in values.items() if v}, **options)


def listener_conninfo() -> str:
    """The listener's DSN: its own setting if given, else Django's default database."""
    url = conf.listener_database_url()
    return conninfo.make_conninfo(
        url or django_conninfo(),
        application_name="realtime-listener",
        # Notice a dead peer within about half a minute even when no NOTIFY arrives.
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )
