"""Which cursors may have missed a pruned event (listener.retention), and what batched pruning removes."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from listener.log import cursors
from listener.sockets import gaps


def snap(text: str) -> cursors.Snapshot:
    return cursors.Snapshot.parse(text)


def horizon(xid: int, event_id: int, snapshot: str, topic: str = "room_1") -> gaps.Horizon:
    return gaps.Horizon(topic, xid, event_id, snap(snapshot))


def test_a_cursor_below_the_highest_pruned_transaction_missed_it() -> None:
    cursor = cursors.Cursor(snap("100:100:"))
    assert gaps.missed(cursor, [horizon(100, 7, "101:101:")]) is not None
    assert gaps.missed(cursor, [horizon(99, 7, "101:101:")]) is None


def test_an_open_transaction_that_the_prune_did_not_see_never_forces_a_resync() -> None:
    # Transaction 50 was open during the prune (in its snapshot's xip) and still is at the cursor.
    cursor = cursors.Cursor(snap("50:200:50"))
    assert gaps.missed(cursor, [horizon(150, 9, "50:160:50")]) is None


def test_a_transaction_in_progress_at_the_cursor_and_visible_to_the_prune_may_be_pruned() -> None:
    cursor = cursors.Cursor(snap("50:200:50"))
    assert gaps.missed(cursor, [horizon(150, 9, "160:160:")]) is not None
    # Above the topic's highest pruned transaction: nothing of the topic in it was pruned.
    assert gaps.missed(cursors.Cursor(snap("170:200:170")), [horizon(150, 9, "180:180:")]) is None


def test_the_last_delivered_transaction_counts_as_seen_up_to_its_delivered_event() -> None:
    # A frame's cursor holds its own transaction as partly delivered.
    delivered = cursors.Cursor(snap("150:151:150"), {150: 9})
    assert gaps.missed(delivered, [horizon(150, 9, "151:151:")]) is None
    midway = cursors.Cursor(snap("150:151:150"), {150: 8})
    assert gaps.missed(midway, [horizon(150, 9, "151:151:")]) is not None


def test_topics_never_pruned_and_legacy_horizons() -> None:
    cursor = cursors.Cursor(snap("50:200:50"))
    assert gaps.missed(cursor, []) is None
    # Prunes of earlier versions left only a global horizon: cursors below it keep resyncing.
    assert gaps.missed(cursor, [], legacy_below=60) is not None
    assert gaps.missed(cursor, [], legacy_below=50) is None


@pytest.mark.django_db(transaction=True)
def test_batches_prune_a_prefix_up_to_the_first_young_event_with_its_topic_index() -> None:
    with connection.cursor() as cur:
        for i in range(7):
            with transaction.atomic():
                cur.execute(
                    "SELECT realtime_append_event_v1(ARRAY['room_' || %s, 'user_9'], 't', '{}')"
                    " FROM generate_series(1, 3)",
                    [i % 2],
                )
        cur.execute("SELECT xid::text, id FROM listener_event ORDER BY xid, id")
        log = [(int(x), i) for x, i in cur.fetchall()]
        # Transactions 0-2 and 4-6 are old, 3 is young: the prune stops at 3 and keeps 4-6.
        cur.execute("UPDATE listener_event SET created = created - interval '2 hours'")
        young = [i for _, i in log[9:12]]
        cur.execute("UPDATE listener_event SET created = now() WHERE id = ANY(%s)", [young])
    call_command("prune_events", "--older-than", "1h", "--batch-size", "2")
    with connection.cursor() as cur:
        cur.execute("SELECT xid::text, id FROM listener_event ORDER BY xid, id")
        assert [(int(x), i) for x, i in cur.fetchall()] == log[9:]
        cur.execute("SELECT DISTINCT event_id FROM listener_event_topic ORDER BY event_id")
        assert [row[0] for row in cur.fetchall()] == sorted(i for _, i in log[9:])
        cur.execute("SELECT topic, xid::text, event_id FROM listener_retention_topic ORDER BY topic")
        last_room_0, last_room_1 = log[6:9][-1], log[3:6][-1]
        assert [(t, int(x), i) for t, x, i in cur.fetchall()] == [
            ("room_0", *last_room_0),
            ("room_1", *last_room_1),
            ("user_9", *last_room_0),
        ]
