"""`make run`'s daphne lets a handshake wait longer than daphne's own 5 s before dropping it.

In a deploy's reconnect storm the last handshakes of a crowd queue behind the others for more
than 5 s; daphne's default drops them (the page sees the upgrade fail and reconnects into the same
queue). Here one handshake is held for 7 s the way a queue would hold it: its access check waits
on a lock of the rooms' table. It opens, and gets the next message, under the command a user runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from chat import models
from tests import servers
from tests.conftest import session_cookie, sync
from tests.ops.test_listen_backlog import _make_command
from tests.pages import Page
from tests.sockets.test_unlucky_clients import models_write

pytestmark = pytest.mark.django_db(transaction=True)

HELD = 7.0  # seconds: past daphne's default of 5, well under `make run`'s 30


async def _hold_rooms(seconds: float, locked: asyncio.Event) -> None:
    """Lock the rooms' table for ``seconds``: a handshake's access check waits behind it."""
    async with await psycopg.AsyncConnection.connect(servers.database_url()) as conn:
        await conn.execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % models.ChatRoom._meta.db_table)
        locked.set()
        await asyncio.sleep(seconds)
        await conn.commit()


def test_a_handshake_held_past_five_seconds_opens(people: dict[str, Any], room: models.ChatRoom) -> None:
    with servers.daphne(1, command=_make_command("run")) as (server,):
        asyncio.run(_held_handshake(server, people, room))


async def _held_handshake(server: servers.Server, people: dict[str, Any], room: models.ChatRoom) -> None:
    cookie = await sync(session_cookie)(people["member"])
    page = Page(server.ws, "/ws/room/%d" % room.id, cookie)
    locked = asyncio.Event()
    holder = asyncio.create_task(_hold_rooms(HELD, locked))
    await asyncio.wait_for(locked.wait(), 10)
    await page.open()  # raises if daphne dropped the handshake
    await holder
    await models_write(room, people["owner"].id, "after the wait")
    assert (await page.receive(timeout=20))["kwargs"]["message"] == "after the wait"
    await page.drop()
