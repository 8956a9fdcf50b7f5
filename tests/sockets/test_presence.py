"""Presence on the room topic: first socket joins, last one leaves, tabs count once, outsiders see nothing."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from chat import models
from listener import models as listener_models
from tests.conftest import close_code, connect, sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.presence]


def presence(action: str, room: models.ChatRoom, user: User) -> dict[str, Any]:
    return {"action": action, "room": str(room.id), "user": {"id": str(user.id), "username": user.username}}


async def next_presence(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """The next presence frame, skipping others (none are expected here, but the cursor differs)."""
    frame = await communicator.receive_json_from(timeout=10)
    assert frame["type"] == "did_alter_presence", frame
    kwargs: dict[str, Any] = frame["kwargs"]
    return kwargs


async def rows(room: models.ChatRoom) -> list[tuple[str, str]]:
    found = listener_models.Presence.objects.filter(topic="room_%d" % room.id).values_list(
        "user_id", "process"
    )
    listed: list[tuple[str, str]] = await sync(lambda: sorted(found))()
    return listed


async def test_first_socket_joins_second_tab_is_silent_last_close_leaves(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])

    first, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    assert await next_presence(owner) == presence("join", room, people["member"])
    assert await next_presence(first) == presence("join", room, people["member"])

    second, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await first.disconnect()
    # One row per (topic, user, process): two tabs, one row; closing one tab leaves it.
    assert [user for user, _ in await rows(room)] == [str(people["owner"].id), str(people["member"].id)]

    await second.disconnect()
    assert await next_presence(owner) == presence("leave", room, people["member"])
    # The second tab and the first close sent nothing: the leave is the very next frame.
    assert await owner.receive_nothing(timeout=0.5)
    assert [user for user, _ in await rows(room)] == [str(people["owner"].id)]
    await owner.disconnect()


async def test_outsiders_get_no_presence_and_make_none(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(owner) == presence("join", room, people["owner"])
    outsider, _, _ = await connect("/ws/room/%d" % room.id, people["outsider"])
    assert await close_code(outsider) == 4403
    other_user, _, _ = await connect("/ws/user/%d" % people["outsider"].id, people["outsider"])
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert await next_presence(owner) == presence("join", room, people["member"])
    # Nothing about the room reaches the outsider's own topic, and a refused socket is not online.
    assert await other_user.receive_nothing(timeout=0.5)
    assert str(people["outsider"].id) not in [user for user, _ in await rows(room)]
    for communicator in (owner, member, other_user):
        await communicator.disconnect()


async def test_removed_member_leaves_when_the_server_closes_the_socket(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await next_presence(owner)
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await next_presence(owner)
    await sync(room.member_set.remove)(people["member"])
    assert (await owner.receive_json_from(timeout=10))["type"] == "did_alter_membership"
    assert await close_code(member) == 4403
    assert await next_presence(owner) == presence("leave", room, people["member"])
    await owner.disconnect()


def test_room_page_marks_who_is_online_in_its_snapshot(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    client = Client()
    client.force_login(people["member"])
    listener_models.Presence.objects.create(
        topic="room_%d" % room.id, user_id=str(people["owner"].id), process="p1", payload={}
    )
    html = client.get("/rooms/%d/" % room.id).content.decode()
    assert 'data-user-id="%d" data-online="true"' % people["owner"].id in html
    assert 'data-user-id="%d">' % people["member"].id in html


async def test_page_and_socket_agree_on_presence_across_render_and_connect(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    await sync(room.member_set.add)(people["other"])
    observer, _, _ = await connect("/ws/room/%d" % room.id, people["other"])
    assert await next_presence(observer) == presence("join", room, people["other"])
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert await next_presence(observer) == presence("join", room, people["owner"])

    def render() -> str:
        client = Client()
        client.force_login(people["member"])
        return client.get("/rooms/%d/" % room.id).content.decode()

    html = await sync(render)()
    assert 'data-user-id="%d" data-online="true"' % people["owner"].id in html
    assert 'data-user-id="%d" data-online="true"' % people["other"].id in html
    cursor = html.split('data-cursor="', 1)[1].split('"', 1)[0]
    await owner.disconnect()  # after the render, before the member's socket opens
    assert await next_presence(observer) == presence("leave", room, people["owner"])

    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    # The replay brings the leave the page did not show (and not the joins it did); then its own join.
    assert await next_presence(member) == presence("leave", room, people["owner"])
    assert await next_presence(member) == presence("join", room, people["member"])
    assert await member.receive_nothing(timeout=0.5)
    for communicator in (member, observer):
        await communicator.disconnect()
