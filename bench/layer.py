"""Channel layer benchmark: the Postgres layer against channels_redis, side by side in one run.

``.venv/bin/python -m bench.layer [--database-url URL] [--messages N]``. Needs the machine
Postgres (default ``postgres://postgres@127.0.0.1:5432/bench_layer``, created and migrated here)
and Redis on 127.0.0.1:6379. For each layer and operation, this process sends and a separate
receiving process (started per phase) receives, as a server and a worker would:

- ``send`` to a named channel, and to a process channel (``new_channel()``) of the receiver;
- ``group_send`` to a group of ``--members`` plain consumers (``receive`` loops) there.

Latency: ``--pings`` messages paced ``--gap`` seconds apart, send to receive, one way (both
processes read the same monotonic clock). Throughput: ``--messages`` sent back to back;
messages (and, for a group, deliveries) per second from the first send to the last receive.
Each phase is capped at ``--cap`` seconds. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import time
from typing import Any

from bench import database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_layer"
BIG = 10**6
LAYERS = ("postgres (ours)", "channels_redis")
KINDS = ("send named", "send process", "group_send")
CTX = multiprocessing.get_context("spawn")


def _setup(url: str) -> None:
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "listener.layer.PostgresChannelLayer", "CONFIG": {"capacity": BIG}}
    }


def _layer(name: str, prefix: str) -> Any:
    if name == LAYERS[0]:
        from listener.layer import channel_layer

        return channel_layer.default()
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer(hosts=[("127.0.0.1", 6379)], prefix=prefix, capacity=BIG)


async def _close(layer: Any) -> None:
    if hasattr(layer, "close_pools"):
        await layer.flush()
        await layer.close_pools()
    else:
        from listener.layer import process

        await layer.close()
        await process.stop()


# The receiving process ------------------------------------------------------------------------


def receiver_main(pipe: multiprocessing.connection.Connection, args: dict[str, Any]) -> None:
    _setup(args["url"])
    pipe.send(asyncio.run(_receive(pipe, args)))


async def _receive(pipe: multiprocessing.connection.Connection, args: dict[str, Any]) -> dict[str, Any]:
    layer = _layer(args["layer"], args["prefix"])
    kind = args["kind"]
    if kind == "send named":
        targets = ["bench-q-%s" % args["prefix"]]
    else:
        targets = [await layer.new_channel() for _ in range(args["members"] if kind == "group_send" else 1)]
    if kind == "group_send":
        for member in targets:
            await layer.group_add("bench-g-%s" % args["prefix"], member)
    if kind == "send named" and args["layer"] == LAYERS[0]:
        await layer._inbox.started()  # LISTEN before the first send, as a running worker would
    total = args["warmup"] + args["pings"] + args["messages"]
    latencies: list[float] = []
    last = [0.0]

    async def drain(target: str) -> None:
        for _ in range(total):
            message = await layer.receive(target)
            now = time.perf_counter()
            last[0] = max(last[0], now)
            if args["warmup"] <= message["i"] < args["warmup"] + args["pings"]:
                latencies.append((now - message["t"]) * 1000)

    pipe.send(targets)
    try:
        await asyncio.wait_for(asyncio.gather(*(drain(t) for t in targets)), args["cap"] * 2)
        complete = True
    except TimeoutError:
        complete = False
    await _close(layer)
    return {"latencies": latencies, "last": last[0], "complete": complete}


# The sending process --------------------------------------------------------------------------


async def _send_phase(name: str, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    prefix = "bench-%d-%s" % (os.getpid(), KINDS.index(kind))
    options = {
        "url": args.database_url,
        "layer": name,
        "kind": kind,
        "prefix": prefix,
        "members": args.members,
        "warmup": 20,
        "pings": args.pings,
        "messages": args.messages,
        "cap": args.cap,
    }
    mine, theirs = CTX.Pipe()
    process = CTX.Process(target=receiver_main, args=(theirs, options), daemon=True)
    process.start()
    targets = await asyncio.to_thread(_recv, mine, 60)
    layer = _layer(name, prefix)
    group = "bench-g-%s" % prefix

    async def send(i: int) -> None:
        message = {"type": "bench.message", "i": i, "t": time.perf_counter(), "text": "x" * 100}
        if kind == "group_send":
            await layer.group_send(group, message)
        else:
            await layer.send(targets[0], message)

    for i in range(options["warmup"] + args.pings):
        await send(i)
        await asyncio.sleep(args.gap)
    start = time.perf_counter()
    first = options["warmup"] + args.pings
    try:
        await asyncio.wait_for(_flood(send, first, args.messages), args.cap)
    except TimeoutError:
        pass
    result = await asyncio.to_thread(_recv, mine, args.cap * 2 + 30)
    process.join(10)
    if name == LAYERS[0]:
        await layer.flush()
    await _close(layer)
    pings = result["latencies"] or [float("nan")]
    seconds = result["last"] - start
    return {
        "layer": name,
        "kind": kind + (" (%d members)" % len(targets) if kind == "group_send" else ""),
        "p50": statistics.median(pings),
        "p99": sorted(pings)[min(len(pings) - 1, int(0.99 * len(pings)))],
        "rate": args.messages / seconds if result["complete"] else float("nan"),
        "deliveries": args.messages * len(targets) / seconds if result["complete"] else float("nan"),
        "complete": result["complete"],
    }


async def _flood(send: Any, first: int, count: int) -> None:
    for i in range(first, first + count):
        await send(i)


def _recv(pipe: multiprocessing.connection.Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError("the receiving process did not answer within %ss" % timeout)
    return pipe.recv()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.layer", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--messages", type=int, default=2000, help="messages per throughput phase")
    parser.add_argument("--pings", type=int, default=300, help="paced messages per latency phase")
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between paced messages")
    parser.add_argument("--members", type=int, default=10, help="group members")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per throughput phase at most")
    args = parser.parse_args(argv)

    database.create_database(args.database_url)
    env = dict(os.environ, DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="project.settings")
    database.migrate(env)
    _setup(args.database_url)
    out = sys.stdout
    out.write(
        "%-16s %-26s %9s %9s %12s %14s\n"
        % ("layer", "operation", "p50 ms", "p99 ms", "messages/s", "deliveries/s")
    )
    for kind in KINDS:
        for name in LAYERS:
            row = asyncio.run(_send_phase(name, kind, args))
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
            out.flush()


if __name__ == "__main__":
    main()
