"""Real servers: an event larger than the server will send never leaves a socket open and silent."""

from __future__ import annotations

import asyncio

import autobahn.exception
import pytest
import uvicorn.protocols.utils as uvicorn_ws
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from chat import models
from listener import exceptions
from listener.sockets import outbox
from tests import servers
from tests.conftest import session_cookie, sync
from tests.pages import Page
from tests.sockets.test_unlucky_clients import models_write, page_cursor

pytestmark = pytest.mark.django_db(transaction=True)

TWO_MIB = 2 * 1024 * 1024


@pytest.mark.parametrize("command", [servers.DAPHNE, servers.UVICORN], ids=["daphne", "uvicorn"])
def test_a_two_mib_event_is_delivered_or_stood_in_for_and_resumed_past(
    people: dict[str, User], room: models.ChatRoom, command: list[str]
) -> None:
    with servers.daphne(1, command=command) as running:
        asyncio.run(_two_mib(running[0], people, room, command is servers.DAPHNE))


async def _two_mib(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom, daphne: bool
) -> None:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    before = await sync(page_cursor)()
    live = Page(server.ws, "/ws/room/%d" % room.id, cookie, before)
    await live.open()
    await get_channel_layer().group_send(
        "room_%d" % room.id, {"type": "chat_message_updated", "id": "77", "message": "x" * TWO_MIB}
    )
    await models_write(room, people["owner"].id, "after the big one")
    big = await live.receive(timeout=20)
    if daphne:
        # Autobahn refuses a message over daphne's 1 MiB limit: the page gets a stand-in that
        # carries the event's cursor, then the socket goes on.
        assert big["type"] == "event_too_large"
        assert big["kwargs"]["type"] == "chat_message_updated"
        assert big["kwargs"]["id"] == "77"
        assert big["kwargs"]["size"] > TWO_MIB
    else:
        assert big["type"] == "chat_message_updated"
        assert len(big["kwargs"]["message"]) == TWO_MIB
    assert big["cursor"]
    after = await live.receive(timeout=20)
    assert after["kwargs"]["message"] == "after the big one"
    await live.drop()

    # A page resuming from before it gets the same answer, once, and goes past it.
    again = Page(server.ws, "/ws/room/%d" % room.id, cookie, before)
    await again.open()
    replayed = await again.receive(timeout=20)
    assert (replayed["type"], replayed["cursor"]) == (big["type"], big["cursor"])
    assert (await again.receive(timeout=20))["kwargs"]["message"] == "after the big one"
    await again.drop()
    # Resuming from the stand-in's cursor does not bring the event back.
    past = Page(server.ws, "/ws/room/%d" % room.id, cookie, big["cursor"])
    await past.open()
    assert (await past.receive(timeout=20))["kwargs"]["message"] == "after the big one"
    await past.drop()


def test_an_event_its_consumer_cannot_handle_closes_with_4500_under_daphne(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    """Daphne (autobahn) refuses to send 1011, which left such a socket open and silent."""
    with servers.daphne(1) as running:
        asyncio.run(_unhandled(running[0], people, room))


async def _unhandled(server: servers.Server, people: dict[str, User], room: models.ChatRoom) -> None:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    page = Page(server.ws, "/ws/room/%d" % room.id, cookie, await sync(page_cursor)())
    await page.open()
    # An access change that does not say whose access changed: the consumer base fails on it.
    await get_channel_layer().group_send(
        "room_%d" % room.id, {"type": "realtime_access_changed", "users": None}
    )
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await page.receive(timeout=20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4500
    # The page resumes from its cursor; the replay skips the event instead of failing again.
    page.socket = None
    await page.open()
    await models_write(room, people["owner"].id, "after the broken one")
    assert (await page.receive(timeout=20))["kwargs"]["message"] == "after the broken one"
    await page.drop()


@pytest.mark.parametrize(
    "gone",
    [autobahn.exception.Disconnected("closed"), uvicorn_ws.ClientDisconnected()],
    ids=["daphne", "uvicorn"],
)
async def test_a_page_gone_mid_send_is_an_ordinary_end_not_a_delivery_failure(gone: Exception) -> None:
    """Each server says "the connection is gone" its own way; a frame to such a page ends the
    socket quietly (1006) instead of being logged as a failure and closed with 4500."""

    async def send(message: dict[str, object]) -> None:
        raise gone

    with pytest.raises(exceptions.ConnectionGone):
        await outbox.send_frame(send, '{"type": "did_alter_message"}', "user=1 topic=room_1")
