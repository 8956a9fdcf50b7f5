"""Checks of a deployment's real-time plumbing, run by ``manage.py realtime_check``.

Each check returns findings; any error means events may not reach pages.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
import select
import time

import pgtrigger
import psycopg
from django.db import connection
from pgtrigger import core as pgtrigger_core
from psycopg import conninfo

from listener import connection as listener_connection
from listener import migration_sql, queries

# The sql/ functions the triggers call.
PGBOUNCER_PORT = "6432"


class Level(enum.Enum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the report."""

    level: Level
    message: str


def run_all(round_trip_timeout: float = 5.0) -> list[Finding]:
    return [
        *triggers(),
        *functions(),
        *topic_index(),
        *listen_round_trip(round_trip_timeout),
        *log_stats(),
    ]


# pg_trigger.tgenabled: when a trigger fires, given the session's session_replication_role.
_FIRES = {
    "O": "enabled",
    "A": "enabled (ALWAYS: fires under session_replication_role = replica too)",
}
_SILENT = {
    "D": "is DISABLED: its writes emit no events",
    "R": "is ENABLE REPLICA: it fires only under session_replication_role = replica, so ordinary "
    "writes emit no events",
}


def triggers() -> list[Finding]:
    """Every trigger that pgtrigger knows of is installed, current and fires on ordinary writes."""
    found = []
    for model, trigger in pgtrigger.registered():
        where = "%s on %s" % (trigger.get_pgid(model), model._meta.db_table)
        # pgtrigger's own "enabled" is true only for ENABLE (origin), not ENABLE ALWAYS.
        status, _enabled = trigger.get_installation_status(model)
        if status == pgtrigger_core.OUTDATED:
            found.append(Finding(Level.ERROR, "trigger %s is outdated: run manage.py migrate" % where))
            continue
        if status != pgtrigger_core.INSTALLED:
            found.append(Finding(Level.ERROR, "trigger %s is %s: run manage.py migrate" % (where, status)))
            continue
        state = _tgenabled(trigger.get_pgid(model), model._meta.db_table)
        if state in _FIRES:
            found.append(Finding(Level.OK, "trigger %s installed and %s" % (where, _FIRES[state])))
        else:
            found.append(Finding(Level.ERROR, "trigger %s %s" % (where, _SILENT.get(state, "is %r" % state))))
    return found


def _tgenabled(name: str, table: str) -> str:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = %(name)s AND tgrelid = %(table)s::regclass",
            {"name": name, "table": table},
        )
        row = cur.fetchone()
    return "missing" if row is None else str(row[0])


def functions() -> list[Finding]:
    """The library's functions and those the project's migrations install from its SQL files."""
    names = sorted({*migration_sql.functions(), *migration_sql.project_functions()})
    with connection.cursor() as cur:
        cur.execute("SELECT proname FROM pg_proc WHERE proname = ANY(%(names)s)", {"names": names})
        present = {row[0] for row in cur.fetchall()}
    return [
        Finding(Level.OK, "function %s installed" % name)
        if name in present
        else Finding(Level.ERROR, "function %s is missing: run manage.py migrate" % name)
        for name in names
    ]


def topic_index() -> list[Finding]:
    """The log's own trigger that indexes events by topic: without it, resuming pages miss events."""
    with connection.cursor() as cur:
        cur.execute(queries.get("topic_index_trigger"))
        row = cur.fetchone()
    if row is None:
        return [Finding(Level.ERROR, "trigger realtime_index_event_topics is missing: run manage.py migrate")]
    if row[0] == "D":
        return [
            Finding(
                Level.ERROR,
                "trigger realtime_index_event_topics is DISABLED: resuming pages miss new events",
            )
        ]
    return [Finding(Level.OK, "trigger realtime_index_event_topics on listener_event installed and enabled")]


def pooler_warnings(dsn: str) -> list[Finding]:
    """Transaction-pooling proxies (PgBouncer) drop LISTEN silently: say so when it looks like one."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return [Finding(Level.ERROR, "the listener's connection string cannot be parsed")]
    if str(params.get("port", "")) == PGBOUNCER_PORT:
        return [
            Finding(
                Level.WARNING,
                "the listener connects to port %s, PgBouncer's default: LISTEN does not work through a "
                "transaction pooler; point REALTIME_LISTENER_DATABASE_URL at Postgres itself"
                % PGBOUNCER_PORT,
            )
        ]
    return []


def listen_round_trip(timeout: float) -> list[Finding]:
    """LISTEN on the listener's connection, NOTIFY through Django's, and wait for it to arrive."""
    dsn = listener_connection.listener_conninfo()
    found = pooler_warnings(dsn)
    channel = "realtime_check_%s" % secrets.token_hex(4)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(timeout))) as listen:
            listen.execute("LISTEN %s" % channel)
            server = listen.execute("SELECT version(), pg_backend_pid()").fetchone()
            assert server is not None
            if not str(server[0]).startswith("PostgreSQL"):
                found.append(
                    Finding(Level.WARNING, "the listener's server says %r, not PostgreSQL" % server[0])
                )
            with connection.cursor() as cur:
                cur.execute("SELECT pg_notify(%(channel)s, 'ping')", {"channel": channel})
            started = time.monotonic()
            arrived = _wait_for_notify(listen, channel, timeout)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [*found, Finding(Level.ERROR, "the listener cannot connect or LISTEN: %s" % first)]
    if not arrived:
        return [
            *found,
            Finding(
                Level.ERROR,
                "NOTIFY did not reach the listener's connection within %.1fs: is it behind a "
                "transaction pooler, or on another server than the writers?" % timeout,
            ),
        ]
    return [
        *found,
        Finding(Level.OK, "LISTEN/NOTIFY round trip in %.1f ms" % ((time.monotonic() - started) * 1000)),
    ]


def _wait_for_notify(conn: psycopg.Connection, channel: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        for notify in conn.notifies(timeout=0, stop_after=1):
            if notify.channel == channel:
                return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        select.select([conn.fileno()], [], [], min(left, 0.2))


def log_stats() -> list[Finding]:
    with connection.cursor() as cur:
        cur.execute(queries.get("log_stats"))
        events, oldest, usage = cur.fetchone()
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('listener_event'))")
        (size,) = cur.fetchone()
    found = [
        Finding(Level.INFO, "event log: %d events, %s on disk, oldest %s" % (events, size, oldest or "-")),
        Finding(Level.INFO, "notification queue usage: %.4f%%" % (usage * 100)),
    ]
    if usage > 0.5:
        found.append(
            Finding(
                Level.WARNING,
                "the notification queue is over half full: a session is LISTENing without reading "
                "(a stuck listener, or a long transaction in a listening session)",
            )
        )
    return found
