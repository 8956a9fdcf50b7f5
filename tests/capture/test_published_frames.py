"""The chat's declared events reach pages byte for byte as the contract says, by every path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from chat import models
from project.asgi import application
from tests import servers
from tests.conftest import HOST, ORIGIN, close_code, connect, sync

pytestmark = pytest.mark.django_db(transaction=True)


def jsonb_text(value: Any) -> str:
    """``value`` as Postgres prints jsonb: keys by length, then bytes; ", " and ": "."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: (len(item[0].encode()), item[0].encode()))
        return "{%s}" % ", ".join("%s: %s" % (json.dumps(k), jsonb_text(v)) for k, v in items)
    return json.dumps(value, ensure_ascii=False)


async def raw_frame(communicator: WebsocketCommunicator) -> str:
    text = await communicator.receive_from(timeout=10)
    assert isinstance(text, str)
    return text


def expect(text: str, event_type: str, kwargs: dict[str, Any]) -> None:
    cursor = json.loads(text)["cursor"]
    assert cursor
    assert text == '{"type": %s, "kwargs": %s, "cursor": %s}' % (
        json.dumps(event_type),
        jsonb_text(kwargs),
        json.dumps(cursor),
    )


def posted(message_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT to_jsonb(posted) #>> '{}' FROM chat_chatmessage WHERE id = %s", [message_id])
        row = cur.fetchone()
        assert row is not None
        return str(row[0])


async def test_every_chat_event_type_byte_for_byte(people: dict[str, User], room: models.ChatRoom) -> None:
    owner, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    asker, _, _ = await connect("/ws/user/%d" % people["outsider"].id, people["outsider"])
    olivia = {"id": str(people["owner"].id), "username": "olivia"}

    message = await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi")
    when = await sync(posted)(message.id)
    base = {"id": str(message.id), "room": str(room.id), "sender": olivia, "posted": when}
    expect(await raw_frame(owner), "chat_message_created", {**base, "message": "hi"})
    await sync(models.ChatMessage.objects.filter(pk=message.pk).update)(message='say "hé"')
    expect(await raw_frame(owner), "chat_message_updated", {**base, "message": 'say "hé"'})
    await sync(message.delete)()
    expect(await raw_frame(owner), "chat_message_deleted", {"id": base["id"], "room": str(room.id)})

    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    otto = {"id": str(people["outsider"].id), "username": "otto", "first_name": "Otto", "last_name": ""}
    common = {"id": str(request.id), "user": otto["id"], "room": {"id": str(room.id), "title": "Lobby"}}
    created = {**common, "action": "create", "status": "pending", "requesting_user": otto}
    for socket in (owner, asker):
        expect(await raw_frame(socket), "did_alter_join_request", created)
    await sync(models.ChatRoomJoinRequest.objects.filter(pk=request.pk).update)(status="admitted")
    admitted = {**common, "action": "admit", "status": "admitted", "requesting_user": None}
    for socket in (owner, asker):
        expect(await raw_frame(socket), "did_alter_join_request", admitted)
    joined = {"action": "join", "room": str(room.id), "user": {"id": otto["id"], "username": "otto"}}
    expect(await raw_frame(owner), "did_alter_membership", joined)
    home = {"action": "join", "room": {"id": str(room.id), "title": "Lobby"}, "owner": olivia["id"]}
    expect(await raw_frame(asker), "did_alter_room", home)
    await sync(room.member_set.remove)(people["outsider"])
    expect(await raw_frame(owner), "did_alter_membership", {**joined, "action": "leave"})
    expect(await raw_frame(asker), "did_alter_room", {**home, "action": "leave"})

    second = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    for socket in (owner, asker):
        await raw_frame(socket)  # its create, checked above
    await sync(models.ChatRoomJoinRequest.objects.filter(pk=second.pk).update)(status="denied")
    denied = {**common, "id": str(second.id), "action": "deny", "status": "denied", "requesting_user": None}
    for socket in (owner, asker):
        expect(await raw_frame(socket), "did_alter_join_request", denied)
    await sync(models.ChatRoomJoinRequest.objects.filter(pk=second.pk).delete)()
    for socket in (owner, asker):
        expect(await raw_frame(socket), "did_alter_join_request", {**denied, "action": "delete"})
    for socket in (owner, asker):
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()


def _delete_by_instance(request: models.ChatRoomJoinRequest) -> None:
    request.delete()


def _delete_by_queryset(request: models.ChatRoomJoinRequest) -> None:
    models.ChatRoomJoinRequest.objects.filter(room_id=request.room_id).delete()


def _delete_in_admin_view(request: models.ChatRoomJoinRequest) -> None:
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))
    response = admin.post("/admin/chat/chatroomjoinrequest/%d/delete/" % request.id, {"post": "yes"})
    assert response.status_code == 302, response.content


