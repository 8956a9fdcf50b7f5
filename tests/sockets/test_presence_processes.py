"""Presence across real server processes: tabs on two processes count once; a killed process's users leave."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets.asyncio.client as ws_client
from django.contrib.auth.models import User

from chat import models
from listener import models as listener_models
from tests import servers
from tests.conftest import session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

# Short enough for a test; production defaults are 10 s and 30 s (leave within 40 s).
FAST = {"REALTIME_PRESENCE_HEARTBEAT": "1", "REALTIME_PRESENCE_TIMEOUT": "3"}


async def subscribe(server: servers.Server, room: models.ChatRoom, user: User) -> ws_client.ClientConnection:
    cookie = (await sync(session_cookie)(user)).decode()
    return await ws_client.connect(
        server.ws + "/ws/room/%d" % room.id,
        additional_headers={"Origin": server.http, "Cookie": cookie},
        open_timeout=10,
    )


async def next_presence(socket: ws_client.ClientConnection, timeout: float) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if frame["type"] == "did_alter_presence":
            kwargs: dict[str, Any] = frame["kwargs"]
            return kwargs


def who(kwargs: dict[str, Any]) -> tuple[str, str]:
    return kwargs["action"], kwargs["user"]["username"]


async def test_killed_process_users_leave_and_tabs_elsewhere_stay(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    await sync(room.member_set.add)(people["other"])
    with servers.daphne(2, extra_env=FAST) as (alive, doomed):
        owner = await subscribe(alive, room, people["owner"])
        assert who(await next_presence(owner, 10)) == ("join", "olivia")
        member_there = await subscribe(doomed, room, people["member"])
        assert who(await next_presence(owner, 10)) == ("join", "mo")
        # A second tab of mo on the other process: one user, one join.
        member_here = await subscribe(alive, room, people["member"])
        other = await subscribe(doomed, room, people["other"])
        assert who(await next_presence(owner, 10)) == ("join", "oscar")

        doomed.process.kill()  # SIGKILL: no socket is closed, no row removed
        doomed.process.wait(10)
        # Within 60 s (the contract); here heartbeat 1 s + timeout 3 s. mo still has a tab here.
        assert who(await next_presence(owner, 60)) == ("leave", "oscar")
        online = listener_models.Presence.objects.filter(topic="room_%d" % room.id)
        users = await sync(lambda: sorted(online.values_list("payload__user__username", flat=True)))()
        assert users == ["mo", "olivia"]

        await member_here.close()
        assert who(await next_presence(owner, 10)) == ("leave", "mo")
        for socket in (owner, member_there, other):
            await socket.close()
