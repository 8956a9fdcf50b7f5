"""Real servers, pages that vanish mid-replay, read nothing, or get a transaction over their backlog."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import psycopg
import pytest
import websockets
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat import models
from listener.log import rendering
from tests import servers
from tests.conftest import session_cookie, sync
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)

People = dict[str, User]
BACKLOG = 1000  # REALTIME_SOCKET_BACKLOG's default, which the servers run with


async def insert_in_one_transaction(
    room: models.ChatRoom, sender_id: int, count: int, first: int = 1
) -> None:
    """Messages ``bulk <first>`` to ``bulk <first + count - 1>``, committed together."""
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message)"
            " SELECT %s, %s, 'bulk ' || lpad(n::text, 6, '0')"
            " FROM generate_series(%s::int, %s::int) AS n",
            (room.id, sender_id, first, first + count - 1),
        )


def page_cursor() -> str:
    with rendering.consistent_read() as cursor:
        return cursor


def open_sockets(server: servers.Server) -> int:
    with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
        return int(json.load(response)["sockets"]["open"])


async def until_no_socket_is_open(server: servers.Server) -> None:
    while await asyncio.to_thread(open_sockets, server):
        await asyncio.sleep(0.2)


def test_sockets_dropped_mid_replay_leave_their_groups(people: People, room: models.ChatRoom) -> None:
    """Daphne cancels a consumer that outlives its connection; it must not stay subscribed.

    Daphne waits 10 s by default before it cancels; 2 s here makes a shorter replay outlive it.
    """
    command = [*servers.DAPHNE[:-1], "--application-close-timeout", "2", servers.DAPHNE[-1]]
    with servers.daphne(1, command=command) as running:
        asyncio.run(_dropped_mid_replay(running[0], people, room))


async def _dropped_mid_replay(server: servers.Server, people: People, room: models.ChatRoom) -> None:
    cursor = await sync(page_cursor)()
    await insert_in_one_transaction(room, people["owner"].id, 20_000)
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    dropped = []
    for _ in range(20):  # REALTIME_MAX_SOCKETS_PER_USER
        page = Page(server.ws, "/ws/room/%d" % room.id, cookie, cursor)
        await page.open()
        await page.receive()  # the replay is under way
        dropped.append(page)
    for page in dropped:
        assert page.socket is not None
        page.socket.transport.abort()  # the TCP connection is gone, no close handshake
    await asyncio.wait_for(until_no_socket_is_open(server), 60)

    # The user is not held at the cap by sockets that are gone, and live events reach them.
    fresh = Page(server.ws, "/ws/room/%d" % room.id, cookie)
    await fresh.open()
    await models_write(room, people["owner"].id, "after the drops")
    frame = await fresh.receive(timeout=20)
    assert frame["kwargs"]["message"] == "after the drops"
    await fresh.drop()


async def models_write(room: models.ChatRoom, sender_id: int, text: str) -> None:
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
            (room.id, sender_id, text),
        )


@pytest.mark.parametrize("command", [servers.DAPHNE, servers.UVICORN], ids=["daphne", "uvicorn"])
def test_a_page_that_reads_gets_a_transaction_bigger_than_its_backlog(
    people: People, room: models.ChatRoom, command: list[str]
) -> None:
    with servers.daphne(1, command=command) as running:
        asyncio.run(_whole_transaction(running[0], people, room))


async def _whole_transaction(server: servers.Server, people: People, room: models.ChatRoom) -> None:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    reader = Page(server.ws, "/ws/room/%d" % room.id, cookie)
    await reader.open()
    size = BACKLOG * 3
    await insert_in_one_transaction(room, people["owner"].id, size)
    try:
        got = [frame["kwargs"]["message"] for frame in await reader.receive_many(size)]
    except websockets.exceptions.ConnectionClosed as exc:
        raise AssertionError("a reading page was closed with %s" % exc.rcvd) from exc
    assert got == ["bulk %06d" % n for n in range(1, size + 1)]
    with pytest.raises(TimeoutError):
        await reader.receive(timeout=0.5)
    await reader.drop()


def slow_closes(server: servers.Server) -> float:
    with urllib.request.urlopen(server.http + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("realtime_slow_consumer_closes_total "):
                return float(line.split()[1])
    return 0.0


async def until_a_slow_close(server: servers.Server) -> None:
    while not await asyncio.to_thread(slow_closes, server):
        await asyncio.sleep(0.2)


def test_a_page_that_does_not_read_is_closed_under_daphne_and_resumes(
    people: People, room: models.ChatRoom
) -> None:
    """Daphne's send never waits: what its transport holds counts as unread, or memory grows forever."""
    with servers.daphne(1) as running:
        asyncio.run(_not_reading(running[0], people, room))


async def _not_reading(server: servers.Server, people: People, room: models.ChatRoom) -> None:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    idle = Page(server.ws, "/ws/room/%d" % room.id, cookie, await sync(page_cursor)())
    await idle.open()
    # Transactions under the backlog each, ~10 MB in all: more than the kernel's socket buffers.
    for first in range(1, 30_001, 500):
        await insert_in_one_transaction(room, people["owner"].id, 500, first)
    await asyncio.wait_for(until_a_slow_close(server), 60)

    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        while True:
            await idle.receive()
    # Daphne waits only briefly for the page's close reply behind megabytes it still holds, then
    # drops the connection: the page sees 4008 or 1006, both resumable.
    assert (closed.value.rcvd.code if closed.value.rcvd else 1006) in {4008, 1006}
    idle.socket = None
    await idle.open()
    await idle.receive_many(30_000 - len(idle.frames))
    got = [frame["kwargs"]["message"] for frame in idle.frames]
    assert got == ["bulk %06d" % n for n in range(1, 30_001)]
    await idle.drop()
