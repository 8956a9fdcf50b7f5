from __future__ import annotations

import pytest

from chat import models
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def test_message_reaches_member(people, room):
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hello")
    (frame,) = await frames(communicator, 1)
    assert frame["type"] == "chat_message_created"
    assert frame["kwargs"]["message"] == "hello"
    await communicator.disconnect()
