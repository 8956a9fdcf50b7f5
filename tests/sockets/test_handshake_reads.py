"""The handshake's session, user and access reads, built once as statements, answer as the ORM did.

``listener.session_rows``, ``listener.sockets.user_rows`` and the chat's ``RoomAccess.load``
replace querysets on every socket's handshake; these tests hold them to what a page saw before:
which sockets open, which close with 4401, 4403 or 4404, and what a custom backend decides.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime
from typing import Any

import psycopg
import pytest
from django.contrib.auth import backends
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db.backends import signals
from django.utils import timezone

from chat import models
from listener.sockets import user_rows
from tests.conftest import HOST, ORIGIN, close_code, connect, session_cookie, sync

# (statement, whether its parameters were bound on the server, whether it ran in a transaction)
# for each statement sent.
Sent = list[tuple[str, bool, bool]]

pytestmark = pytest.mark.django_db(transaction=True)


class RefusesMo(backends.ModelBackend):
    """A backend that customizes ``get_user``: it must still be the one asked."""

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        return None if user is not None and user.username == "mo" else user


def test_the_user_read_matches_model_backends(people: dict[str, User]) -> None:
    backend = backends.ModelBackend()
    for user in people.values():
        found = user_rows.get(backend, user.pk)
        expected = backend.get_user(user.pk)
        assert found is not None and expected is not None
        assert [getattr(found, f.attname) for f in User._meta.concrete_fields] == [
            getattr(expected, f.attname) for f in User._meta.concrete_fields
        ]
        assert found._state.db == expected._state.db and not found._state.adding
    people["other"].is_active = False
    people["other"].save()
    assert user_rows.get(backend, people["other"].pk) is None
    assert user_rows.get(backend, 10**9) is None
    assert user_rows.get(RefusesMo(), people["member"].pk) is None
    assert user_rows.get(RefusesMo(), people["owner"].pk) is not None


async def test_sockets_open_or_refuse_as_before(people: dict[str, User], room: models.ChatRoom) -> None:
    path = "/ws/room/%d" % room.id
    for who in ("owner", "member"):
        socket, connected, _ = await connect(path, people[who])
        assert connected
        await socket.disconnect()
    socket, _, _ = await connect(path, people["outsider"])
    assert await close_code(socket) == 4403
    socket, _, _ = await connect("/ws/room/%d" % (room.id + 1000), people["member"])
    assert await close_code(socket) == 4404

    def deactivate() -> None:
        User.objects.filter(pk=people["member"].pk).update(is_active=False)

    await sync(deactivate)()
    socket, _, _ = await connect(path, people["member"])
    assert await close_code(socket) == 4401


async def test_an_expired_session_is_not_logged_in(people: dict[str, User], room: models.ChatRoom) -> None:
    cookie = await sync(session_cookie)(people["member"])

    def expire() -> None:
        key = cookie.decode().split("=", 1)[1]
        past = timezone.now() - datetime.timedelta(seconds=1)
        assert Session.objects.filter(session_key=key).update(expire_date=past) == 1

    await sync(expire)()
    socket, _, _ = await connect("/ws/room/%d" % room.id, headers=[ORIGIN, HOST, (b"cookie", cookie)])
    assert await close_code(socket) == 4401


async def test_a_custom_backends_get_user_still_decides(
    people: dict[str, User], room: models.ChatRoom, settings: Any
) -> None:
    settings.AUTHENTICATION_BACKENDS = ["tests.sockets.test_handshake_reads.RefusesMo"]
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    assert connected
    await socket.disconnect()
    socket, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert await close_code(socket) == 4401


@contextlib.contextmanager
def _recorded() -> collections.abc.Iterator[tuple[Sent, list[Any]]]:
    """Every statement sent meanwhile on any Django connection, and each time a connection is
    taken (``connection_created`` is sent at each checkout from the pool)."""
    sent: Sent = []
    checkouts: list[Any] = []
    wrapped: list[Any] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raw = context["cursor"].cursor
        bound = isinstance(raw, psycopg.Cursor) and not isinstance(raw, psycopg.ClientCursor)
        sent.append((sql, bound, context["connection"].in_atomic_block))
        return execute(sql, params, many, context)

    def wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
        checkouts.append(connection)
        if record not in connection.execute_wrappers:  # the thread's same wrapper object
            connection.execute_wrappers.append(record)
            wrapped.append(connection)

    signals.connection_created.connect(wrap, weak=False)
    try:
        yield sent, checkouts
    finally:
        signals.connection_created.disconnect(wrap)
        for connection in wrapped:
            connection.execute_wrappers.remove(record)


async def test_a_handshake_reads_in_one_trip_of_four_statements(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    """Resume point, session (with its expiry), user, access: one connection taken, one
    transaction, whose first statement sets its REPEATABLE READ level and takes the snapshot;
    the library's fixed reads bind their parameters on the server (no statement text rendered
    per handshake)."""
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])  # starts the listener
    assert connected
    await socket.disconnect()
    cookie = await sync(session_cookie)(people["owner"])
    with _recorded() as (sent, checkouts):
        socket, connected, _ = await connect(
            "/ws/room/%d" % room.id, headers=[ORIGIN, HOST, (b"cookie", cookie)]
        )
        assert connected
        await socket.disconnect()
    assert len(sent) == 4, sent
    assert len(checkouts) == 1, checkouts
    assert all(in_transaction for _, _, in_transaction in sent), sent
    first_read = sent[0][0]
    level = first_read.find("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;")
    assert 0 <= level < first_read.find("pg_current_snapshot"), first_read
    session_table = Session._meta.db_table
    library_reads = [bound for sql, bound, _ in sent if session_table in sql or User._meta.db_table in sql]
    assert library_reads == [True, True], sent


async def test_a_handshake_without_a_session_cookie_reads_nothing(room: models.ChatRoom) -> None:
    """Nobody to read: refused with 4401 before the trip, so a flood of anonymous handshakes
    costs the database nothing."""
    warm, _, _ = await connect("/ws/room/%d" % room.id)
    await close_code(warm)  # the listener is started by the first handshake, refused or not
    with _recorded() as (sent, checkouts):
        socket, _, _ = await connect("/ws/room/%d" % room.id, headers=[ORIGIN, HOST])
        code = await close_code(socket)
    assert code == 4401
    assert sent == [] and checkouts == [], sent
