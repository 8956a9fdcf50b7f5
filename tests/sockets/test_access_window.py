"""A socket sees only what its subscriber could see when it happened, and only while logged in."""

from __future__ import annotations

import asyncio
import datetime

import psycopg
import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from chat import models
from listener.log import rendering
from tests import servers
from tests.conftest import close_code, connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def page_cursor() -> str:
    with rendering.consistent_read() as cursor:
        return cursor


async def test_a_cursor_from_before_joining_does_not_reveal_the_rooms_past(people, room):
    """The outsider keeps a cursor from their home page; the room's deleted message stays unseen."""
    kept = await sync(page_cursor)()
    secret = await sync(models.ChatMessage.objects.create)(
        room=room, sender=people["owner"], message="secret"
    )
    await sync(secret.delete)()
    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatRoomJoinRequest.objects.filter(pk=request.pk).update)(status="admitted")

    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["outsider"], cursor=kept)
    assert connected
    (frame,) = await frames(socket, 1)
    assert frame["type"] == "resync_required"
    assert await close_code(socket) == 4410

    # A fresh page (rendered after admission) resumes normally from its own cursor.
    fresh = await sync(page_cursor)()
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["outsider"], cursor=fresh)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="welcome")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "welcome"
    await socket.disconnect()


async def test_a_cursor_from_before_becoming_owner_is_not_replayed_owners_events(people, room):
    kept = await sync(page_cursor)()
    await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(owner=people["member"])
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=kept)
    (frame,) = await frames(socket, 1)
    assert frame["type"] == "resync_required"
    assert await close_code(socket) == 4410


async def test_owner_changes_replayed_in_xid_order_do_not_make_a_member_owner(people, room):
    """Two changes of owner whose xid order is the reverse of their commit order.

    The lower xid (``first``) commits last and makes the owner Oscar; the higher one made Mo,
    the member, owner before. Replaying them in xid order would leave Mo's socket thinking Mo
    owns the room, and show Mo the join requests that only the owner sees.
    """
    kept = await sync(page_cursor)()
    url = servers.database_url()
    async with (
        await psycopg.AsyncConnection.connect(url) as first,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as second,
    ):
        await first.execute("SELECT pg_current_xact_id()")  # takes the lower xid now
        await second.execute(
            "UPDATE chat_chatroom SET owner_id = %s WHERE id = %s", (people["member"].id, room.id)
        )
        await first.execute(
            "UPDATE chat_chatroom SET owner_id = %s WHERE id = %s", (people["other"].id, room.id)
        )
        await first.commit()

    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=kept)
    replayed = await frames(socket, 0)
    assert replayed == []
    await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["member"], message="after")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "after"  # no did_alter_join_request before it
    await socket.disconnect()


async def test_owner_changes_arriving_live_in_xid_order_do_not_make_a_member_owner(settings, people, room):
    """As above, live: both changes reach the socket in one listener step, in xid order.

    The listener polls every 1.5 s and the writers do not NOTIFY, so the two commits, a few
    milliseconds apart, land in one step. Mo's socket must follow the room's row (Oscar owns it),
    not the last change of owner in xid order.
    """
    settings.REALTIME_NOTIFY = "off"
    settings.REALTIME_QUIET_POLL_INTERVAL = 1.5
    mo, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    url = servers.database_url()
    async with (
        await psycopg.AsyncConnection.connect(url) as first,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as second,
    ):
        for conn in (first, second):
            await conn.execute("SET realtime.notify = 'off'")
        await first.execute("SELECT pg_current_xact_id()")
        await second.execute(
            "UPDATE chat_chatroom SET owner_id = %s WHERE id = %s", (people["member"].id, room.id)
        )
        await first.execute(
            "UPDATE chat_chatroom SET owner_id = %s WHERE id = %s", (people["other"].id, room.id)
        )
        await first.commit()
    await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["member"], message="after")
    (frame,) = await frames(mo, 1)
    assert frame["kwargs"]["message"] == "after"  # no did_alter_join_request before it
    await mo.disconnect()


async def until_passed(moment: datetime.datetime) -> None:
    while timezone.now() <= moment:
        await asyncio.sleep(0.05)


async def test_sockets_close_with_4401_when_the_session_expires(settings, people, room):
    settings.SESSION_COOKIE_AGE = 2
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert await close_code(socket, timeout=15) == 4401


async def test_an_extended_session_keeps_its_socket_open_until_the_new_expiry(settings, people, room):
    settings.SESSION_COOKIE_AGE = 2
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    (session,) = await sync(list)(Session.objects.all())
    first_expiry = session.expire_date
    # Activity extends it (SESSION_SAVE_EVERY_REQUEST): the timer, when it fires, reads again.
    await sync(Session.objects.filter(pk=session.pk).update)(
        expire_date=first_expiry + datetime.timedelta(seconds=3)
    )
    await until_passed(first_expiry + datetime.timedelta(seconds=0.5))
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still in")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "still in"
    assert await close_code(socket, timeout=15) == 4401
