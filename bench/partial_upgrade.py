"""How long daphne and uvicorn keep a connection whose upgrade request's headers never end.

    .venv/bin/python -m bench.partial_upgrade [--wait 70] [--connections 20]

Starts a throwaway Postgres and, in turn, one daphne and one uvicorn process with the project's
settings; opens ``--connections`` TCP connections that each send the first lines of a WebSocket
upgrade request and nothing more, and prints when the server closed each (median and max), or
how many were still open after ``--wait`` seconds. Bounded by ``--wait``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from bench import servers as bench_servers
from tests import servers, throwaway_postgres

PARTIAL = b"GET /ws/room/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


async def partial(port: int, wait: float) -> float | None:
    """Seconds until the server closed a half-sent upgrade request; None if it was still open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(PARTIAL)
        await writer.drain()
        started = time.monotonic()
        try:
            await asyncio.wait_for(reader.read(), wait)
        except TimeoutError:
            return None
        return time.monotonic() - started
    finally:
        writer.close()


async def many(port: int, count: int, wait: float) -> list[float | None]:
    return list(await asyncio.gather(*(partial(port, wait) for _ in range(count))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=70.0)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    if not 1 <= args.connections <= 200 or not 1 <= args.wait <= 300:
        parser.error("--connections within 1..200, --wait within 1..300")
    with throwaway_postgres.cluster() as cluster:
        for name, command in (("daphne", servers.DAPHNE), ("uvicorn", servers.UVICORN)):
            env = {**os.environ, "DATABASE_URL": cluster.url, "DJANGO_DEBUG": "0"}
            env.pop("DJANGO_TEST_DATABASE", None)
            with bench_servers.project(command, env) as server:
                closed = asyncio.run(many(server.port, args.connections, args.wait))
            times = [t for t in closed if t is not None]
            print(
                "%s: %d of %d closed by the server%s; %d still open after %.0f s"
                % (
                    name,
                    len(times),
                    len(closed),
                    " (median %.1f s, max %.1f s)" % (statistics.median(times), max(times)) if times else "",
                    len(closed) - len(times),
                    args.wait,
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
