"""REALTIME_NOTIFY = "off": writes append events without NOTIFY, and the listener finds them by polling."""

from __future__ import annotations

import psycopg
import pytest

from chat import models
from listener.log import listen as log_listen
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _insert(conninfo: str, room_id: int, sender_id: int, notify: str) -> list[psycopg.Notify]:
    """Insert one message with `realtime.notify` set to ``notify``; the NOTIFYs a listener saw."""
    with (
        psycopg.connect(conninfo, autocommit=True) as listen,
        psycopg.connect(conninfo, autocommit=True) as w,
    ):
        listen.execute("LISTEN %s" % log_listen.CHANNEL)
        w.execute("SELECT set_config('realtime.notify', %s, false)", [notify])
        w.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message) VALUES (%s, %s, now(), 'q')",
            [room_id, sender_id],
        )
        return list(listen.notifies(timeout=0.5, stop_after=1))


def test_the_session_setting_skips_notify_but_not_the_event(people, room):
    conninfo = servers.database_url()
    assert len(_insert(conninfo, room.id, people["owner"].id, "on")) == 1
    assert _insert(conninfo, room.id, people["owner"].id, "off") == []
    assert models.ChatMessage.objects.count() == 2
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM listener_event WHERE type = 'chat_message_created'"
        ).fetchone()
    assert row is not None and row[0] == 2


async def test_quiet_writes_reach_pages_by_polling(settings, people, room):
    settings.REALTIME_NOTIFY = "off"
    settings.REALTIME_POLL_INTERVAL = 60.0  # only the quiet poll interval can deliver in time
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(_insert)(servers.database_url(), room.id, people["owner"].id, "off")
    (frame,) = await frames(communicator, 1, timeout=5)
    assert frame["type"] == "chat_message_created"
    await communicator.disconnect()
