"""The presence table's statement triggers, written to with SQL as any process or psql would:
one event per topic per statement (and per transaction), first row joins, last row leaves."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from listener import models as listener_models
from listener import queries

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = "room_7"


def payload(user: str) -> str:
    return '{"room": "7", "user": {"id": "%s", "username": "u%s"}}' % (user, user)


def who(user: str) -> dict[str, str]:
    return {"id": user, "username": "u%s" % user}


def insert(*rows: tuple[str, str]) -> None:
    """Rows of (user, process) on TOPIC, in one statement."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO listener_presence (topic, user_id, process, payload)"
            " SELECT %s, r.user_id, r.process, r.payload::jsonb"
            " FROM unnest(%s::text[], %s::text[], %s::text[])"
            " WITH ORDINALITY AS r(user_id, process, payload, n)"
            " ORDER BY r.n",
            [TOPIC, [u for u, _ in rows], [p for _, p in rows], [payload(u) for u, _ in rows]],
        )


def delete(*rows: tuple[str, str]) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM listener_presence p USING unnest(%s::text[], %s::text[]) AS r(user_id, process)"
            " WHERE p.topic = %s AND p.user_id = r.user_id AND p.process = r.process",
            [[u for u, _ in rows], [p for _, p in rows], TOPIC],
        )


def published() -> list[dict[str, Any]]:
    """The presence events of the log so far, oldest first, and forget them."""
    events = listener_models.Event.objects.filter(type="did_alter_presence").order_by("xid", "id")
    found = [{"topics": e.topics, **e.payload} for e in events]
    events.delete()
    return found


def test_one_row_joins_and_leaves_with_todays_frame() -> None:
    insert(("1", "p1"))
    assert published() == [{"topics": [TOPIC], "action": "join", "room": "7", "user": who("1")}]
    delete(("1", "p1"))
    assert published() == [{"topics": [TOPIC], "action": "leave", "room": "7", "user": who("1")}]


def test_a_statement_of_several_users_is_one_sync_event_in_row_order() -> None:
    insert(("3", "p1"), ("1", "p1"), ("2", "p1"))
    assert published() == [
        {
            "topics": [TOPIC],
            "action": "sync",
            "room": "7",
            "joined": [who("3"), who("1"), who("2")],
            "left": [],
        }
    ]


def test_rows_of_other_processes_count_once() -> None:
    insert(("1", "p1"))
    published()
    # Another process's row of the same user, and a new user's rows on two processes at once.
    insert(("1", "p2"), ("2", "p1"), ("2", "p2"))
    assert published() == [{"topics": [TOPIC], "action": "join", "room": "7", "user": who("2")}]
    delete(("1", "p1"), ("2", "p1"))
    assert published() == []
    delete(("1", "p2"), ("2", "p2"))
    assert published() == [
        {"topics": [TOPIC], "action": "sync", "room": "7", "joined": [], "left": [who("1"), who("2")]}
    ]


def test_one_transaction_is_one_event_and_a_join_and_leave_cancel_out() -> None:
    insert(("1", "p1"))
    published()
    with transaction.atomic():
        delete(("1", "p1"))
        insert(("2", "p1"))
        insert(("3", "p1"))
    assert published() == [
        {"topics": [TOPIC], "action": "sync", "room": "7", "joined": [who("2"), who("3")], "left": [who("1")]}
    ]
    with transaction.atomic():
        insert(("4", "p1"))
        delete(("4", "p1"))
    assert published() == []


def test_the_writers_batch_is_one_event() -> None:
    insert(("1", "p1"), ("2", "p1"))
    published()
    with connection.cursor() as cur:
        cur.execute(
            queries.get("presence_write"),
            {
                "process": "p1",
                "leave_topics": [TOPIC],
                "leave_users": ["1"],
                "join_topics": [TOPIC, "room_8"],
                "join_users": ["3", "3"],
                "join_payloads": [payload("3"), payload("3").replace('"7"', '"8"')],
            },
        )
    assert published() == [
        {"topics": [TOPIC], "action": "sync", "room": "7", "joined": [who("3")], "left": [who("1")]},
        {"topics": ["room_8"], "action": "join", "room": "8", "user": who("3")},
    ]


def test_reaping_a_dead_process_publishes_its_leaves_per_topic() -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO listener_presenceprocess (id, heartbeat) VALUES"
            " ('dead', now() - interval '1 hour'), ('alive', now())"
        )
    insert(("1", "dead"), ("2", "dead"), ("3", "dead"), ("3", "alive"))
    published()
    with connection.cursor() as cur:
        cur.execute(queries.get("presence_reap"), {"timeout": 30})
    # User 3 keeps a row on the live process: not gone.
    assert published() == [
        {"topics": [TOPIC], "action": "sync", "room": "7", "joined": [], "left": [who("1"), who("2")]}
    ]
    with connection.cursor() as cur:
        cur.execute(queries.get("presence_reap"), {"timeout": 30})
    assert published() == []  # nothing reaped, nothing published
