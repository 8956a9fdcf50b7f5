"""Presence changes of one batch window reach a page as one frame: `join` / `leave` for one user,
`sync` for several; a tab opened and closed within the window sends nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from chat import models
from listener import models as listener_models
from tests.conftest import connect, make_user, sync
from tests.sockets.test_presence import next_presence, presence

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.presence]

# Wide enough that sockets opened together in a test land in one window on a busy machine.
WINDOW = 3.0


@pytest.fixture(autouse=True)
def _wide_window(settings: Any) -> None:
    settings.REALTIME_PRESENCE_WINDOW = WINDOW


def user(person: User) -> dict[str, str]:
    return {"id": str(person.id), "username": person.username}


def named_in_log(person: User) -> int:
    """How many presence events of the log name ``person``, in any form."""
    count = 0
    for payload in listener_models.Event.objects.filter(type="did_alter_presence").values_list(
        "payload", flat=True
    ):
        named = [payload.get("user"), *payload.get("joined", []), *payload.get("left", [])]
        count += user(person) in named
    return count


async def room_with_crowd(people: dict[str, User], room: models.ChatRoom, size: int) -> list[User]:
    crowd = [await sync(make_user)("crowd%d" % n, password="x") for n in range(size)]
    await sync(room.member_set.add)(*crowd)
    return crowd


async def test_one_join_is_a_join_frame(people: dict[str, User], room: models.ChatRoom) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert await next_presence(owner) == presence("join", room, people["member"])
    assert await next_presence(member) == presence("join", room, people["member"])
    await member.disconnect()
    assert await next_presence(owner) == presence("leave", room, people["member"])
    await owner.disconnect()


async def test_many_joins_in_a_window_are_one_sync_frame(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    crowd = await room_with_crowd(people, room, 4)
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])

    sockets = await asyncio.gather(*(connect("/ws/room/%d" % room.id, person) for person in crowd))
    frame = await next_presence(owner)
    assert frame["action"] == "sync" and frame["room"] == str(room.id), frame
    assert sorted(frame["joined"], key=lambda u: u["username"]) == [user(p) for p in crowd]
    assert frame["left"] == []
    # Order of occurrence: the order in which the rows were written.
    ids = listener_models.Presence.objects.filter(user_id__in=[str(p.id) for p in crowd]).order_by("id")
    assert [u["id"] for u in frame["joined"]] == await sync(
        lambda: list(ids.values_list("user_id", flat=True))
    )()
    # Each of the crowd gets the same one frame (its own join among them), nothing per user.
    for communicator, _, _ in sockets:
        assert await next_presence(communicator) == frame
    for communicator, _, _ in sockets:
        await communicator.disconnect()
    left = await next_presence(owner)
    assert left["action"] == "sync" and sorted(left["left"], key=lambda u: u["username"]) == [
        user(p) for p in crowd
    ]
    assert left["joined"] == []
    await owner.disconnect()


async def test_a_tab_opened_and_closed_within_a_window_sends_nothing(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    await sync(room.member_set.add)(people["other"])
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])

    flapping, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await flapping.disconnect()
    other, _, _ = await connect("/ws/room/%d" % room.id, people["other"])
    # Whether other's join shares the flap's window or not, it is the next frame: the flap wrote
    # no row and published nothing.
    assert await next_presence(owner) == presence("join", room, people["other"])
    assert await sync(named_in_log)(people["member"]) == 0
    for communicator in (owner, other):
        await communicator.disconnect()


async def test_several_tabs_opened_together_count_once(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])

    tabs = await asyncio.gather(*(connect("/ws/room/%d" % room.id, people["member"]) for _ in range(3)))
    assert await next_presence(owner) == presence("join", room, people["member"])
    await tabs[0][0].disconnect()
    await tabs[1][0].disconnect()
    rows = listener_models.Presence.objects.filter(user_id=str(people["member"].id))
    assert await sync(rows.count)() == 1
    await tabs[2][0].disconnect()
    # The two earlier closes published nothing: the leave is the very next frame.
    assert await next_presence(owner) == presence("leave", room, people["member"])
    await owner.disconnect()


async def test_joins_and_leaves_of_one_window_are_one_frame(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    crowd = await room_with_crowd(people, room, 2)
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert await next_presence(owner) == presence("join", room, people["member"])

    await member.disconnect()
    sockets: list[WebsocketCommunicator] = [
        (await connect("/ws/room/%d" % room.id, person))[0] for person in crowd
    ]
    frame = await next_presence(owner)
    assert frame["action"] == "sync", frame
    assert frame["left"] == [user(people["member"])]
    assert sorted(u["username"] for u in frame["joined"]) == [p.username for p in crowd]
    for communicator in (owner, *sockets):
        await communicator.disconnect()


def apply(online: set[str], kwargs: dict[str, Any]) -> None:
    """What the room page does with a presence frame (chat/static/chat/room.js)."""
    if kwargs["action"] == "sync":
        online.difference_update(u["id"] for u in kwargs["left"])
        online.update(u["id"] for u in kwargs["joined"])
    elif kwargs["action"] == "join":
        online.add(kwargs["user"]["id"])
    else:
        online.discard(kwargs["user"]["id"])


async def test_room_page_online_marks_and_sync_frames_agree_with_the_cursor(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    crowd = await room_with_crowd(people, room, 3)
    observer, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(observer) == presence("join", room, people["owner"])
    sockets = [s for s, _, _ in await asyncio.gather(*(connect("/ws/room/%d" % room.id, p) for p in crowd))]
    assert (await next_presence(observer))["action"] == "sync"

    def render() -> str:
        client = Client()
        client.force_login(people["member"])
        return client.get("/rooms/%d/" % room.id).content.decode()

    html = await sync(render)()
    online = set(re.findall(r'data-user-id="(\d+)" data-online="true"', html))
    assert online == {str(people["owner"].id), *(str(p.id) for p in crowd)}
    cursor = html.split('data-cursor="', 1)[1].split('"', 1)[0]
    # After the render, before the member's socket opens: two leave together.
    await asyncio.gather(sockets[0].disconnect(), sockets[1].disconnect())
    assert (await next_presence(observer))["action"] in ("sync", "leave")

    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    # The replay brings what the page did not show; then the member's own join.
    while str(people["member"].id) not in online:
        apply(online, await next_presence(member))
    rows = listener_models.Presence.objects.filter(topic="room_%d" % room.id).values_list(
        "user_id", flat=True
    )
    assert online == set(await sync(lambda: list(rows))())
    assert online == {str(people["owner"].id), str(crowd[2].id), str(people["member"].id)}
    for communicator in (member, observer, sockets[2]):
        await communicator.disconnect()
