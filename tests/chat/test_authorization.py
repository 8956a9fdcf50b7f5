"""Who may subscribe to which topic, who gets which frame, and how losing access closes sockets."""

from __future__ import annotations

import pytest

from chat import models
from tests.conftest import close_code, connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


ROOM, MEMBERS_USER_TOPIC = "room", "user"


@pytest.mark.parametrize(
    ("topic", "who", "code"),
    [
        # The room topic is for its owner and members...
        (ROOM, None, 4401),
        (ROOM, "outsider", 4403),
        (ROOM, "other", 4403),
        (ROOM, "member", None),
        (ROOM, "owner", None),
        # ...a user topic for that user only.
        (MEMBERS_USER_TOPIC, None, 4401),
        (MEMBERS_USER_TOPIC, "owner", 4403),
        (MEMBERS_USER_TOPIC, "other", 4403),
        (MEMBERS_USER_TOPIC, "member", None),
    ],
)
async def test_who_may_subscribe(people, room, topic, who, code):
    path = "/ws/room/%d" % room.id if topic == ROOM else "/ws/user/%d" % people["member"].id
    communicator, connected, _ = await connect(path, people[who] if who else None)
    # Refusals are accepted first, so the page can read the close code.
    assert connected
    if code is None:
        assert await communicator.receive_nothing(timeout=0.2)
    else:
        assert await close_code(communicator) == code
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/room/999999", 4404),
        ("/ws/nowhere", 4404),
        ("/ws/room/abc", 4404),
        ("/ws/room/{room}?cursor=not-a-cursor", 4400),
        ("/ws/room/{room}?cursor=AQID~forged", 4400),
    ],
)
async def test_unknown_topics_and_bad_cursors(people, room, path, code):
    communicator, connected, _ = await connect(path.format(room=room.id), people["member"])
    assert connected
    assert await close_code(communicator) == code
    await communicator.disconnect()


async def test_foreign_origin_is_refused(people, room):
    communicator, connected, _ = await connect(
        "/ws/room/%d" % room.id, people["member"], headers=[(b"origin", b"https://evil.example")]
    )
    assert connected
    assert await close_code(communicator) == 4403


async def test_who_gets_which_frame(people, room):
    """Every event type against every subscriber: frames where entitled, nothing elsewhere."""
    sockets = {
        "owner_room": "/ws/room/%d" % room.id,
        "member_room": "/ws/room/%d" % room.id,
        "outsider_user": "/ws/user/%d" % people["outsider"].id,
        "member_user": "/ws/user/%d" % people["member"].id,
        "owner_user": "/ws/user/%d" % people["owner"].id,
    }
    opened = {}
    for name, path in sockets.items():
        opened[name], connected, _ = await connect(path, people[name.split("_")[0]])
        assert connected

    message = await sync(models.ChatMessage.objects.create)(room=room, sender=people["member"], message="hi")
    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    await sync(models.ChatRoomJoinRequest.objects.filter(pk=request.pk).update)(status="admitted")

    owner = [f["type"] for f in await frames(opened["owner_room"], 4)]
    assert owner == [
        "chat_message_created",
        "did_alter_join_request",
        "did_alter_join_request",
        "did_alter_membership",
    ]
    member = await frames(opened["member_room"], 2)
    assert [f["type"] for f in member] == ["chat_message_created", "did_alter_membership"]
    assert member[1]["kwargs"]["action"] == "join"
    assert member[1]["kwargs"]["user"]["id"] == str(people["outsider"].id)
    create, admit = await frames(opened["outsider_user"], 2)
    assert (create["kwargs"]["action"], admit["kwargs"]["action"]) == ("create", "admit")
    assert create["kwargs"]["requesting_user"]["username"] == "otto"
    assert admit["kwargs"]["room"] == {"id": str(room.id), "title": "Lobby"}
    # The new member's home page gains the room, and only theirs.
    (home,) = await frames(opened["outsider_user"], 1)
    assert (home["type"], home["kwargs"]["action"]) == ("did_alter_room", "join")
    for silent in ("member_user", "owner_user", "member_room", "owner_room", "outsider_user"):
        assert await opened[silent].receive_nothing(timeout=0.2), silent
    assert message.id
    for communicator in opened.values():
        await communicator.disconnect()


async def test_removed_member_is_told_then_closed(people, room):
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await sync(room.member_set.remove)(people["member"])
    (leave,) = await frames(member, 1)
    assert leave["type"] == "did_alter_membership"
    assert leave["kwargs"]["action"] == "leave"
    assert await close_code(member) == 4403
    (seen_by_owner,) = await frames(owner, 1)
    assert seen_by_owner["kwargs"]["action"] == "leave"
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    assert (await frames(owner, 1))[0]["kwargs"]["message"] == "still here"
    await owner.disconnect()


async def test_deleted_room_closes_with_4404(people, room):
    member, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="bye")
    await sync(room.delete)()
    assert await close_code(member) == 4404


async def test_deactivated_or_logged_out_user_is_closed_with_4401(people, room):
    room_socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    user_socket, _, _ = await connect("/ws/user/%d" % people["member"].id, people["member"])
    people["member"].is_active = False
    await sync(people["member"].save)()
    assert await close_code(room_socket) == 4401
    assert await close_code(user_socket) == 4401

    from django.contrib.sessions.models import Session

    owner_socket, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    await sync(lambda: Session.objects.all().delete())()
    assert await close_code(owner_socket) == 4401


async def test_page_frames_are_ignored_and_harm_no_one(people, room):
    noisy, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    quiet, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    for payload in ["garbage", "{", "x" * 1_000_000]:
        await noisy.send_to(text_data=payload)
    await noisy.send_to(bytes_data=bytes(range(256)) * 100)
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="after noise")
    assert (await frames(quiet, 1))[0]["kwargs"]["message"] == "after noise"
    assert (await frames(noisy, 1))[0]["kwargs"]["message"] == "after noise"
    await noisy.disconnect()
    await quiet.disconnect()
