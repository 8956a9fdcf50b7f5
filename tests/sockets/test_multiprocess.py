"""Several daphne processes on one database: every subscriber on every process gets every event once."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
import websockets.asyncio.client as ws_client
from django.contrib.auth.models import User
from django.db import connection

from chat import models
from tests import servers
from tests.conftest import session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

PROCESSES = 3
MESSAGES = 40


async def _subscribe(server: servers.Server, room_id: int, user: User) -> ws_client.ClientConnection:
    cookie = (await sync(session_cookie)(user)).decode()
    return await ws_client.connect(
        server.ws + "/ws/room/%d" % room_id,
        additional_headers={"Origin": server.http, "Cookie": cookie},
        open_timeout=10,
    )


async def _collect(socket: ws_client.ClientConnection, count: int) -> list[dict[str, Any]]:
    received = []
    while len(received) < count:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 20))
        if frame["type"] == "chat_message_created":
            received.append(frame)
    return received


def _health(server: servers.Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
        return json.loads(response.read())


async def test_every_subscriber_on_every_process_gets_every_event_once(people, room):
    with servers.daphne(PROCESSES) as running:
        subscribers = [
            await _subscribe(server, room.id, user)
            for server in running
            for user in (people["owner"], people["member"])
        ]

        def write() -> list[int]:
            ids = []
            # Through the ORM and through raw SQL, as any writer would.
            for i in range(MESSAGES // 2):
                ids.append(
                    models.ChatMessage.objects.create(
                        room=room, sender=people["owner"], message="orm %d" % i
                    ).id
                )
            with connection.cursor() as cur:
                for i in range(MESSAGES // 2):
                    cur.execute(
                        "INSERT INTO chat_chatmessage (room_id, sender_id, message, posted) "
                        "VALUES (%s, %s, %s, now()) RETURNING id",
                        [room.id, people["member"].id, "sql %d" % i],
                    )
                    ids.append(cur.fetchone()[0])
            return ids

        written = await sync(write)()
        results = await asyncio.gather(*(_collect(socket, MESSAGES) for socket in subscribers))
        for frames in results:
            assert [int(frame["kwargs"]["id"]) for frame in frames] == written
        # Nothing more (no duplicate) arrives afterwards.
        last_id = (
            await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="end")
        ).id
        for socket in subscribers:
            (last,) = await _collect(socket, 1)
            assert int(last["kwargs"]["id"]) == last_id
            await socket.close()
        healths = await asyncio.gather(*(asyncio.to_thread(_health, server) for server in running))
        assert len({health["pid"] for health in healths}) == PROCESSES
        for health in healths:
            assert health["listener"]["connected"] is True
            assert health["listener"]["events_read"] >= MESSAGES + 1
