"""Does a write here really become an event? Probes for ``manage.py realtime_check``.

The catalog can say "installed and enabled" while nothing is captured: a database or role
with ``session_replication_role = replica`` skips ordinary triggers, and a function replaced by
a no-op keeps its name. So the check also writes, inside one transaction that is rolled back,
and looks for the events of that very transaction in the log. Nothing it writes is ever
committed (no NOTIFY goes out either); only sequences advance, leaving gaps in ids.
"""

from __future__ import annotations

import typing

import pgtrigger
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from psycopg import sql

from listener import migration_sql
from listener.ops import diagnostics

_APPEND = "realtime_append_event"
_OWN_EVENTS = "SELECT count(*) FROM listener_event WHERE xid = pg_current_xact_id()"


def run_all() -> list[diagnostics.Finding]:
    found = replication_role()
    with transaction.atomic():
        found += append_functions()
        found += insert_triggers()
        transaction.set_rollback(True)
    return found


def replication_role() -> list[diagnostics.Finding]:
    """Ordinary triggers do not fire in a session with ``session_replication_role = replica``."""
    with connection.cursor() as cur:
        cur.execute("SELECT setting, source FROM pg_settings WHERE name = 'session_replication_role'")
        setting, source = cur.fetchone()
    if setting == "origin":
        return [
            diagnostics.Finding(diagnostics.Level.OK, "session_replication_role is origin: triggers fire")
        ]
    return [
        diagnostics.Finding(
            diagnostics.Level.ERROR,
            "session_replication_role is %s (set by: %s): triggers that are not ENABLE ALWAYS do not "
            "fire, so writes publish nothing; RESET it (ALTER DATABASE/ROLE ... RESET "
            "session_replication_role)" % (setting, source),
        )
    ]


def append_functions() -> list[diagnostics.Finding]:
    """Each version of the append function adds a row to the log (triggers and ``group_send`` call them)."""
    found = []
    for name in migration_sql.functions():
        if not name.startswith(_APPEND):
            continue
        call = sql.SQL("SELECT {}(ARRAY['realtime_check'], 'realtime_check_probe', '{{}}'::jsonb)").format(
            sql.Identifier(name)
        )
        try:
            added = _events_added(call.as_string(connection.connection))
        except DatabaseError as exc:
            found.append(
                diagnostics.Finding(diagnostics.Level.ERROR, "%s fails: %s" % (name, _first_line(exc)))
            )
            continue
        if added:
            found.append(diagnostics.Finding(diagnostics.Level.OK, "%s appends to the event log" % name))
        else:
            found.append(
                diagnostics.Finding(
                    diagnostics.Level.ERROR,
                    "%s appended nothing to the event log: it was replaced; run its shipped SQL "
                    "file again (listener/sql/)" % name,
                )
            )
    return found


def insert_triggers() -> list[diagnostics.Finding]:
    """Copy one existing row of each table with a publishing insert trigger: an event must appear."""
    found = []
    for model in _published_on_insert():
        table = model._meta.db_table
        columns = [f.column for f in model._meta.concrete_fields if not f.primary_key and f.column]
        names = sql.SQL(", ").join([sql.Identifier(c) for c in columns if c])
        copy = sql.SQL("INSERT INTO {table} ({names}) SELECT {names} FROM {table} LIMIT 1").format(
            table=sql.Identifier(table), names=names
        )
        try:
            added = _events_added(copy.as_string(connection.connection), expect_row=True)
        except IntegrityError as exc:
            # A unique constraint forbids a copy: nothing to learn from this table.
            found.append(
                diagnostics.Finding(
                    diagnostics.Level.INFO,
                    "insert probe on %s skipped: a copied row breaks a constraint (%s)"
                    % (table, _first_line(exc)),
                )
            )
            continue
        except DatabaseError as exc:
            # Anything else fails inside the trigger too (a missing function, a broken body).
            found.append(
                diagnostics.Finding(
                    diagnostics.Level.ERROR, "an insert into %s fails: %s" % (table, _first_line(exc))
                )
            )
            continue
        if added is None:
            found.append(
                diagnostics.Finding(diagnostics.Level.INFO, "insert probe on %s skipped: no rows" % table)
            )
        elif added:
            found.append(
                diagnostics.Finding(diagnostics.Level.OK, "an insert into %s publishes an event" % table)
            )
        else:
            found.append(
                diagnostics.Finding(
                    diagnostics.Level.ERROR,
                    "an insert into %s published nothing: its trigger did not fire or its function no "
                    "longer appends to the log; run manage.py migrate, or pgtrigger's install" % table,
                )
            )
    return found


def _published_on_insert() -> list[type[models.Model]]:
    """Models with an unconditional AFTER INSERT trigger that appends an event, in registry order."""
    chosen: list[type[models.Model]] = []
    for registered, trigger in pgtrigger.registered():
        # pgtrigger's annotations say instance; the registry holds model classes.
        model = typing.cast(type[models.Model], registered)
        # Declared publications build their body from the model (get_func); plain triggers carry it.
        func = trigger.get_func(registered)
        body = str(getattr(func, "func", func))
        if (
            model not in chosen
            and not model._meta.proxy
            and "INSERT" in str(trigger.operation).upper()
            and trigger.condition is None
            and _APPEND in body
        ):
            chosen.append(model)
    return chosen


def _events_added(statement: str, expect_row: bool = False) -> bool | None:
    """Run ``statement`` in a savepoint; did it append events in this transaction?

    With ``expect_row``, None when it wrote no row (nothing to judge by).
    """
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_OWN_EVENTS)
        (before,) = cur.fetchone()
        cur.execute(statement)
        if expect_row and cur.rowcount == 0:
            return None
        cur.execute(_OWN_EVENTS)
        (after,) = cur.fetchone()
    return bool(after > before)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
