"""A session's expiry changed by any writer, while its sockets are open, is followed at once."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from chat import models
from tests.conftest import close_code, connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def move_expiry(seconds_from_now: float) -> None:
    """Raw SQL, as an operator (or another app) would: no Django signal, no save()."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE django_session SET expire_date = now() + make_interval(secs => %s)", [seconds_from_now]
        )


async def until_passed(moment: datetime.datetime) -> None:
    while timezone.now() <= moment:
        await asyncio.sleep(0.05)


async def live_socket(people, room):
    """A member's socket on the room, past its handshake: it has received a live frame."""
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hello")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "hello"
    return socket


async def test_an_expiry_moved_into_the_past_closes_the_socket_with_4401(people, room):
    # The session was made with the default age (two weeks): only the UPDATE can end it now.
    socket = await live_socket(people, room)
    await sync(move_expiry)(-1)
    assert await close_code(socket, timeout=10) == 4401


async def test_an_expiry_moved_earlier_but_still_ahead_closes_the_socket_then(people, room):
    socket = await live_socket(people, room)
    await sync(move_expiry)(2)
    # Still open until then: a message written now arrives.
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="before")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "before"
    assert await close_code(socket, timeout=15) == 4401


async def test_an_expiry_moved_earlier_then_later_again_keeps_the_socket_open(people, room):
    socket = await live_socket(people, room)
    await sync(move_expiry)(1)
    await sync(move_expiry)(3600)
    (session,) = await sync(list)(Session.objects.all())
    assert session.expire_date > timezone.now() + datetime.timedelta(minutes=30)
    # Past the earlier moment, the socket is still open and still receives.
    await until_passed(timezone.now() + datetime.timedelta(seconds=1.5))
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still in")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "still in"
    await socket.disconnect()


async def test_a_later_expiry_sends_no_event(people, room):
    """Sessions saved on every request push their expiry later each time: that costs no log row."""
    socket = await live_socket(people, room)
    before = await sync(models_event_count)()
    await sync(move_expiry)(3600 * 24 * 30)
    assert await sync(models_event_count)() == before
    await socket.disconnect()


def models_event_count() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM listener_event WHERE type = 'session_expiry_changed'")
        found: int = cur.fetchone()[0]
        return found
