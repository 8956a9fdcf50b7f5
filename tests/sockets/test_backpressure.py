"""A page that reads slower than events arrive is closed with 4008 and resumes exactly."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import models
from listener.log import rendering
from listener.sockets import outbox
from project.asgi import application
from tests.conftest import HOST, ORIGIN, close_code, connect, frames, session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)


class StalledNetwork:
    """Wraps the app so that frames to the page block until ``flowing`` is set, like a full TCP window."""

    def __init__(self) -> None:
        self.flowing = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def slow_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                await self.flowing.wait()
            await send(message)

        await application(scope, receive, slow_send)


def page_cursor() -> str:
    with rendering.consistent_read() as cursor:
        return cursor


async def test_slow_page_is_closed_resumably_and_resumes_without_gaps(settings, people, room):
    settings.REALTIME_SOCKET_BACKLOG = 5
    settings.REALTIME_SLOW_GRACE = 0.05
    network = StalledNetwork()
    loaded_with = await sync(page_cursor)()
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    slow = WebsocketCommunicator(
        network,
        "/ws/room/%d?cursor=%s" % (room.id, loaded_with),
        headers=[ORIGIN, HOST, (b"cookie", cookie)],
    )
    assert (await slow.connect(timeout=10))[0]
    fast, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])

    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="first")
    # The first frame is stuck in the network; the socket's own backlog then fills up and
    # stops shrinking, so the page is closed although the network never moves again.
    first_fast = (await frames(fast, 1))[0]
    for i in range(10):
        await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="m%d" % i)
        await frames(fast, 1)
    message = await slow.receive_output(timeout=10)
    assert message == {"type": "websocket.close", "code": 4008, "reason": message.get("reason")}
    # The fast page was never held back by the slow one.
    assert first_fast["kwargs"]["message"] == "first"

    again, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=loaded_with)
    got = [f["kwargs"]["message"] for f in await frames(again, 11)]
    assert got == ["first"] + ["m%d" % i for i in range(10)]
    assert await again.receive_nothing(timeout=0.3)
    for communicator in (fast, again):
        await communicator.disconnect()


async def test_listener_down_refuses_new_sockets_resumably(settings, people, room):
    settings.REALTIME_LISTENER_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    settings.REALTIME_LISTENER_READY_TIMEOUT = 0.5
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    assert await close_code(communicator) == 4503


async def test_an_event_a_consumer_cannot_handle_closes_it_resumably(people, room):
    """A malformed event (here from user code's group_send) never leaves a page with a silent gap."""
    from channels.layers import get_channel_layer

    cursor = await sync(page_cursor)()
    broken, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    bystander, _, _ = await connect("/ws/user/%d" % people["member"].id, people["member"])
    await get_channel_layer().group_send(
        "room_%d" % room.id, {"type": "realtime_access_changed", "users": None}
    )
    # 4500, not 1011: daphne refuses to send 1011 and would leave the socket open and silent.
    assert await close_code(broken) == 4500
    # Resuming from before that event does not fail on it again (a loop): history skips it.
    again, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="after")
    assert (await frames(again, 1))[0]["kwargs"]["message"] == "after"
    await again.disconnect()
    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["member"], room=room)
    assert (await frames(bystander, 1))[0]["kwargs"]["id"] == str(request.id)
    await bystander.disconnect()


class _Transport:
    """What daphne's TCP transport tells of its buffer: 95 bytes not yet written."""

    dataBuffer = b"x" * 100
    offset = 10
    _tempDataLen = 5


class _Protocol:
    transport = _Transport()


async def _handle_reply(protocol: _Protocol, message: dict[str, Any]) -> None:
    pass


async def test_the_slow_rule_counts_what_daphne_still_holds() -> None:
    """Daphne's send returns at once and buffers without bound: an outbox counts the bytes its
    transport still holds as frames the page has not read (JSON and region sockets alike write
    through the server's own send)."""
    send = functools.partial(_handle_reply, _Protocol())
    box = outbox.Outbox("test", lambda close: None)
    await box.send_now(send, ["x" * 19])  # one frame of 19 characters sent: 95 bytes are 5 frames
    assert box.unread() == 5
