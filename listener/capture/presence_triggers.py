"""The triggers of the presence table: a user's first row on a topic joins, their last leaves.

They fire once per statement, with the statement's rows as a transition table, and call
``realtime_presence_changed_v2`` (``listener/sql/``), which decides under locks on each
(topic, user) whether a row was the first or the last across every server process, and
publishes one event per topic: a writer's batch of changes reaches a page as one frame.
"""

from __future__ import annotations

import pgtrigger
from psycopg import sql

# The event type of a presence change, on the topic the sockets follow.
EVENT = "did_alter_presence"
CHANGED = sql.Identifier("realtime_presence_changed_v2")
# The transition tables: the rows a statement inserted, or deleted.
JOINED = "presence_joined"
LEFT = "presence_left"


def _body(rows: str, action: str) -> str:
    def column(name: str) -> sql.Composable:
        return sql.SQL("array_agg({} ORDER BY {})").format(
            sql.Identifier("r", name), sql.Identifier("r", "id")
        )

    return (
        sql.SQL("PERFORM {}({}, {}, {}, {}, {}, {}) FROM (SELECT {} FROM {} {}) {}; RETURN NULL;")
        .format(
            CHANGED,
            sql.Literal(EVENT),
            sql.Literal(action),
            *(sql.Identifier("k", name) for name in ("id", "topic", "user_id", "payload")),
            sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(column(name), sql.Identifier(name))
                for name in ("id", "topic", "user_id", "payload")
            ),
            sql.Identifier(rows),
            sql.Identifier("r"),
            sql.Identifier("k"),
        )
        .as_string(None)
    )


def triggers() -> list[pgtrigger.Trigger]:
    return [
        pgtrigger.Trigger(
            name="presence_join",
            when=pgtrigger.After,
            operation=pgtrigger.Insert,
            level=pgtrigger.Statement,
            referencing=pgtrigger.Referencing(new=JOINED),  # type: ignore[no-untyped-call]
            func=pgtrigger.Func(_body(JOINED, "join")),  # type: ignore[no-untyped-call]
        ),
        pgtrigger.Trigger(
            name="presence_leave",
            when=pgtrigger.After,
            operation=pgtrigger.Delete,
            level=pgtrigger.Statement,
            referencing=pgtrigger.Referencing(old=LEFT),  # type: ignore[no-untyped-call]
            func=pgtrigger.Func(_body(LEFT, "leave")),  # type: ignore[no-untyped-call]
        ),
    ]
