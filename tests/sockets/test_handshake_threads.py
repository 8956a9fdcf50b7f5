"""Handshake reads wait their turn behind a crowd's, and give up only when nothing moves.

Real threads (the handshake executor) reading batches (``access_batches``), reads that take a
while: a queue longer than the timeout is waited for as long as reads keep finishing, even
inside one long batch, and one that has its connection waits for Postgres's answer. A read that
gets no connection while no other read finishes (Postgres away) fails with a database error,
which the handshake turns into 4503: tests/ops/test_connection_bound.py stops a pooled server's
Postgres under a real daphne (in-process tests are not pooled).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from chat import consumers, models
from listener.sockets import access_batches, session_user
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def _users(count: int) -> list[Any]:
    """``count`` user reads at once, as a crowd's handshakes queue them: the i-th reads ``i``."""
    return await asyncio.gather(
        *(
            access_batches.user({"session": None, "read": i}, session_user.PendingUser(None))
            for i in range(count)
        )
    )


async def test_a_queue_that_moves_is_waited_for(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 reads of a tenth of the timeout each on 4 threads: the last ends after 5 timeouts,
    the reads still queued wait while 4 batches of 32 take 3 timeouts each, but reads keep
    ending."""
    settings.REALTIME_HANDSHAKE_THREADS = 4
    settings.REALTIME_HANDSHAKE_DATABASE_TIMEOUT = 0.5

    def read(scope: dict[str, Any], users: Any = None) -> int:
        time.sleep(0.05)
        value: int = scope["read"]
        return value

    monkeypatch.setattr(session_user, "read_user", read)
    assert await _users(200) == list(range(200))


async def test_a_read_that_has_its_connection_is_not_timed_out(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement that Postgres holds (a lock, a slow plan) is Postgres's to answer: it runs
    past the timeout and its answer is returned."""
    settings.REALTIME_HANDSHAKE_THREADS = 1
    settings.REALTIME_HANDSHAKE_DATABASE_TIMEOUT = 0.5

    def slow(scope: dict[str, Any], users: Any = None) -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_sleep(1.5), 7")
            row: tuple[Any, int] = cur.fetchone()
        return row[1]

    monkeypatch.setattr(session_user, "read_user", slow)
    assert await _users(1) == [7]


async def test_with_no_handshake_threads_a_socket_reads_on_channels_thread(
    settings: Any, monkeypatch: pytest.MonkeyPatch, people: dict[str, User], room: models.ChatRoom
) -> None:
    """``REALTIME_HANDSHAKE_THREADS = 0``: the project's socket opens and gets the next message,
    its access check (with its user, ``lazy_user``) read on Channels' one database thread."""
    settings.REALTIME_HANDSHAKE_THREADS = 0
    threads: list[str] = []
    check = consumers.RoomConsumer.authorize

    def authorize(self: Any) -> Any:
        threads.append(threading.current_thread().name)
        return check(self)

    monkeypatch.setattr(consumers.RoomConsumer, "authorize", authorize)
    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hello")
    (frame,) = await frames(socket, 1)
    assert frame["kwargs"]["message"] == "hello"
    assert len(threads) == 1 and not threads[0].startswith("realtime-handshake"), threads
    await socket.disconnect()
