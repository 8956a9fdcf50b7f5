"""The app is plain ASGI: the same code delivers under daphne and under uvicorn."""

from __future__ import annotations

import urllib.request

import psycopg
import pytest
from channels.db import database_sync_to_async

from tests import servers
from tests.conftest import session_cookie
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("command", "name"), [(servers.DAPHNE, "daphne"), (servers.UVICORN, "uvicorn")], ids=["daphne", "uvicorn"]
)
async def test_a_write_reaches_a_page_under_each_server(command, name, people, room):
    with servers.daphne(1, command=command) as (server,):
        with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
            assert response.headers["server"].lower().startswith(name)
        cookie = await database_sync_to_async(session_cookie)(people["member"])
        page = Page(server.ws, "/ws/room/%d" % room.id, cookie)
        await page.open()
        async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, 'served')",
                (room.id, people["owner"].id),
            )
        frame = await page.receive()
        assert frame["type"] == "chat_message_created"
        assert frame["kwargs"]["message"] == "served"
        outsider = Page(
            server.ws,
            "/ws/room/%d" % room.id,
            await database_sync_to_async(session_cookie)(people["outsider"]),
        )
        await outsider.open()
        import websockets

        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await outsider.receive()
        assert closed.value.rcvd.code == 4403
