"""Connection parameters of the listener's own Postgres connection."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connections
from psycopg import conninfo

from listener import conf, queries

# How often a backend running a long statement checks that its client is still there, and the
# server side's TCP keepalives (idle seconds, probe interval, probes): a killed server process's
# sessions end within CLIENT_CHECK_INTERVAL, a silent network loss within about half a minute.
CLIENT_CHECK_INTERVAL = "2s"
SERVER_KEEPALIVES = {"idle": "10", "interval": "5", "count": "3"}

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


async def end_with_client(conn: psycopg.AsyncConnection[Any]) -> None:
    """Make this session's backend end soon after its client process does.

    Why: a backend notices a closed client only when it next reads or writes, and one running a
    long statement (the waker's loop, a standby's lock wait) does neither; after a SIGKILL or
    SIGTERM of its server it ran on for minutes, holding a connection slot and blocking DROP
    DATABASE. Set per session with SQL rather than libpq ``options``, which poolers refuse and
    which would fail the connection on a server without client_connection_check_interval.
    """
    await conn.execute(queries.get("session_liveness"), {**SERVER_KEEPALIVES, "check": CLIENT_CHECK_INTERVAL})
