"""Every write path reaches the subscribed pages, once, as the right frame; rollbacks are silent."""

from __future__ import annotations

import os
import subprocess
import sys

import pgtrigger
import psycopg
import pytest
from django.db import connection, transaction

from chat import models
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def member_socket(people, room):
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    yield communicator
    await communicator.disconnect()


def run_manage(*args: str) -> str:
    """Run manage.py in a separate process against the test database, as a cron job would."""
    env = dict(os.environ, DATABASE_URL=servers.database_url())
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_orm_save_update_and_delete(member_socket, people, room):
    message = await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="one")
    message_id = str(message.id)
    message.message = "one, edited"
    await sync(message.save)()
    await sync(message.delete)()
    created, updated, deleted = await frames(member_socket, 3)
    assert created["type"] == "chat_message_created"
    assert created["kwargs"] == {
        "id": message_id,
        "room": str(room.id),
        "sender": {"id": str(people["owner"].id), "username": "olivia"},
        "posted": created["kwargs"]["posted"],
        "message": "one",
    }
    assert updated["type"] == "chat_message_updated"
    assert updated["kwargs"]["message"] == "one, edited"
    assert deleted == {
        "type": "chat_message_deleted",
        "kwargs": {"id": message_id, "room": str(room.id)},
        "cursor": deleted["cursor"],
    }
    assert len({created["cursor"], updated["cursor"], deleted["cursor"]}) == 3
    assert await member_socket.receive_nothing(timeout=0.3)


async def test_queryset_update_and_bulk_create_give_one_event_per_row(member_socket, people, room):
    await sync(models.ChatMessage.objects.bulk_create)(
        [models.ChatMessage(room=room, sender=people["owner"], message="bulk %d" % i) for i in range(3)]
    )
    await sync(models.ChatMessage.objects.filter(room=room).update)(message="shouted")
    received = await frames(member_socket, 6)
    assert [f["type"] for f in received] == ["chat_message_created"] * 3 + ["chat_message_updated"] * 3
    assert [f["kwargs"]["message"] for f in received[:3]] == ["bulk 0", "bulk 1", "bulk 2"]
    assert {f["kwargs"]["message"] for f in received[3:]} == {"shouted"}
    assert await member_socket.receive_nothing(timeout=0.3)


async def test_raw_sql_from_another_connection(member_socket, people, room):
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
            (room.id, people["owner"].id, "from psql"),
        )
    (frame,) = await frames(member_socket, 1)
    assert frame["type"] == "chat_message_created"
    assert frame["kwargs"]["message"] == "from psql"
    assert frame["kwargs"]["sender"]["username"] == "olivia"


async def test_shell_and_management_command_in_separate_processes(member_socket, people, room):
    await sync(run_manage)(
        "shell",
        "-c",
        "from chat.models import ChatMessage; "
        "ChatMessage.objects.create(room_id=%d, sender_id=%d, message='from shell')"
        % (room.id, people["owner"].id),
    )
    output = await sync(run_manage)("post_message", "--room", str(room.id), "--user", "olivia", "from cron")
    assert "posted message" in output
    first, second = await frames(member_socket, 2)
    assert [first["kwargs"]["message"], second["kwargs"]["message"]] == ["from shell", "from cron"]


async def test_rolled_back_transaction_sends_nothing(member_socket, people, room):
    def write_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            models.ChatMessage.objects.create(room=room, sender=people["owner"], message="never")
            raise RuntimeError("abort")

    await sync(write_then_fail)()
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="after")
    (frame,) = await frames(member_socket, 1)
    assert frame["kwargs"]["message"] == "after"
    assert await member_socket.receive_nothing(timeout=0.3)


async def test_pgtrigger_ignore_silences_a_publish_trigger_for_its_block_only(member_socket, people, room):
    # The project's sessions default `pgtrigger.ignore` to '{}' (cheaper captures); ignoring a
    # trigger must still work inside the block and stop at its end, in the same session.
    def write(text: str) -> str:
        models.ChatMessage.objects.create(room=room, sender=people["owner"], message=text)
        with connection.cursor() as cur:
            cur.execute("SELECT current_setting('pgtrigger.ignore', true)")
            return str(cur.fetchone()[0])

    def ignored_then_not() -> list[str]:
        settings = [write("before")]
        with pgtrigger.ignore("chat.ChatMessage:emit_message_created"):
            settings.append(write("ignored"))
        settings.append(write("after"))
        return settings

    settings = await sync(ignored_then_not)()
    assert [frame["kwargs"]["message"] for frame in await frames(member_socket, 2)] == ["before", "after"]
    assert await member_socket.receive_nothing(timeout=0.3)
    assert settings[0] == "{}"


async def test_large_payload_is_not_limited_by_notify(member_socket, people, room):
    """The payload lives in the log: far beyond NOTIFY's 8000 bytes is fine."""
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="T" * 50)
    text = "x" * 200
    await sync(models.ChatMessage.objects.bulk_create)(
        [models.ChatMessage(room=room, sender=people["owner"], message=text) for _ in range(100)]
    )
    received = await frames(member_socket, 100)
    assert all(f["kwargs"]["message"] == text for f in received)


async def test_admitting_by_raw_sql_makes_a_member(people, room):
    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "UPDATE chat_chatroomjoinrequest SET status = 'admitted' WHERE id = %s", (request.id,)
        )
    assert await sync(room.member_set.filter(pk=people["outsider"].pk).exists)()


def test_denying_never_makes_a_member_and_duplicates_are_refused(people, room):
    from django.db import IntegrityError

    request = models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    with pytest.raises(IntegrityError, match="chat_one_pending_request_per_user_room"), transaction.atomic():
        models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    models.ChatRoomJoinRequest.objects.filter(pk=request.pk).update(status="denied")
    assert not room.member_set.filter(pk=people["outsider"].pk).exists()
    # Decided requests do not block a new one.
    models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)


async def test_group_send_from_user_code_goes_through_the_log(member_socket, people, room):
    """The channel layer's group_send reaches every process's sockets, with a cursor, like a trigger."""
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send(
        "room_%d" % room.id, {"type": "chat_message_created", "id": "0", "message": "announcement"}
    )
    (frame,) = await frames(member_socket, 1)
    assert frame["type"] == "chat_message_created"
    assert frame["kwargs"] == {"id": "0", "message": "announcement"}
    assert frame["cursor"]
