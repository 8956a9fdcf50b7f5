"""How long a new socket's handshake takes while a crowd of pages replays a long backlog.

    .venv/bin/python -m bench.replay_crowd [--events 100000] [--pages 10] [--server daphne]

A room gets ``--events`` messages after a page's cursor; ``--pages`` sockets of one member then
resume from that cursor (each replays every event, read by a separate client process), while
this process opens a new socket of another member every ``--every`` seconds and times its
handshake (TCP connect to the socket being open). Daphne drops handshakes that take over 5 s:
those count as failed. Bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import urllib.parse
from typing import Any

import websockets
from websockets.asyncio.client import connect

from bench import database
from tests import servers

CTX = multiprocessing.get_context("spawn")
DATABASE = "realtime_bench_replay"


def _origin(url: str) -> websockets.Origin:
    """The page's own origin: the socket's scheme, host and port, as the server requires."""
    return websockets.Origin("http://" + urllib.parse.urlsplit(url).netloc)


def _setup(url: str, events: int) -> dict[str, Any]:
    """In a child process with the project's settings: fixtures, a page's cursor, then the backlog."""
    fixtures = database.prepare(url, 2)
    from django.db import connection

    from listener.log import rendering

    with rendering.consistent_read() as cursor:
        pass
    with connection.cursor() as cur:
        for first in range(0, events, 10_000):
            cur.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message, posted)"
                " SELECT %s, %s, 'backlog ' || n, now() FROM generate_series(%s, %s) AS n",
                [fixtures["room_id"], fixtures["sender_id"], first, min(first + 10_000, events) - 1],
            )
    return {**fixtures, "cursor": cursor}


def _replayer(url: str, cookie: str, expected: int, deadline: float, out: Any) -> None:
    out.send(asyncio.run(_replay(url, cookie, expected, deadline)))


async def _replay(url: str, cookie: str, expected: int, deadline: float) -> tuple[int, float]:
    started = time.monotonic()
    got = 0
    try:
        async with connect(
            url, origin=_origin(url), additional_headers={"Cookie": cookie}, max_size=None
        ) as socket:
            while got < expected and time.time() < deadline:
                await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.time()))
                got += 1
    except (TimeoutError, websockets.exceptions.WebSocketException, OSError):
        pass
    return got, time.monotonic() - started


async def _probe(url: str, cookie: str) -> float | None:
    started = time.monotonic()
    try:
        async with connect(url, origin=_origin(url), additional_headers={"Cookie": cookie}, open_timeout=10):
            return time.monotonic() - started
    except (TimeoutError, websockets.exceptions.WebSocketException, OSError):
        return None


async def _probes(url: str, cookie: str, count: int, every: float) -> list[float | None]:
    timings = []
    for _ in range(count):
        timings.append(await _probe(url, cookie))
        await asyncio.sleep(every)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    url = database.embedded(DATABASE)
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(_setup, (url, args.events))
    port = servers.free_port()
    command = servers.DAPHNE if args.server == "daphne" else servers.UVICORN
    process = servers.spawn(port, {"DATABASE_URL": url}, command)
    try:
        servers.wait_until_up(servers.Server(process, port))
        ws = "ws://127.0.0.1:%d/ws/room/%d" % (port, fixtures["room_id"])
        deadline = time.time() + args.timeout
        alone = asyncio.run(_probe(ws, fixtures["cookies"][1]))
        pipes, children = [], []
        for _ in range(args.pages):
            ours, theirs = CTX.Pipe()
            child = CTX.Process(
                target=_replayer,
                args=(
                    ws + "?cursor=" + fixtures["cursor"],
                    fixtures["cookies"][0],
                    args.events,
                    deadline,
                    theirs,
                ),
            )
            child.start()
            pipes.append(ours)
            children.append(child)
        timings = asyncio.run(_probes(ws, fixtures["cookies"][1], args.probes, args.every))
        results = [pipe.recv() for pipe in pipes]
        for child in children:
            child.join()
    finally:
        process.terminate()
        process.wait(10)
    ok = [t for t in timings if t is not None]
    print("server=%s pages=%d events=%d" % (args.server, args.pages, args.events))
    print("handshake alone: %s" % _ms(alone))
    print(
        "handshake during replays: median %s, max %s, failed %d of %d"
        % (
            _ms(statistics.median(ok) if ok else None),
            _ms(max(ok) if ok else None),
            len(timings) - len(ok),
            len(timings),
        )
    )
    print(
        "replays: %d of %d pages complete, slowest %.1fs, frames %d"
        % (
            sum(got == args.events for got, _ in results),
            args.pages,
            max(s for _, s in results),
            sum(g for g, _ in results),
        )
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else "%.0f ms" % (value * 1000)


if __name__ == "__main__":
    main()
