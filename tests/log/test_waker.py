"""The elected waker (REALTIME_NOTIFY = "waker", the default): writers skip NOTIFY, pages still
see their writes at once, raw SQL that NOTIFYs still works, and a new waker takes over when
its holder's session is terminated.

The listeners' safety poll is set to a minute, so only a wake-up can deliver within the
tests' timeouts.
"""

from __future__ import annotations

import asyncio
import collections.abc
import functools
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection

from chat import models
from listener.layer import process
from listener.log import events, listen, waker
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)

People = dict[str, User]


@pytest.fixture(autouse=True)
def _slow_safety_poll(settings: Any) -> None:
    settings.REALTIME_POLL_INTERVAL = 60.0


def _orm_write(room: models.ChatRoom, sender_id: int, text: str) -> str | None:
    """Write through Django's connection; the session's `realtime.notify` as it wrote."""
    models.ChatMessage.objects.create(room=room, sender_id=sender_id, message=text)
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('realtime.notify', true)")
        return cur.fetchone()[0]  # type: ignore[no-any-return]


async def _notifications(
    conn: psycopg.AsyncConnection[Any], count: int, timeout: float = 10
) -> list[psycopg.Notify]:
    received: list[psycopg.Notify] = []

    async def gather() -> None:
        async for notify in conn.notifies():
            received.append(notify)
            if len(received) == count:
                return

    await asyncio.wait_for(gather(), timeout)
    return received


async def test_a_django_write_reaches_the_page_woken_by_the_waker_not_the_writer(
    people: People, room: models.ChatRoom
) -> None:
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    running = waker.current()
    assert running is not None
    await asyncio.wait_for(running.leading.wait(), 10)
    wakeups = running.wakeups
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as watch:
        await watch.execute("LISTEN %s" % listen.CHANNEL)
        setting = await sync(_orm_write)(room, people["owner"].id, "quiet")
        (frame,) = await frames(communicator, 1)
        (notify,) = await _notifications(watch, 1)
    assert setting == "off"
    # The loop runs inside Postgres; its wake-ups still count in this process (/health).
    assert running.wakeups > wakeups
    assert frame["type"] == "chat_message_created" and frame["kwargs"]["message"] == "quiet"
    # The only wake-up came from the waker's session.
    assert notify.pid == running.backend_pid
    await communicator.disconnect()


async def test_raw_sql_that_notifies_still_reaches_the_page(people: People, room: models.ChatRoom) -> None:
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as psql:
        await psql.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message)"
            " VALUES (%s, %s, now(), 'raw')",
            [room.id, people["owner"].id],
        )
    (frame,) = await frames(communicator, 1)
    assert frame["kwargs"]["message"] == "raw"
    await communicator.disconnect()


async def test_a_standby_takes_over_when_the_holder_is_terminated(
    people: People, room: models.ChatRoom
) -> None:
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    first = waker.current()
    assert first is not None
    await asyncio.wait_for(first.leading.wait(), 10)
    second = waker.Waker()
    second.start()
    try:
        await asyncio.wait_for(_until(lambda: second.state is waker.WakerState.STANDBY), 10)
        assert not second.leading.is_set()
        holder = first.backend_pid
        async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", [holder])
        await asyncio.wait_for(second.leading.wait(), 10)
        assert second.backend_pid != holder
        await sync(_orm_write)(room, people["owner"].id, "after failover")
        (frame,) = await frames(communicator, 1)
        assert frame["kwargs"]["message"] == "after failover"
    finally:
        await second.stop()
    await communicator.disconnect()


async def test_two_listeners_in_one_process_are_both_woken(people: People, room: models.ChatRoom) -> None:
    running = waker.Waker()
    running.start()
    got: list[list[events.LogEvent]] = [[], []]
    listeners = [listen.Listener(got[i].append) for i in range(2)]
    for listener in listeners:
        listener.start()
    try:
        for listener in listeners:
            await asyncio.wait_for(listener.ready.wait(), 10)
        await asyncio.wait_for(running.leading.wait(), 10)
        await sync(_orm_write)(room, people["owner"].id, "both")
        for received in got:
            await asyncio.wait_for(_until(functools.partial(bool, received)), 10)
            assert [e.kwargs["message"] for e in received] == ["both"]
    finally:
        for listener in listeners:
            await listener.stop()
        await running.stop()
    assert process.current() is None


async def _until(condition: collections.abc.Callable[[], bool]) -> None:
    """Resolve once ``condition`` holds; callers bound it with asyncio.wait_for."""
    while not condition():
        await asyncio.sleep(0.01)
