"""How long a removed member's socket stays open: from the commit that removes the member to the
socket's close, as the page sees it.

``python -m bench.revocation [--members 20] [--runs 3]`` against ``DATABASE_URL`` (migrated);
one daphne process on loopback, clients in this process. Each round opens the owner's and every
member's socket on one room, removes the members one at a time by raw SQL (autocommit), and
waits for each removed member's close (60 s at most). Prints the close codes and the latency
median / p90 / max per run; the owner's socket must stay open throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import psycopg
import websockets.asyncio.client as ws_client
import websockets.exceptions as ws_exceptions

from tests import servers

WAIT = 60.0
MAX_MEMBERS = 100


def fixtures(members: int) -> dict[str, Any]:
    from django.contrib.auth.models import User

    from chat import models
    from tests.conftest import session_cookie

    owner, _ = User.objects.get_or_create(username="revoke-owner")
    users = [User.objects.get_or_create(username="revoke-%d" % i)[0] for i in range(members)]
    room = models.ChatRoom.objects.create(owner=owner, title="revocation bench")
    room.member_set.add(*users)
    return {
        "room": room.id,
        "owner": session_cookie(owner).decode(),
        "members": [(user.id, session_cookie(user).decode()) for user in users],
    }


async def closed_after(socket: ws_client.ClientConnection) -> int:
    """Read until the server closes; its close code."""
    try:
        while True:
            await socket.recv()
    except ws_exceptions.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006


async def one_run(url: str, server: servers.Server, fix: dict[str, Any]) -> list[float]:
    def open_socket(cookie: str) -> Any:
        return ws_client.connect(
            server.ws + "/ws/room/%d" % fix["room"],
            additional_headers={"Origin": server.http, "Cookie": cookie},
            open_timeout=WAIT,
        )

    owner = await open_socket(fix["owner"])
    sockets = [(user_id, await open_socket(cookie)) for user_id, cookie in fix["members"]]
    latencies: list[float] = []
    codes: dict[int, int] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for user_id, socket in sockets:
            waiting = asyncio.ensure_future(closed_after(socket))
            await conn.execute(
                "DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s AND user_id = %s",
                (fix["room"], user_id),
            )
            committed = time.perf_counter()
            code = await asyncio.wait_for(waiting, WAIT)
            latencies.append((time.perf_counter() - committed) * 1000)
            codes[code] = codes.get(code, 0) + 1
        # Put them back for the next run.
        await conn.execute(
            "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id)"
            " SELECT %s, unnest(%s::int[]) ON CONFLICT DO NOTHING",
            (fix["room"], [user_id for user_id, _ in sockets]),
        )
    assert owner.state.name == "OPEN", "the owner's socket closed"
    await owner.close()
    print("  close codes %s" % codes)
    return latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    members = min(args.members, MAX_MEMBERS)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    url = servers.database_url()
    fix = fixtures(members)
    with servers.daphne(1, extra_env={"DATABASE_URL": url}) as (server,):
        for run in range(args.runs):
            latencies = sorted(asyncio.run(one_run(url, server, fix)))
            p90 = latencies[int(0.9 * (len(latencies) - 1))]
            print(
                "run %d: %d removals, commit to close ms: median %.1f, p90 %.1f, max %.1f"
                % (run + 1, len(latencies), statistics.median(latencies), p90, latencies[-1])
            )


if __name__ == "__main__":
    main()
