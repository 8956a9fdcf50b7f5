"""Connection parameters of the listener's own Postgres connection."""

from __future__ import annotations

from django.db import connections
from psycopg import conninfo

from listener import conf


def listener_conninfo() -> str:
    """The listener's DSN: its own setting if given, else Django's default database.

    Read at connect time, so a test database chosen after start-up is honoured.
    """
    url = conf.get("REALTIME_LISTENER_DATABASE_URL")
    if url:
        return url
    params = connections["default"].settings_dict
    options = {k: v for k, v in params.get("OPTIONS", {}).items() if k not in {"pool", "server_side_binding"}}
    values = {
        "dbname": params.get("NAME"),
        "user": params.get("USER"),
        "password": params.get("PASSWORD"),
        "host": params.get("HOST"),
        "port": params.get("PORT"),
    }
    return conninfo.make_conninfo(
        application_name="realtime-listener",
        # Notice a dead peer within about half a minute even when no NOTIFY arrives.
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        **{k: v for k, v in values.items() if v},
        **options,
    )
