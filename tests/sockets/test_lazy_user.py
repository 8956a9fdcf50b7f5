"""A socket whose user is read with its access (``SocketAuth(lazy_user=True)``, the project's
setting) misses nothing of its user's topic, and takes nothing of other users'.

Such a socket joins its user's topic only after the snapshot its replay ends at. These tests
commit a user's deactivation inside that window: from the access check itself (which runs in
the snapshot, on a handshake thread), in a connection of its own, and hold the check until the
listener has handed the event to the socket, so the event is routed while the socket still
does not know its user.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User

from chat import consumers, models
from listener.capture import access
from tests import servers
from tests.conftest import close_code, connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _deactivating(monkeypatch: pytest.MonkeyPatch, victim: User) -> list[str]:
    """Make the room consumer's access check deactivate ``victim`` in the window; the event types
    the socket held when the check returned."""
    held: list[str] = []
    check = consumers.RoomConsumer.authorize

    def authorize(self: Any) -> Any:
        refusal = check(self)
        with psycopg.connect(servers.database_url(), autocommit=True) as conn:
            conn.execute("UPDATE auth_user SET is_active = false WHERE id = %s", [victim.pk])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and access.USER_ACCESS_REVOKED not in held:
            held[:] = [event.type for event in list(self.outbox.held)]
            time.sleep(0.01)
        return refusal

    monkeypatch.setattr(consumers.RoomConsumer, "authorize", authorize)
    return held


async def test_its_own_deactivation_in_the_window_closes_it(
    monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    warm, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])  # starts the listener
    await warm.disconnect()
    held = _deactivating(monkeypatch, people["member"])
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    # Read in the snapshot, the user was still active: the socket opens, then the event closes it.
    assert connected
    assert access.USER_ACCESS_REVOKED in held
    assert await close_code(socket) == 4401


async def test_another_users_deactivation_in_the_window_leaves_it_open(
    monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    warm, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await warm.disconnect()
    held = _deactivating(monkeypatch, people["outsider"])
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    assert access.USER_ACCESS_REVOKED in held
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "still here"
    await socket.disconnect()
