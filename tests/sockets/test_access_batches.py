"""Sockets whose access checks wait together are read in one transaction, and stay each other's
strangers: one whose check fails the transaction closes with 4503, and the others of the batch
are read again and open. Behind `SocketAuth`'s default the users read before the checks wait
together too.

One handshake thread, held by a first socket's check until the others have queued behind it,
so that they form one batch (``listener.sockets.access_batches``).
"""

from __future__ import annotations

import asyncio
import collections.abc
import threading
import time
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection

import listener
from chat import consumers, models, routing
from listener.sockets import access_batches
from tests.conftest import HOST, ORIGIN, close_code, connect, frames, make_user, session_cookie, sync
from tests.sockets.test_handshake_reads import _recorded

pytestmark = pytest.mark.django_db(transaction=True)

QUEUED = 5


def _batched(
    monkeypatch: pytest.MonkeyPatch, gate: User, fail_third: bool = False
) -> tuple[threading.Event, list[int]]:
    """Hold ``gate``'s check until QUEUED checks wait behind it. With ``fail_third``, each check
    writes (its user's first name) and the third check after the gate's hits a database error,
    once: the list names that check's user. The event is set once ``gate``'s check runs."""
    entered = threading.Event()
    check = consumers.RoomConsumer.authorize
    runs: list[int] = []
    failed: list[int] = []

    def authorize(self: Any) -> Any:
        if self.user_id == gate.pk:
            entered.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(access_batches._queue) < QUEUED:
                time.sleep(0.01)
        elif fail_third:
            User.objects.filter(pk=self.user_id).update(first_name="checked")
            runs.append(self.user_id)
            if len(runs) == 3:
                failed.append(self.user_id)
                with connection.cursor() as cur:
                    cur.execute("SELECT 1 / 0")  # aborts the transaction it runs in
        return check(self)

    monkeypatch.setattr(consumers.RoomConsumer, "authorize", authorize)
    return entered, failed


async def _prepared(
    people: dict[str, User], room: models.ChatRoom
) -> tuple[list[User], str, list[Any], list[list[Any]]]:
    """QUEUED members more, the room's path with its listener started, the handshake headers of
    the gate (the member) and of the crowd."""
    crowd = [await sync(make_user)("crowd%d" % i) for i in range(QUEUED)]
    await sync(room.member_set.add)(*crowd)
    path = "/ws/room/%d" % room.id
    warm, _, _ = await connect(path, people["owner"])  # starts the listener
    await warm.disconnect()
    gate, *headers = await _cookies([people["member"], *crowd])
    return crowd, path, gate, headers


async def _cookies(users: list[User]) -> list[list[Any]]:
    """Each user's handshake headers, their session made now rather than while a test counts."""
    return [[ORIGIN, HOST, (b"cookie", await sync(session_cookie)(user))] for user in users]


Opener = collections.abc.Callable[[str, list[Any]], collections.abc.Awaitable[Any]]


async def _project(path: str, headers: list[Any]) -> Any:
    return await connect(path, headers=headers)


async def _default_socket_auth(path: str, headers: list[Any]) -> Any:
    """A socket of the chat's consumers behind `SocketAuth`'s default (no ``lazy_user``): its
    user is read before its access check."""
    communicator = WebsocketCommunicator(
        listener.SocketAuth(URLRouter(routing.websocket_urlpatterns)), path, headers
    )
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def _gated(
    path: str, entered: threading.Event, gate: list[Any], crowd: list[list[Any]], opener: Opener = _project
) -> list[Any]:
    """Open the ``gate`` socket, then the crowd's while its check holds the thread: every socket."""
    held = asyncio.ensure_future(opener(path, gate))
    assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
    opened = await asyncio.gather(*(opener(path, headers) for headers in crowd))
    return [await held, *opened]


