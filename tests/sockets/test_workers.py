"""``make serve``: uvicorn ``--workers 2 --lifespan on``; each worker has its own listener."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest
import websockets.asyncio.client as ws_client
from django.contrib.auth.models import User

from chat import models
from tests import servers
from tests.conftest import session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = [*servers.UVICORN[:-1], "--workers", "2", servers.UVICORN[-1]]


def _healths_of_every_worker(server: servers.Server, count: int, timeout: float = 30) -> dict[int, Any]:
    """/health answers by worker pid, until ``count`` workers answered (each request is a new
    connection, which the kernel hands to any worker)."""
    found: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
            health = json.loads(response.read())
        found[health["pid"]] = health
    return found


async def test_every_worker_runs_a_listener_and_pages_get_writes(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    with servers.daphne(1, command=WORKERS) as (server,):
        # One waker per database: the other worker's waits on the lock. Each worker's /health is
        # read at its own moment, and a waker left by an earlier test's server may still hold the
        # lock for a moment, so read them again until one leads (at most 30 s).
        deadline = time.monotonic() + 30
        while True:
            healths = await asyncio.to_thread(_healths_of_every_worker, server, 2)
            states = sorted(health["waker"]["state"] for health in healths.values())
            if "leading" in states or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert len(healths) == 2
        assert all(health["listener"]["connected"] for health in healths.values())
        assert states in (["leading", "standby"], ["connecting", "leading"])
        cookie = (await sync(session_cookie)(people["member"])).decode()
        sockets = [
            await ws_client.connect(
                server.ws + "/ws/room/%d" % room.id,
                additional_headers={"Origin": server.http, "Cookie": cookie},
                open_timeout=10,
            )
            for _ in range(6)
        ]
        await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="all cores")
        for socket in sockets:
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if frame["type"] == "chat_message_created":
                    break
            assert frame["kwargs"]["message"] == "all cores"
            await socket.close()
