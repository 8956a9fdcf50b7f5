"""Sockets of a project whose users are keyed by UUID (run by tests/sockets/test_uuid_users.py in a
pytest process of its own, with ``--ds=tests.sockets.uuid_users.settings``).

The owner's socket opens (the consumer's owner check compares ``self.user_id``, a UUID, with the
topic's key), receives a note saved by the ORM, and closes with 4401 when the user is deactivated
or their password changes: the library's triggers publish on ``user_<uuid text>``, the topic the
socket joined.
"""

from __future__ import annotations

import collections.abc
import uuid
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib import auth
from django.test import Client

import listener
from listener import connection
from listener.layer import channel_layer
from listener.sockets import asgi
from tests.sockets.uuid_users import models
from tests.sockets.uuid_users.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> collections.abc.Iterator[None]:
    """Before the test database is dropped, end the sessions that worker threads left open."""
    yield
    with django_db_blocker.unblock(), psycopg.connect(connection.django_conninfo(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
async def _stop_listener() -> collections.abc.AsyncIterator[None]:
    yield
    await asgi.stop()
    await channel_layer.default().close()


def _member(name: str) -> tuple[models.Member, bytes]:
    user = models.Member.objects.create_user(name, password="pw")
    client = Client()
    client.force_login(user)
    return user, ("sessionid=%s" % client.cookies["sessionid"].value).encode()


async def _open(owner: uuid.UUID, cookie: bytes) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, "ws/notes/%s" % owner, headers=[*HEADERS, (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _close_code(communicator: WebsocketCommunicator) -> int:
    while True:
        message = await communicator.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            return int(message.get("code", 1000))


def test_the_user_model_is_keyed_by_uuid() -> None:
    assert auth.get_user_model() is models.Member
    user_id = uuid.uuid4()
    assert listener.USER_TOPIC.parse(str(user_id).upper()) == user_id
    assert listener.USER_TOPIC.name(user_id) == "user_%s" % user_id


async def test_the_owner_gets_notes_and_others_are_refused() -> None:
    owner, cookie = await database_sync_to_async(_member)("olivia")
    _, other_cookie = await database_sync_to_async(_member)("otto")
    socket = await _open(owner.pk, cookie)
    note = await database_sync_to_async(models.Note.objects.create)(owner=owner, text="hello")
    frame = await socket.receive_json_from(timeout=10)
    assert frame["type"] == "note_saved"
    assert frame["kwargs"] == {
        "id": str(note.pk),
        "text": "hello",
        "owner": {"id": str(owner.pk), "name": "olivia"},
    }
    stranger = await _open(owner.pk, other_cookie)
    assert await _close_code(stranger) == 4403
    await socket.disconnect()


async def test_deactivating_the_user_closes_their_socket_with_4401() -> None:
    owner, cookie = await database_sync_to_async(_member)("dana")
    socket = await _open(owner.pk, cookie)
    await database_sync_to_async(models.Member.objects.filter(pk=owner.pk).update)(is_active=False)
    assert await _close_code(socket) == 4401


async def test_a_password_change_closes_their_other_sessions_with_4401() -> None:
    owner, cookie = await database_sync_to_async(_member)("pat")
    socket = await _open(owner.pk, cookie)
    # The socket is live once a note reaches it; then the password changes elsewhere (a shell).
    await database_sync_to_async(models.Note.objects.create)(owner=owner, text="ready")
    assert (await socket.receive_json_from(timeout=10))["type"] == "note_saved"

    def change() -> None:
        owner.set_password("new-password")
        owner.save()

    await database_sync_to_async(change)()
    assert await _close_code(socket) == 4401
