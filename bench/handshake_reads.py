"""The CPU of a handshake's two database hops alone, as a handshake thread runs them: no event loop,
no test client, so the figure moves only with the statements and the Python around them.

``python -m bench.handshake_reads [--count 2000] [--rounds 5]`` (``DATABASE_URL``: a migrated
database it may write a user, a room and a session to). Each hop is timed with the thread's own
CPU clock (``time.thread_time``), returning its connection to the pool before and after as
``database_sync_to_async`` does. To time an older tree's hops beside this one's, alternating
runs, run it from that tree's directory (``git archive``; ``python -m`` puts the current
directory first, so ``PYTHONPATH`` alone does not select it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
from typing import Any


def _fixture() -> tuple[Any, int, str]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from chat import models

    owner, _ = User.objects.get_or_create(username="reads-owner")
    room, _ = models.ChatRoom.objects.get_or_create(owner=owner, title="reads")
    user, _ = User.objects.get_or_create(username="reads-member")
    room.member_set.add(user)
    client = Client()
    client.force_login(user)
    store = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    return store, room.pk, client.cookies["sessionid"].value


def _handshake(store: Any, room_id: int, key: str) -> tuple[float, float]:
    """Thread CPU seconds of the session-and-user hop and of the resume-point hop."""
    from django import db

    from chat.consumers import RoomConsumer
    from listener.log import history
    from listener.sockets import session_user

    started = time.thread_time()
    db.close_old_connections()
    scope: dict[str, Any] = {"type": "websocket", "session": store(key)}
    scope["url_route"] = {"kwargs": {"room_id": str(room_id)}}
    user = session_user.read_user(scope)
    db.close_old_connections()
    between = time.thread_time()
    db.close_old_connections()
    consumer = RoomConsumer()
    consumer.scope = scope  # type: ignore[assignment]  # a scope as SocketAuth hands it on
    consumer.user_id = user.pk
    consumer.parse_topic()
    refusal, _, _ = history.resume_point(consumer.expiry.reading(consumer.authorize))
    db.close_old_connections()
    if refusal is not None or consumer.expiry.expires is None:
        raise RuntimeError("the handshake was refused: %s" % (refusal,))
    return between - started, time.thread_time() - between


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handshake_reads", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django

    django.setup()
    store, room_id, key = _fixture()
    for _ in range(100):
        _handshake(store, room_id, key)  # warm: pool, statement caches
    rounds = []
    for _ in range(args.rounds):
        found = [_handshake(store, room_id, key) for _ in range(args.count // args.rounds)]
        rounds.append(
            (statistics.median(f[0] for f in found) * 1e3, statistics.median(f[1] for f in found) * 1e3)
        )
    print(
        "%d handshakes' database hops: session and user %.3f ms, resume point %.3f ms CPU"
        " (median of %d rounds' medians; rounds' totals %s)"
        % (
            args.count // args.rounds * args.rounds,
            statistics.median(r[0] for r in rounds),
            statistics.median(r[1] for r in rounds),
            args.rounds,
            " ".join("%.3f" % (a + b) for a, b in rounds),
        )
    )


if __name__ == "__main__":
    main()
