"""Server memory while pages that never read sit in a busy room.

    .venv/bin/python -m bench.nonreading [--pages 10] [--events 60000] [--server daphne]

``--pages`` sockets complete the handshake and then never read (their client stops taking bytes
off the TCP socket once a one-frame queue is full), while ``--events`` messages are written in
their room in transactions of ``--batch`` rows. Prints the server's RSS before, at its peak and
after, and how many of those sockets the server closed as too slow (4008). Bounded by
``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import urllib.parse
import urllib.request
from typing import Any

import psutil
import websockets
from websockets.asyncio.client import connect

from bench import database
from tests import servers

CTX = multiprocessing.get_context("spawn")
DATABASE = "realtime_bench_nonreading"


def _write(url: str, room_id: int, sender_id: int, events: int, batch: int) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cur:
        for first in range(0, events, batch):
            cur.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message, posted)"
                " SELECT %s, %s, 'flood ' || n, now() FROM generate_series(%s, %s) AS n",
                [room_id, sender_id, first, min(first + batch, events) - 1],
            )


def _slow_closes(port: int) -> float:
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("realtime_slow_consumer_closes_total "):
                return float(line.split()[1])
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()

    url = database.embedded(DATABASE)
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(database.prepare, (url, args.pages))
    port = servers.free_port()
    command = servers.DAPHNE if args.server == "daphne" else servers.UVICORN
    process = servers.spawn(port, {"DATABASE_URL": url, "REALTIME_PRESENCE": "0"}, command)
    try:
        servers.wait_until_up(servers.Server(process, port))
        asyncio.run(_measure(args, port, process.pid, url, fixtures))
    finally:
        process.terminate()
        process.wait(10)


async def _measure(args: argparse.Namespace, port: int, pid: int, url: str, fixtures: dict[str, Any]) -> None:
    server = psutil.Process(pid)
    ws = "ws://127.0.0.1:%d/ws/room/%d" % (port, fixtures["room_id"])
    sockets = [
        await connect(
            ws,
            origin=websockets.Origin("http://127.0.0.1:%d" % port),
            additional_headers={"Cookie": cookie},
            max_queue=1,
        )
        for cookie in fixtures["cookies"][: args.pages]
    ]
    before = server.memory_info().rss
    writer = CTX.Process(
        target=_write, args=(url, fixtures["room_id"], fixtures["sender_id"], args.events, args.batch)
    )
    started = time.monotonic()
    writer.start()
    peak = before
    while writer.is_alive() and time.monotonic() - started < args.timeout:
        peak = max(peak, server.memory_info().rss)
        await asyncio.sleep(0.2)
    # Let the listener finish the backlog, still watching memory.
    settle = time.monotonic() + 10
    while time.monotonic() < settle:
        peak = max(peak, server.memory_info().rss)
        await asyncio.sleep(0.2)
    after = server.memory_info().rss
    writer.join(5)
    closed = _slow_closes(port)
    for socket in sockets:
        socket.transport.abort()
    mb = 1024 * 1024
    print("server=%s pages=%d events=%d batch=%d" % (args.server, args.pages, args.events, args.batch))
    print(
        "server RSS: before %.0f MB, peak %.0f MB (+%.0f), after %.0f MB; closed as too slow: %d of %d"
        % (before / mb, peak / mb, (peak - before) / mb, after / mb, closed, args.pages)
    )


if __name__ == "__main__":
    main()
