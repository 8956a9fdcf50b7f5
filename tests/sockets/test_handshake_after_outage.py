"""A Postgres backend terminated between two handshakes never refuses the next one with 4503.

In-process sockets on the handshake threads, without the pool and with CONN_MAX_AGE = 0 (the
test settings, as tests/conftest.py sets them): every backend but the admin's is terminated
between a first crowd of pages and a second, which opens with the cursor the first one read, so
each handshake does both reads (session and user, resume point). The pool's shape is the real
server's: tests/log/test_pool_after_outage.py.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from channels.testing import WebsocketCommunicator

from chat import models
from tests import servers
from tests.conftest import connect, frames

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


@pytest.fixture
def reconnecting_django(transactional_db: None) -> Any:
    """The test terminates this process's own sessions too: reconnect before the database flush."""
    from django.db import connections

    yield
    connections.close_all()
