"""Where a handshake's server time goes, counted rather than timed: database statements, hops to
the database thread, and CPU per handshake, in one process with nothing else running in it.

``python -m bench.handshake_steps [--count 200]`` (``DATABASE_URL``: a migrated database
it may write users and sessions to). Counts do not depend on how busy the machine is, unlike the
wall-clock figures of ``bench.handshake``. To count an older tree's handshakes beside this
one's, run it from that tree's directory (``git archive``; ``python -m`` puts the current
directory first, so ``PYTHONPATH`` alone does not select it).
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import os
import statistics
import time
from typing import Any

COUNTS = {"statements": 0, "hops": 0}


def _count_statement(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    COUNTS["statements"] += 1
    return execute(sql, params, many, context)


def _instrument() -> None:
    """Count every statement on every connection, and every hop to a sync thread."""
    from asgiref import sync
    from django.db.backends import signals

    def wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
        # Sent at each checkout from the pool, to the thread's same wrapper object: count once.
        if _count_statement not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count_statement)

    signals.connection_created.connect(wrap, weak=False)
    original: collections.abc.Callable[..., Any] = sync.SyncToAsync.thread_handler

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["hops"] += 1
        return original(self, *args, **kwargs)

    sync.SyncToAsync.thread_handler = counted  # type: ignore[method-assign]

    # The handshake's own threads run their calls without asgiref.
    from listener.sockets import handshake_threads

    owned: collections.abc.Callable[..., Any] = handshake_threads.own_connections

    def counted_owned(fn: Any) -> Any:
        COUNTS["hops"] += 1
        return owned(fn)

    handshake_threads.own_connections = counted_owned


async def _handshakes(count: int) -> list[tuple[int, int, float, float]]:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import User
    from django.test import Client

    from chat import models
    from project.asgi import application

    def fixtures() -> tuple[int, list[bytes]]:
        owner, _ = User.objects.get_or_create(username="steps-owner")
        room, _ = models.ChatRoom.objects.get_or_create(owner=owner, title="steps")
        cookies = []
        for i in range(count + 1):
            user, _ = User.objects.get_or_create(username="steps-%04d" % i)
            room.member_set.add(user)
            client = Client()
            client.force_login(user)
            cookies.append(("sessionid=%s" % client.cookies["sessionid"].value).encode())
        return room.pk, cookies

    room_id, cookies = await database_sync_to_async(fixtures)()
    found = []
    sockets = []
    for cookie in cookies:
        headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
        socket = WebsocketCommunicator(application, "/ws/room/%d" % room_id, headers=headers)
        before = dict(COUNTS)
        cpu, wall = time.process_time(), time.perf_counter()
        connected, code = await socket.connect(timeout=30)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if not connected:
            raise RuntimeError("handshake refused with %s" % code)
        found.append(
            (COUNTS["statements"] - before["statements"], COUNTS["hops"] - before["hops"], cpu, wall)
        )
        sockets.append(socket)
    for socket in sockets:
        await socket.disconnect()
    return found[1:]  # the first one starts the listener


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handshake_steps", description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django

    django.setup()
    from django.conf import settings

    settings.REALTIME_PRESENCE = False  # presence writes from its own task, not the handshake
    _instrument()
    found = asyncio.run(_handshakes(args.count))
    print(
        "%d handshakes one after another: statements %s, hops %s, CPU %.2f ms, wall %.2f ms (medians)"
        % (
            len(found),
            statistics.median(f[0] for f in found),
            statistics.median(f[1] for f in found),
            statistics.median(f[2] for f in found) * 1000.0,
            statistics.median(f[3] for f in found) * 1000.0,
        )
    )


if __name__ == "__main__":
    main()
