"""The home page's rooms on the user topic: created, joined, left, renamed, deleted, to their people only."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from chat import models
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def home_frames(communicator: WebsocketCommunicator, count: int) -> list[tuple[str, dict[str, Any]]]:
    received = await frames(communicator, count)
    assert {frame["type"] for frame in received} == {"did_alter_room"}, received
    return [(frame["kwargs"]["action"], frame["kwargs"]["room"]) for frame in received]


def rename_in_sql(room_id: int, title: str) -> None:
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute("UPDATE chat_chatroom SET title = %s WHERE id = %s", (title, room_id))


async def test_room_life_reaches_owner_and_members_homes_only(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    homes = {}
    for who in ("owner", "member", "other", "outsider"):
        homes[who], connected, _ = await connect("/ws/user/%d" % people[who].id, people[who])
        assert connected
    await sync(room.member_set.add)(people["other"])
    assert await home_frames(homes["other"], 1) == [("join", {"id": str(room.id), "title": "Lobby"})]

    await sync(rename_in_sql)(room.id, "Lounge")  # any write path
    renamed = ("rename", {"id": str(room.id), "title": "Lounge"})
    for who in ("owner", "member", "other"):
        assert await home_frames(homes[who], 1) == [renamed]

    await sync(room.member_set.remove)(people["member"])
    assert await home_frames(homes["member"], 1) == [("leave", {"id": str(room.id), "title": "Lounge"})]

    created = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Den")
    assert await home_frames(homes["owner"], 1) == [
        ("create", {"id": str(created.id), "title": "Den", "join_code": created.join_code})
    ]

    await sync(models.ChatRoom.objects.filter(pk=room.pk).delete)()
    assert await home_frames(homes["other"], 1) == [("leave", {"id": str(room.id), "title": "Lounge"})]
    assert await home_frames(homes["owner"], 1) == [("delete", {"id": str(room.id), "title": "Lounge"})]

    for who, home in homes.items():
        # The outsider heard nothing, and nobody heard more; no join code outside the owner's home.
        assert await home.receive_nothing(timeout=0.3), who
        await home.disconnect()
