"""What presence costs the pages: ``did_alter_presence`` frames per socket when a crowd opens one
room at once, and per member while one tab flaps open and shut.

Run through ``python -m bench.presence --crowd 100,1000 --flap``. Each measurement starts a
fresh daphne process (loopback), and ends on a marker: once the presence rows have settled, a
chat message is written to the room with SQL, and each socket counts the presence frames it got
before the message's frame. Bounded: at most 1,000 sockets, ``WAIT`` seconds per wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from typing import Any

import psycopg
import websockets.asyncio.client as ws_client
import websockets.exceptions as ws_exceptions

from bench import presence as bench
from tests import servers

MARKER = "presence-bench-marker"
FLAP_PERIOD = 0.1
FLAP_SECONDS = 15.0
FLAP_WATCHERS = 10
ATTEMPTS = 6
# Handshakes in flight: beyond about 16, daphne on 2 loaded cores drops most of them.
CROWD_CONCURRENCY = 16


def crowd_fixtures(count: int) -> dict[str, Any]:
    """``count`` users, all members of one room of their own: every socket sees every join."""
    from django.contrib.auth.models import User

    from chat import models
    from tests.conftest import session_cookie

    owner, _ = User.objects.get_or_create(username="crowd-owner")
    users = [User.objects.get_or_create(username="crowd-%d" % i)[0] for i in range(count)]
    room = models.ChatRoom.objects.filter(owner=owner, title="crowd %d" % count).first()
    if room is None:
        room = models.ChatRoom.objects.create(owner=owner, title="crowd %d" % count)
    room.member_set.add(*users)
    return {"room": room.id, "owner": owner.id, "cookies": [session_cookie(u).decode() for u in users]}


async def _connect(server: servers.Server, room: int, cookie: str) -> ws_client.ClientConnection:
    # daphne drops handshakes now and then when the two cores are saturated: retry, pausing.
    for attempt in range(ATTEMPTS):
        try:
            return await ws_client.connect(
                server.ws + "/ws/room/%d" % room,
                additional_headers={"Origin": server.http, "Cookie": cookie},
                open_timeout=bench.WAIT,
                max_queue=None,
            )
        except (OSError, ws_exceptions.WebSocketException) as exc:
            print("handshake failed (%s), attempt %d" % (exc, attempt + 1), file=sys.stderr)
            await asyncio.sleep(0.5 * (attempt + 1))
    raise RuntimeError("a socket did not open in %d attempts" % ATTEMPTS)


class Counter:
    """Reads one socket until the marker message: its presence frames and the users they name."""

    def __init__(self, socket: ws_client.ClientConnection) -> None:
        self.socket = socket
        self.frames = 0
        self.changes = 0
        self.closed: int | None = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import json

        try:
            async for data in self.socket:
                frame = json.loads(data)
                if frame["type"] == "did_alter_presence":
                    self.frames += 1
                    kwargs = frame["kwargs"]
                    self.changes += len(kwargs.get("joined", [])) + len(kwargs.get("left", [])) or 1
                elif frame["type"] == "chat_message_created" and frame["kwargs"]["message"] == MARKER:
                    return
        except ws_exceptions.ConnectionClosed as exc:
            self.closed = exc.rcvd.code if exc.rcvd is not None else 1006


def _mark(url: str, room: int, sender: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message) VALUES (%s, %s, now(), %s)",
            [room, sender, MARKER],
        )


async def _finish(url: str, room: int, sender: int, counters: list[Counter]) -> None:
    _mark(url, room, sender)
    await asyncio.wait_for(asyncio.gather(*(c.task for c in counters)), bench.WAIT)
    await asyncio.gather(*(c.socket.close() for c in counters))


@contextlib.contextmanager
def _server(env: dict[str, str]) -> Any:
    port = servers.free_port()
    server = servers.Server(servers.spawn(port, {"REALTIME_LOG_LEVEL": "WARNING", **env}), port)
    try:
        servers.wait_until_up(server)
        yield server
    finally:
        server.process.kill()
        server.process.wait(10)


async def crowd(url: str, fix: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Open every socket of ``fix`` at once; presence frames per socket until all are online."""
    with _server(env) as server:
        gate = asyncio.Semaphore(CROWD_CONCURRENCY)
        counters: list[Counter] = []

        async def one(cookie: str) -> None:
            async with gate:
                counters.append(Counter(await _connect(server, fix["room"], cookie)))

        started, cpu = time.perf_counter(), bench.cpu_seconds(server.process.pid)
        await asyncio.gather(*(one(cookie) for cookie in fix["cookies"]))
        opened = time.perf_counter() - started
        await bench.wait_rows(url, len(counters))
        await _finish(url, fix["room"], fix["owner"], counters)
        frames = [c.frames for c in counters]
        result = {
            "sockets": len(counters),
            "open_s": opened,
            "server_cpu_s": bench.cpu_seconds(server.process.pid) - cpu,
            "frames_median": statistics.median(frames),
            "frames_max": max(frames),
            "frames_total": sum(frames),
            "closed_early": sum(1 for c in counters if c.closed is not None),
        }
        await bench.wait_rows(url, 0)
        return result


async def flap(url: str, fix: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Watchers sit in the room while one more user's tab opens and closes every 0.1 s for 15 s."""
    with _server(env) as server:
        *watching, flapper = fix["cookies"][: FLAP_WATCHERS + 1]
        counters = [Counter(await _connect(server, fix["room"], cookie)) for cookie in watching]
        await bench.wait_rows(url, len(counters))
        _mark(url, fix["room"], fix["owner"])  # a first marker: the watchers' own joins are done
        await asyncio.wait_for(asyncio.gather(*(c.task for c in counters)), bench.WAIT)
        counters = [Counter(c.socket) for c in counters]
        loop = asyncio.get_running_loop()
        started = loop.time()
        flaps = 0
        while loop.time() - started < FLAP_SECONDS:
            tab = await _connect(server, fix["room"], flapper)
            await tab.close()
            flaps += 1
            await asyncio.sleep(max(0.0, started + flaps * FLAP_PERIOD - loop.time()))
        # Longer than any presence window: the last change is written before the marker.
        await asyncio.sleep(2.0)
        await bench.wait_rows(url, len(counters))
        await _finish(url, fix["room"], fix["owner"], counters)
        frames = [c.frames for c in counters]
        await bench.wait_rows(url, 0)
        return {
            "flaps": flaps,
            "seconds": loop.time() - started,
            "frames_median": statistics.median(frames),
            "frames_max": max(frames),
        }
