"""Pruning the log: pages resync only when they may really have missed a pruned event of their topic.

Real daphne, the real listener, real WebSocket clients; prunes through `manage.py prune_events`.
"""

from __future__ import annotations

import asyncio
import collections.abc
from typing import Any

import psycopg
import pytest
import websockets
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from chat import models
from listener.log import cursors
from tests import servers
from tests.conftest import sync
from tests.log.test_cursors import close_pages, page_for, rendered_cursor, texts, write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def _daphne(django_db_setup: None) -> collections.abc.Iterator[servers.Server]:
    """One server for the module, without presence: a page's own leave would be an event of its
    room after its cursor, and these tests prune everything, so the page would rightly have to
    resync. Shared, as tests/servers.py's ``reused`` says."""
    with servers.daphne(1, {"REALTIME_PRESENCE": "0"}) as running:
        yield running[0]


@pytest.fixture
async def server(
    _daphne: servers.Server, transactional_db: None
) -> collections.abc.AsyncIterator[servers.Server]:
    yield servers.reused(_daphne)
    await close_pages()


def prune(*args: str) -> None:
    call_command("prune_events", *args)


def room_horizon(room: models.ChatRoom) -> tuple[int, int] | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT xid::text, event_id FROM listener_retention_topic WHERE topic = %s", ["room_%d" % room.id]
        )
        row = cur.fetchone()
    return (int(row[0]), row[1]) if row else None


async def assert_resync(page: Any) -> None:
    frame = await page.receive()
    assert frame["type"] == "resync_required"
    assert "pruned" in frame["kwargs"]["reason"]
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await page.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4410


async def open_old_transaction() -> psycopg.AsyncConnection[Any]:
    """`BEGIN; SELECT pg_current_xact_id();` left open, as in a forgotten psql session."""
    conn = await psycopg.AsyncConnection.connect(servers.database_url())
    await conn.execute("SELECT pg_current_xact_id()")
    return conn


async def test_with_an_old_transaction_open_new_pages_resume_after_a_prune(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    old = await open_old_transaction()
    try:
        await write(room, people["owner"].id, "old news")
        await sync(prune)("--older-than", "0s")
        horizon = await sync(room_horizon)(room)
        assert horizon is not None
        shown, cursor = await sync(rendered_cursor)(room)
        assert shown == ["old news"]
        # The page's snapshot is held back by the open transaction, below the pruned event:
        # the xmin comparison of earlier versions sent this page into a reload loop.
        assert cursors.Cursor.decode(cursor).snapshot.xmin < horizon[0]
        page = await page_for(server, people, room, cursor)
        await write(room, people["owner"].id, "fresh")
        assert texts([await page.receive()]) == ["fresh"]
        await page.drop()
    finally:
        await old.close()


async def test_with_an_old_transaction_open_a_cursor_that_missed_a_pruned_event_resyncs(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    old = await open_old_transaction()
    try:
        page = await page_for(server, people, room)
        await write(room, people["owner"].id, "seen")
        await page.receive()
        await page.drop()
        await write(room, people["owner"].id, "pruned while away")
        await sync(prune)("--older-than", "0s")
        await page.open()
        await assert_resync(page)
    finally:
        await old.close()


async def test_quiet_room_whose_last_delivered_event_was_pruned_resumes(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    page = await page_for(server, people, room)
    await write(room, people["owner"].id, "last word")
    assert texts([await page.receive()]) == ["last word"]
    await page.drop()
    await sync(prune)("--older-than", "0s")
    assert await sync(room_horizon)(room) is not None
    await page.open()
    await write(room, people["owner"].id, "after the silence")
    assert texts([await page.receive()]) == ["after the silence"]


async def test_another_rooms_prune_does_not_resync_this_room(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    other = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Elsewhere")
    page = await page_for(server, people, room)
    await write(room, people["owner"].id, "here")
    await page.receive()
    await page.drop()
    await write(other, people["owner"].id, "there, pruned")
    await sync(prune)("--older-than", "0s")
    await page.open()
    await write(room, people["owner"].id, "here again")
    assert texts([await page.receive()]) == ["here again"]


async def test_pruning_beside_live_writes_loses_nothing_a_page_needs(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    # 3,000 backdated events of this room and others, pruned in batches of 100 while a writer
    # commits 60 messages that a live page must all receive, in order, and can resume after.
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "SELECT realtime_append_event_v1(ARRAY['room_' || (%s + i %% 2)], 'chat_message_created',"
            " jsonb_build_object('i', i)) FROM generate_series(1, 3000) i",
            (room.id,),
        )
        await conn.execute("UPDATE listener_event SET created = created - interval '2 hours'")
    page = await page_for(server, people, room)
    sent = ["live %02d" % i for i in range(60)]
    pruning = asyncio.create_task(sync(prune)("--older-than", "1h", "--batch-size", "100"))
    await write(room, people["owner"].id, *sent)
    await asyncio.wait_for(pruning, 60)
    assert texts(await page.receive_many(len(sent))) == sent
    remaining = await sync(_log_messages)()
    assert remaining == sent
    await page.drop()
    await page.open()
    await write(room, people["owner"].id, "resumed")
    assert texts([await page.receive()]) == ["resumed"]


def _log_messages() -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.payload->>'message' FROM listener_event e"
            " WHERE e.type = 'chat_message_created' ORDER BY e.xid, e.id"
        )
        return [row[0] for row in cur.fetchall()]