async def test_checks_that_wait_together_share_one_connection_and_snapshot(
    settings: Any, monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    settings.REALTIME_HANDSHAKE_THREADS = 1
    _, path, gate, headers = await _prepared(people, room)
    entered, _ = _batched(monkeypatch, people["member"])
    with _recorded() as (sent, checkouts):
        sockets = await _gated(path, entered, gate, headers)
    assert all(connected for _, connected, _ in sockets)
    snapshots = [sql for sql, _, _ in sent if "pg_current_snapshot" in sql]
    # The held one alone, then the five that queued behind it: two trips, not six.
    assert (len(snapshots), len(checkouts)) == (2, 2), sent
    # The held one: snapshot, session, user, access. The five: one snapshot, their sessions in
    # one statement, their users in another, then each one's access. (A new connection's
    # settings aside: tests are not pooled.)
    reads = [sql for sql, _, _ in sent if not sql.startswith("SELECT set_config(")]
    sessions = [sql for sql in reads if Session._meta.db_table in sql]
    users = [sql for sql in reads if User._meta.db_table in sql and "chat_" not in sql]
    assert (len(sessions), len(users), len(reads)) == (2, 2, 4 + 3 + QUEUED), reads
    for socket, _, _ in sockets:
        await socket.disconnect()


async def test_a_failed_check_closes_its_socket_and_the_rest_of_its_batch_open_with_their_writes(
    settings: Any, monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    """The third check of a batch fails its transaction: its socket closes 4503 and its write is
    gone; the others, before it and after it, open, and what their checks wrote is committed."""
    settings.REALTIME_HANDSHAKE_THREADS = 1
    crowd, path, gate, headers = await _prepared(people, room)
    entered, failed = _batched(monkeypatch, people["member"], fail_third=True)
    (gate_socket, gate_connected, _), *opened = await _gated(path, entered, gate, headers)
    assert gate_connected

    by_user = dict(zip((user.pk for user in crowd), opened, strict=True))
    (failing,) = failed
    failed_socket, failed_connected, _ = by_user.pop(failing)
    # Accepted, then closed: "database unavailable, retry", not a logout.
    assert failed_connected
    assert await close_code(failed_socket) == 4503
    # Read again after the failure, in a new transaction: they open.
    assert all(connected for _, connected, _ in by_user.values())
    names = await sync(
        lambda: dict(User.objects.filter(pk__in=[u.pk for u in crowd]).values_list("pk", "first_name"))
    )()
    assert names == {pk: ("" if pk == failing else "checked") for pk in names}

    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="to all")
    for socket, _, _ in [*by_user.values(), (gate_socket, True, None)]:
        (frame,) = await frames(socket, 1)
        assert frame["kwargs"]["message"] == "to all"
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()


async def test_each_socket_of_a_batch_is_its_own_users(
    settings: Any, monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    """Sessions and users read together: a logged-out session and a deactivated user are
    refused, and the others are each their own user (a later deactivation closes only its own)."""
    settings.REALTIME_HANDSHAKE_THREADS = 1
    crowd, path, gate, headers = await _prepared(people, room)
    entered, _ = _batched(monkeypatch, people["member"])
    kept, logged_out, deactivated, inactive, last = crowd

    def before_connecting() -> None:
        key = headers[1][2][1].decode().split("=", 1)[1]
        Session.objects.filter(session_key=key).delete()
        User.objects.filter(pk=inactive.pk).update(is_active=False)

    await sync(before_connecting)()
    gate_socket, *opened = await _gated(path, entered, gate, headers)
    sockets = dict(zip((user.pk for user in crowd), opened, strict=True))
    assert await close_code(sockets[logged_out.pk][0]) == 4401
    assert await close_code(sockets[inactive.pk][0]) == 4401
    await sync(User.objects.filter(pk=deactivated.pk).update)(is_active=False)
    assert await close_code(sockets[deactivated.pk][0]) == 4401
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    for socket, connected, _ in (gate_socket, sockets[kept.pk], sockets[last.pk]):
        assert connected
        (frame,) = await frames(socket, 1)
        assert frame["kwargs"]["message"] == "still here"
        await socket.disconnect()


async def test_users_read_before_their_checks_wait_together(
    settings: Any, monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    """`SocketAuth`'s default reads each socket's user before its access check: the reads that
    queue behind a held check take one statement for their sessions and one for their users, a
    logged-out session in the batch is refused, and each other socket is its own user."""
    settings.REALTIME_HANDSHAKE_THREADS = 1
    crowd, path, gate, headers = await _prepared(people, room)
    entered, _ = _batched(monkeypatch, people["member"])
    kept, logged_out, deactivated, *rest = crowd
    key = headers[1][2][1].decode().split("=", 1)[1]
    await sync(Session.objects.filter(session_key=key).delete)()
    with _recorded() as (sent, _):
        gate_socket, *opened = await _gated(path, entered, gate, headers, _default_socket_auth)
    reads = [sql for sql, _, _ in sent if not sql.startswith("SELECT set_config(")]
    # Session rows loaded (each check reads its session's expiry on its own, in its snapshot).
    sessions = [sql for sql in reads if Session._meta.db_table in sql and "session_data" in sql]
    users = [sql for sql in reads if User._meta.db_table in sql and "chat_" not in sql]
    # The held one's user alone, then the five that queued behind its check: two of each, not six.
    assert (len(sessions), len(users)) == (2, 2), reads

    sockets = dict(zip((user.pk for user in crowd), opened, strict=True))
    assert all(connected for _, connected, _ in opened)
    assert await close_code(sockets[logged_out.pk][0]) == 4401
    await sync(User.objects.filter(pk=deactivated.pk).update)(is_active=False)
    assert await close_code(sockets[deactivated.pk][0]) == 4401
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    for socket, _, _ in [gate_socket, sockets[kept.pk], *(sockets[user.pk] for user in rest)]:
        (frame,) = await frames(socket, 1)
        assert frame["kwargs"]["message"] == "still here"
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()


async def test_a_user_read_alone_takes_no_transaction(
    settings: Any, people: dict[str, User], room: models.ChatRoom
) -> None:
    """Behind `SocketAuth`'s default a socket alone reads its session and user as statements of
    their own, as before batches: no begin, commit or snapshot of their own."""
    settings.REALTIME_HANDSHAKE_THREADS = 1
    _, path, gate, _ = await _prepared(people, room)
    with _recorded() as (sent, _):
        socket, connected, _ = await _default_socket_auth(path, gate)
    assert connected
    loads = [atomic for sql, _, atomic in sent if Session._meta.db_table in sql and "session_data" in sql]
    users = [atomic for sql, _, atomic in sent if User._meta.db_table in sql and "chat_" not in sql]
    snapshots = [sql for sql, _, _ in sent if "pg_current_snapshot" in sql]
    # One snapshot: the access check's.
    assert (loads, users, len(snapshots)) == ([False], [False], 1), sent
    await socket.disconnect()
