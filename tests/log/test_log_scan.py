"""Reading the log beside an open transaction, and a transaction too big to read at once.

The listener scans from its last snapshot's xmax and in-progress list, in keyset pages; a
resuming page reads its topic's events through the topic index. Cursors must stay exact
through all of it: every event once, and a page resuming from any frame gets exactly the rest.
"""

from __future__ import annotations

import collections.abc
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from chat import models
from listener import queries
from listener.log import rendering
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def rendered_cursor() -> str:
    with rendering.consistent_read() as cursor:
        return cursor


async def write(room: models.ChatRoom, sender_id: int, texts: collections.abc.Iterable[str]) -> None:
    """Commit one message per text, each in its own transaction, from another connection."""
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        for text in texts:
            await conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
                (room.id, sender_id, text),
            )


async def resumed(room: models.ChatRoom, user: Any, cursor: str, count: int) -> list[str]:
    """The messages a page gets when it resumes from ``cursor``, then nothing more."""
    page, connected, _ = await connect("/ws/room/%d" % room.id, user, cursor=cursor)
    assert connected
    got = [f["kwargs"]["message"] for f in await frames(page, count, timeout=60)]
    assert await page.receive_nothing(timeout=0.2)
    await page.disconnect()
    return got


async def test_an_open_transaction_arrives_once_after_commit_and_every_cursor_resumes_exactly(people, room):
    other = await sync(models.ChatRoom.objects.create)(owner=people["other"], title="Elsewhere")
    cursor = await sync(rendered_cursor)()
    page, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    async with await psycopg.AsyncConnection.connect(servers.database_url()) as held:
        # Left open, as psql in BEGIN after an UPDATE: it has an xid older than what follows.
        await held.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, 'held')",
            (room.id, people["owner"].id),
        )
        await write(other, people["other"].id, ("elsewhere %d" % i for i in range(300)))
        await write(room, people["owner"].id, ("m%d" % i for i in range(20)))
        live = await frames(page, 20)
        assert [f["kwargs"]["message"] for f in live] == ["m%d" % i for i in range(20)]
        await held.commit()
    live += await frames(page, 1)
    await write(room, people["owner"].id, ["after"])
    live += await frames(page, 1)
    order = [f["kwargs"]["message"] for f in live]
    assert order == ["m%d" % i for i in range(20)] + ["held", "after"]
    await page.disconnect()

    # From every frame's cursor, exactly the frames after it (the held transaction's xid is
    # older, so a replay sends it first: the same events, in log order).
    for i, frame in enumerate(live[:-1]):
        rest = order[i + 1 :]
        got = await resumed(room, people["member"], frame["cursor"], len(rest))
        assert sorted(got) == sorted(rest), (i, got)
        assert len(set(got)) == len(got)


async def test_a_transaction_of_50k_rows_arrives_whole_in_order_and_resumes_in_the_middle(people, room):
    rows = 50_000
    cursor = await sync(rendered_cursor)()
    page, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    async with await psycopg.AsyncConnection.connect(servers.database_url()) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message)"
            " SELECT %s, %s, 'big ' || i FROM generate_series(1, %s) AS i",
            (room.id, people["owner"].id, rows),
        )
        await conn.commit()
    got = await frames(page, rows, timeout=60)
    assert [f["kwargs"]["message"] for f in got] == ["big %d" % i for i in range(1, rows + 1)]
    await write(room, people["owner"].id, ["after"])
    assert (await frames(page, 1))[0]["kwargs"]["message"] == "after"
    await page.disconnect()

    # Dropped after frame k: resuming from its cursor gives exactly the frames after it.
    for k in (25_000, rows - 1):
        rest = await resumed(room, people["member"], got[k - 1]["cursor"], rows - k + 1)
        assert rest == ["big %d" % i for i in range(k + 1, rows + 1)] + ["after"]


def replay(topics: list[str] | None, since: str, until: str, limit: int = 2) -> list[tuple[str, list[str]]]:
    """Every page of replay_page, as (type, topics), following the keyset as consumers do."""
    found: list[tuple[str, list[str]]] = []
    after_xid, after_id = "0", 0
    with connection.cursor() as cur:
        while True:
            params = {"topics": topics, "since": since, "until": until, "limit": limit}
            cur.execute(queries.get("replay_page"), {**params, "after_xid": after_xid, "after_id": after_id})
            rows = cur.fetchall()
            found += [(row[3], row[2]) for row in rows]
            if len(rows) < limit:
                return found
            after_xid, after_id = rows[-1][1], rows[-1][0]


def test_replay_reads_a_topics_events_once_each_including_multi_topic_ones_and_prune_drops_them(
    transactional_db,
):
    def append(*events: tuple[list[str], str]) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            for topics, event_type in events:
                cur.execute("SELECT realtime_append_event_v1(%s, %s, '{}')", [topics, event_type])

    def snapshot() -> str:
        with connection.cursor() as cur:
            cur.execute(queries.get("current_snapshot"))
            return str(cur.fetchone()[0])

    since = snapshot()
    append((["room_1"], "a"), (["room_2"], "b"), (["room_1", "user_7"], "c"))
    append((["user_7"], "d"), (["room_1", "room_1"], "e"))
    until = snapshot()
    append((["room_1"], "later"))
    assert [t for t, _ in replay(["room_1"], since, until)] == ["a", "c", "e"]
    assert [t for t, _ in replay(["room_1", "user_7"], since, until)] == ["a", "c", "d", "e"]
    assert [t for t, _ in replay(None, since, until)] == ["a", "b", "c", "d", "e"]
    assert replay(["room_3"], since, until) == []
    # Only later topics have rows of their own; first topics are found through the log's index.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT topic, e.type FROM listener_event_topic t JOIN listener_event e ON e.id = t.event_id"
        )
        assert cur.fetchall() == [("user_7", "c")]

    # A transaction in progress when the replay's `since` was taken: found by its xid, both ways.
    with psycopg.connect(servers.database_url(), autocommit=True) as other:
        with other.transaction():
            for topics, event_type in ((["room_1", "user_7"], "f"), (["user_7"], "g"), (["room_2"], "h")):
                other.execute("SELECT realtime_append_event_v1(%s, %s, '{}')", [topics, event_type])
            append((["room_9"], "later xid, committed first"))  # puts the open one in since's xip
            since = snapshot()
        until = snapshot()
    assert [t for t, _ in replay(["user_7"], since, until, limit=1)] == ["f", "g"]
    assert [t for t, _ in replay(["room_1"], since, until, limit=1)] == ["f"]
    assert [t for t, _ in replay(["room_1", "user_7"], since, until)] == ["f", "g"]

    call_command("prune_events", "--older-than", "0s")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM listener_event_topic")
        assert cur.fetchone()[0] == 0
