"""A Postgres backend terminated between two handshakes never refuses the next one with 4503.

Every backend but the admin's is terminated between a first round of pages and a second, which
opens with the cursor the first one read, so each handshake does both reads (session and user,
resume point) on the handshake threads. In process (WebsocketCommunicator), without the pool
and with CONN_MAX_AGE = 0 as tests/conftest.py sets them; and in a real daphne, with the
project's pool and without it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import models
from tests import servers
from tests.conftest import connect, frames, session_cookie
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)

# More pages than handshake threads. Opened one after another: Channels' test communicator
# patches a module attribute while it awaits, and overlapping patches can leave it patched.
PAGES = 8


async def _write(room: models.ChatRoom, sender_id: int, text: str) -> None:
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
            (room.id, sender_id, text),
        )


async def _terminate_every_other_backend() -> None:
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


async def _open(path: str, user: Any, cursor: str | None = None) -> list[WebsocketCommunicator]:
    opened = []
    for _ in range(PAGES):
        communicator, connected, _ = await connect(path, user, cursor)
        assert connected
        opened.append(communicator)
    return opened


@pytest.mark.usefixtures("reconnecting_django")
async def test_pages_open_after_every_backend_was_terminated(
    people: dict[str, Any], room: models.ChatRoom, settings: Any
) -> None:
    settings.REALTIME_HANDSHAKE_THREADS = 4
    path = "/ws/room/%d" % room.id
    first = await _open(path, people["member"])
    await _write(room, people["owner"].id, "before")
    seen = [(await frames(page, 1))[0] for page in first]
    assert {frame["kwargs"]["message"] for frame in seen} == {"before"}
    for page in first:
        await page.disconnect()

    await _terminate_every_other_backend()

    # A refused page is accepted, then closed with 4503: it would get that close, not the frame.
    second = await _open(path, people["member"], seen[0]["cursor"])
    await _write(room, people["owner"].id, "after")
    for page in second:
        (frame,) = await frames(page, 1)
        assert frame["kwargs"]["message"] == "after"
        await page.disconnect()


def _reconnects(server: servers.Server) -> object:
    """The listener's reconnect count while it is connected, else None."""
    try:
        with urllib.request.urlopen(server.http + "/health", timeout=2) as response:
            listener = json.loads(response.read())["listener"]
    except OSError:
        return None
    return listener["reconnects"] if listener["connected"] else None


@pytest.mark.parametrize("pool_size", ["20", "0"], ids=["pool", "no-pool"])
@pytest.mark.usefixtures("reconnecting_django")
async def test_a_real_server_opens_pages_after_every_backend_was_terminated(
    people: dict[str, Any], room: models.ChatRoom, pool_size: str
) -> None:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    env = {"REALTIME_HANDSHAKE_THREADS": "4", "DJANGO_DB_POOL_MAX_SIZE": pool_size}
    env["DJANGO_CONN_MAX_AGE"] = "0"
    path = "/ws/room/%d" % room.id
    with servers.daphne(1, extra_env=env) as (server,):
        first = [Page(server.ws, path, cookie) for _ in range(PAGES)]
        await asyncio.gather(*(page.open() for page in first))
        await _write(room, people["owner"].id, "before")
        for page in first:
            assert (await page.receive())["kwargs"]["message"] == "before"
            await page.drop()
        reconnects = await asyncio.to_thread(_reconnects, server)
        await _terminate_every_other_backend()
        # The server has heard of it (its listener is back), bounded by the loop.
        for _ in range(200):
            now = await asyncio.to_thread(_reconnects, server)
            if now is not None and now != reconnects:
                break
            await asyncio.sleep(0.05)
        assert now is not None and now != reconnects

        # Concurrently, so that each handshake thread meets a terminated session if it kept one;
        # a refused page reads the close (4503) where the frame should be.
        second = [Page(server.ws, path, cookie, first[0].cursor) for _ in range(PAGES)]
        await asyncio.gather(*(page.open() for page in second))
        await _write(room, people["owner"].id, "after")
        for page in second:
            assert (await page.receive())["kwargs"]["message"] == "after"
            await page.drop()


@pytest.fixture
def reconnecting_django(transactional_db: None) -> Any:
    """The test terminates this process's own sessions too: reconnect before the database flush."""
    from django.db import connections

    yield
    connections.close_all()
