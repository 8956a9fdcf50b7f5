"""The triggers of the presence table: a user's first row on a topic joins, their last leaves.

Both call ``realtime_presence_changed_v1`` (``listener/sql/``), which decides under a lock on
(topic, user) whether the row was the first or the last across every server process.
"""

from __future__ import annotations

import pgtrigger
from psycopg import sql

# The event type of a presence change, on the topic the sockets follow.
EVENT = "did_alter_presence"
CHANGED = sql.Identifier("realtime_presence_changed_v1")


def _body(row: str, action: str) -> str:
    record = sql.SQL(row)
    return (
        sql.SQL("PERFORM {}({}.{}, {}.{}, {}.{}, {}, {}, {}.{}); RETURN NULL;")
        .format(
            CHANGED,
            record,
            sql.Identifier("id"),
            record,
            sql.Identifier("topic"),
            record,
            sql.Identifier("user_id"),
            sql.Literal(EVENT),
            sql.Literal(action),
            record,
            sql.Identifier("payload"),
        )
        .as_string(None)
    )


def triggers() -> list[pgtrigger.Trigger]:
    return [
        pgtrigger.Trigger(
            name="presence_join",
            when=pgtrigger.After,
            operation=pgtrigger.Insert,
            func=pgtrigger.Func(_body("NEW", "join")),  # type: ignore[no-untyped-call]
        ),
        pgtrigger.Trigger(
            name="presence_leave",
            when=pgtrigger.After,
            operation=pgtrigger.Delete,
            func=pgtrigger.Func(_body("OLD", "leave")),  # type: ignore[no-untyped-call]
        ),
    ]