def _delete_by_admin_bulk_action(request: models.ChatRoomJoinRequest) -> None:
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))
    response = admin.post(
        "/admin/chat/chatroomjoinrequest/",
        {"action": "delete_selected", "_selected_action": [str(request.id)], "post": "yes"},
    )
    assert response.status_code == 302, response.content


def _delete_by_sql(request: models.ChatRoomJoinRequest) -> None:
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute("DELETE FROM chat_chatroomjoinrequest WHERE id = %s", (request.id,))


@pytest.mark.parametrize(
    "delete",
    [
        _delete_by_instance,
        _delete_by_queryset,
        _delete_in_admin_view,
        _delete_by_admin_bulk_action,
        _delete_by_sql,
    ],
)
async def test_deleting_a_join_request_tells_the_owner_and_the_requester_only(
    people: dict[str, User], room: models.ChatRoom, delete: Callable[[models.ChatRoomJoinRequest], None]
) -> None:
    request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    sockets = {
        "owner": "/ws/room/%d" % room.id,
        "member": "/ws/room/%d" % room.id,
        "outsider": "/ws/user/%d" % people["outsider"].id,
        "other": "/ws/user/%d" % people["other"].id,
    }
    opened = {}
    for who, path in sockets.items():
        opened[who], connected, _ = await connect(path, people[who])
        assert connected
    request_id = str(request.id)
    await sync(delete)(request)
    for who in ("owner", "outsider"):
        frame = json.loads(await raw_frame(opened[who]))
        assert frame["type"] == "did_alter_join_request"
        assert (frame["kwargs"]["id"], frame["kwargs"]["action"]) == (request_id, "delete")
        assert frame["kwargs"]["user"] == str(people["outsider"].id)
    for who, communicator in opened.items():
        assert await communicator.receive_nothing(timeout=0.3), who
        await communicator.disconnect()


NEW_PASSWORD = "a new passphrase 42"


async def test_password_change_closes_the_other_sessions_sockets_only(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    changing, other = Client(), Client()
    for client in (changing, other):
        assert await sync(client.login)(username="mo", password="pw")

    async def open_with(client: Client, path: str) -> WebsocketCommunicator:
        cookie = ("sessionid=%s" % client.cookies["sessionid"].value).encode()
        communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, (b"cookie", cookie)])
        assert (await communicator.connect(timeout=10))[0]
        return communicator

    kept = await open_with(changing, "/ws/room/%d" % room.id)
    kept_user = await open_with(changing, "/ws/user/%d" % people["member"].id)
    stale = await open_with(other, "/ws/room/%d" % room.id)
    response = await sync(changing.post)(
        "/accounts/password_change/",
        {"old_password": "pw", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content
    assert await close_code(stale) == 4401
    # The changing session is still logged in, in Django's eyes and on its sockets.
    assert (await sync(changing.get)("/")).status_code == 200
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    assert json.loads(await raw_frame(kept))["kwargs"]["message"] == "still here"
    # The new session key is followed: logging out of it still closes these sockets.
    await sync(changing.post)("/accounts/logout/")
    assert await close_code(kept) == 4401
    assert await close_code(kept_user) == 4401


async def test_password_changed_by_sql_closes_every_session_of_the_user(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute("UPDATE auth_user SET password = 'x' WHERE id = %s", (people["member"].id,))
    assert await close_code(socket) == 4401
