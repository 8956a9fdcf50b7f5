"""Access an app declares with ``listener.Grants`` ends its sockets, whatever write path ends it.

The chat declares that a membership row grants its room's topic to its user and that a room's
``owner`` column grants it to the owner; the chat's consumer has no handler that revokes.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from channels.testing import WebsocketCommunicator

from chat import models
from tests import servers
from tests.conftest import close_code, connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def until_closed(communicator: WebsocketCommunicator) -> tuple[list[dict[str, Any]], int]:
    """Every frame the page got before the close, and the close code."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await communicator.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            return seen, message.get("code", 1000)
        seen.append(json.loads(message["text"]))


async def raw_sql(*statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run ``statements`` in one transaction, as psql would."""
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        async with conn.transaction():
            for statement, params in statements:
                await conn.execute(statement, params)  # type: ignore[arg-type]


def remove_by_orm(room: models.ChatRoom, user: Any) -> None:
    room.member_set.remove(user)


def remove_by_update(room: models.ChatRoom, user: Any, successor: Any) -> None:
    models.ChatRoomMembership.objects.filter(chatroom=room, user=user).update(user=successor)


async def test_removed_by_the_orm_is_closed_with_4403_after_the_leave_frame(people, room):
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await sync(remove_by_orm)(room, people["member"])
    seen, code = await until_closed(member)
    assert [(f["type"], f["kwargs"]["action"]) for f in seen] == [("did_alter_membership", "leave")]
    assert code == 4403


async def test_a_membership_handed_over_by_update_closes_the_old_members_socket(people, room):
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await sync(remove_by_update)(room, people["member"], people["other"])
    assert await close_code(member) == 4403
    # The row now grants the room to Oscar, whose socket opens.
    other, _, _ = await connect("/ws/room/%d" % room.id, people["other"])
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi Oscar")
    assert (await frames(other, 1))[0]["kwargs"]["message"] == "hi Oscar"
    await other.disconnect()


async def test_removed_by_raw_sql_is_closed_with_4403(people, room):
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await raw_sql(
        (
            "DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s AND user_id = %s",
            (room.id, people["member"].id),
        )
    )
    assert await close_code(member) == 4403


async def test_nothing_written_after_the_removal_reaches_the_removed_member(people, room):
    """A message committed in the removal's transaction, and one right after, never reach Mo."""
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await raw_sql(
        (
            "DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s AND user_id = %s",
            (room.id, people["member"].id),
        ),
        (
            "INSERT INTO chat_chatmessage (room_id, sender_id, message)"
            " VALUES (%s, %s, 'in the same transaction')",
            (room.id, people["owner"].id),
        ),
    )
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="right after")
    seen, code = await until_closed(member)
    assert code == 4403
    assert [f["type"] for f in seen if f["type"] != "did_alter_membership"] == []
    owner_saw = [f["kwargs"].get("message") for f in await frames(owner, 3)]
    assert owner_saw[1:] == ["in the same transaction", "right after"]
    await owner.disconnect()


async def test_unrelated_changes_do_not_close_the_socket(people, room):
    await sync(room.member_set.add)(people["other"])
    elsewhere = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Elsewhere")
    await sync(elsewhere.member_set.add)(people["member"])
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])

    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Renamed")  # not a grant column
    await sync(remove_by_orm)(elsewhere, people["member"])  # Mo's grant of another room
    await sync(remove_by_orm)(room, people["other"])  # another member's grant of this room
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")

    leave, message = await frames(member, 2)
    assert (leave["type"], leave["kwargs"]["user"]["id"]) == ("did_alter_membership", str(people["other"].id))
    assert message["kwargs"]["message"] == "still here"
    await member.disconnect()


async def test_ownership_transfer(people, room):
    """Olivia hands the room to Mo: Olivia's socket closes, Mo's now shows join requests."""
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(owner=people["member"])
    assert await close_code(owner) == 4403
    await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    (request,) = await frames(member, 1)
    assert (request["type"], request["kwargs"]["action"]) == ("did_alter_join_request", "create")
    await member.disconnect()


async def test_a_former_owner_who_is_a_member_stays_without_join_requests(people, room):
    await sync(room.member_set.add)(people["other"])
    other, _, _ = await connect("/ws/room/%d" % room.id, people["other"])
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await sync(room.member_set.add)(people["owner"])
    await raw_sql(("UPDATE chat_chatroom SET owner_id = %s WHERE id = %s", (people["other"].id, room.id)))
    await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="as a member")
    join, message = await frames(owner, 2)
    assert (join["type"], join["kwargs"]["action"]) == ("did_alter_membership", "join")
    assert message["kwargs"]["message"] == "as a member"  # no did_alter_join_request before it
    other_saw = [f["type"] for f in await frames(other, 3)]
    assert other_saw == ["did_alter_membership", "did_alter_join_request", "chat_message_created"]
    for communicator in (owner, other):
        await communicator.disconnect()


async def test_removed_and_granted_again_at_once_never_sees_what_was_written_in_between(people, room):
    """Removal, a message and a new membership commit back to back, likely before the re-check
    reads: whenever the check runs, the message written while Mo had no access never reaches him
    (4403 if the check ran before the new grant, 4410 and a reload if after)."""
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s AND user_id = %s",
            (room.id, people["member"].id),
        )
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, 'while removed')",
            (room.id, people["owner"].id),
        )
        await conn.execute(
            "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id) VALUES (%s, %s)",
            (room.id, people["member"].id),
        )
    seen, code = await until_closed(member)
    assert code in (4403, 4410)
    assert "while removed" not in [f["kwargs"].get("message") for f in seen]
