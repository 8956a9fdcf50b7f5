"""A page that resumes while this process's listener is behind gets each event once.

The page's replay reaches further than the listener, which then catches up with events the page
already has; those must not be sent again.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from chat import models
from listener.layer import process
from listener.log import rendering
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def rendered_cursor() -> str:
    with rendering.consistent_read() as cursor:
        return cursor


async def test_listener_catching_up_does_not_repeat_what_a_resumed_page_replayed(settings, people, room):
    settings.REALTIME_RECONNECT_BASE = 0.05
    settings.REALTIME_RECONNECT_CAP = 0.2
    cursor = await sync(rendered_cursor)()
    first, _, _ = await connect("/ws/room/%d" % room.id, people["owner"], cursor=cursor)
    listener = process.current()
    assert listener is not None and listener.connected

    # Cut the listener off and keep it off while writes happen and another page resumes.
    settings.REALTIME_LISTENER_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'realtime-listener' AND datname = current_database()"
        )
    while listener.connected:
        await asyncio.sleep(0.01)
    for i in range(5):
        await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="m%d" % i)
    second, _, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    replayed = [f["kwargs"]["message"] for f in await frames(second, 5)]
    assert replayed == ["m%d" % i for i in range(5)]

    # The listener comes back and catches up from where it was.
    del settings.REALTIME_LISTENER_DATABASE_URL
    live = [f["kwargs"]["message"] for f in await frames(first, 5)]
    assert live == ["m%d" % i for i in range(5)]
    assert await second.receive_nothing(timeout=1)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="after")
    assert (await frames(second, 1))[0]["kwargs"]["message"] == "after"
    for communicator in (first, second):
        await communicator.disconnect()
