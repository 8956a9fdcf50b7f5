"""Channel layer benchmark: the Postgres layer against channels_redis, side by side in one run.

``.venv/bin/python -m tests.bench.layer [--database-url URL] [--messages N]``. Needs the machine
Postgres (default ``postgres://postgres@127.0.0.1:5432/bench_layer``, created and migrated here)
and Redis on 127.0.0.1:6379. For each layer, a sending layer and a receiving layer (two
instances; ours then always goes through Postgres: the message table, or the event log and the
listener) in one process and one event loop:

- ``send`` to a named channel, and to a process channel (``new_channel()``) of the receiver;
- ``group_send`` to a group of ``--members`` plain consumers (``receive`` loops).

Latency: one message at a time, send to receive (p50/p99 over ``--pings``). Throughput: the
sender sends ``--messages`` as fast as it can while the receivers drain; messages (and, for a
group, deliveries) per second from the first send to the last receive. Every phase is capped at
``--cap`` seconds. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.bench import database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_layer"
BIG = 10**6


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _ping(
    send: Callable[[int], Awaitable[None]], receive: Callable[[], Awaitable[Any]], n: int
) -> list[float]:
    latencies = []
    for i in range(n):
        start = time.perf_counter()
        await send(i)
        await receive()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def _flood(
    send: Callable[[int], Awaitable[None]], receivers: list[Callable[[], Awaitable[Any]]], n: int, cap: float
) -> tuple[int, float]:
    """Send ``n`` while every receiver drains ``n``; (messages fully received, seconds)."""
    done = [0] * len(receivers)

    async def drain(index: int) -> None:
        while done[index] < n:
            await receivers[index]()
            done[index] += 1

    start = time.perf_counter()
    drains = [asyncio.ensure_future(drain(i)) for i in range(len(receivers))]

    async def sending() -> None:
        for i in range(n):
            await send(i)

    try:
        await asyncio.wait_for(asyncio.gather(sending(), *drains), cap)
    except TimeoutError:
        for task in drains:
            task.cancel()
    return min(done), time.perf_counter() - start


async def _measure(name: str, sender: Any, receiver: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for kind in ("send named", "send process", "group_send"):
        if kind == "send named":
            channel = "bench-q-%d" % os.getpid()
            targets = [channel]
        elif kind == "send process":
            channel = await receiver.new_channel()
            targets = [channel]
        else:
            channel = "bench-g-%d" % os.getpid()
            targets = [await receiver.new_channel() for _ in range(args.members)]
            for member in targets:
                await receiver.group_add(channel, member)

        async def send(i: int, kind: str = kind, channel: str = channel) -> None:
            message = {"type": "bench.message", "i": i, "text": "x" * 100}
            if kind == "group_send":
                await sender.group_send(channel, message)
            else:
                await sender.send(channel, message)

        receivers = [lambda t=t: receiver.receive(t) for t in targets]

        async def receive_all(receivers: list[Any] = receivers) -> None:
            await asyncio.gather(*(r() for r in receivers))

        await _ping(send, receive_all, 20)  # warm-up: connections, listener, caches
        pings = await asyncio.wait_for(_ping(send, receive_all, args.pings), args.cap)
        count, seconds = await _flood(send, receivers, args.messages, args.cap)
        rows.append(
            {
                "layer": name,
                "kind": kind + (" (%d members)" % len(targets) if kind == "group_send" else ""),
                "p50": statistics.median(pings),
                "p99": _percentile(pings, 0.99),
                "rate": count / seconds,
                "deliveries": count * len(targets) / seconds,
                "complete": count == args.messages,
            }
        )
        if kind == "group_send":
            for member in targets:
                await receiver.group_discard(channel, member)
    return rows


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    from listener import layer, service

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "listener.layer.PostgresChannelLayer", "CONFIG": {"capacity": BIG}}
    }
    ours_receiver = service.channel_layer()
    ours_sender = layer.PostgresChannelLayer(capacity=BIG)
    prefix = "bench-layer-%d" % os.getpid()
    hosts = [("127.0.0.1", 6379)]
    redis_sender = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=BIG)
    redis_receiver = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=BIG)
    rows = await _measure("postgres (ours)", ours_sender, ours_receiver, args)
    rows += await _measure("channels_redis", redis_sender, redis_receiver, args)
    await ours_sender.flush()
    await ours_receiver.close()
    await service.stop()
    await redis_sender.flush()
    await redis_sender.close_pools()
    await redis_receiver.close_pools()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.layer", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--messages", type=int, default=2000, help="messages per throughput phase")
    parser.add_argument("--pings", type=int, default=300, help="messages per latency phase")
    parser.add_argument("--members", type=int, default=10, help="group members")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per phase at most")
    args = parser.parse_args(argv)

    database.create_database(args.database_url)
    env = dict(os.environ, DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="project.settings")
    database.migrate(env)
    os.environ.update(DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="project.settings")
    import django

    django.setup()
    rows = asyncio.run(_run(args))
    out = sys.stdout
    out.write(
        "%-16s %-26s %9s %9s %12s %14s\n"
        % ("layer", "operation", "p50 ms", "p99 ms", "messages/s", "deliveries/s")
    )
    for row in rows:
        out.write(
            "%-16s %-26s %9.2f %9.2f %12.0f %14.0f%s\n"
            % (
                row["layer"],
                row["kind"],
                row["p50"],
                row["p99"],
                row["rate"],
                row["deliveries"],
                "" if row["complete"] else "  (capped)",
            )
        )


if __name__ == "__main__":
    main()
