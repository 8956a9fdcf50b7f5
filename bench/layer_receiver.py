"""The receiving side of the layer benchmark: channels that ``receive`` in a loop and time it.

The same code runs in a separate receiving process (as a worker or another server would) and
beside the sender in its own process (members of a group that lives where it is sent from), so
both places measure latency, rate and order the same way.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import os
import time
from typing import Any

BIG = 10**6
LAYERS = ("postgres (ours)", "channels_redis")
# Kinds whose receivers are members of the phase's group.
GROUPED = ("group_send", "order")


def setup(url: str) -> None:
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "listener.layer.PostgresChannelLayer", "CONFIG": {"capacity": BIG}}
    }


def make_layer(name: str, prefix: str) -> Any:
    if name == LAYERS[0]:
        from listener.layer import channel_layer

        return channel_layer.default()
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer(hosts=[("127.0.0.1", 6379)], prefix=prefix, capacity=BIG)


async def close(layer: Any, flush: bool) -> None:
    """Close the layer's connections; ``flush`` empties the phase's Redis keys, which only the
    sender may do: a receiver that finishes first would delete what another still receives."""
    if hasattr(layer, "close_pools"):
        if flush:
            await layer.flush()
        await layer.close_pools()
    else:
        from listener.layer import process

        await layer.close()
        await process.stop()


def group_name(prefix: str) -> str:
    return "bench-g-%s" % prefix


async def join(layer: Any, args: dict[str, Any], members: int) -> list[str]:
    """The channels this side receives on: a named channel, or ``members`` new process channels
    (in the phase's group for the group kinds)."""
    if args["kind"] == "send named":
        if args["layer"] == LAYERS[0]:
            await layer._inbox.started()  # LISTEN before the first send, as a running worker would
        return ["bench-q-%s" % args["prefix"]]
    targets = [await layer.new_channel() for _ in range(members)]
    if args["kind"] in GROUPED:
        for member in targets:
            await layer.group_add(group_name(args["prefix"]), member)
    return targets


async def drain(layer: Any, targets: list[str], args: dict[str, Any]) -> dict[str, Any]:
    """Receive every message of the phase on each target, within ``cap * 2`` seconds.

    Latency is taken on the paced messages only. Order: each message carries the writer's
    sequence number ``i``; one that arrives after a higher one of the same channel is a
    violation (the writer awaited each send, so it was sent earlier and must come earlier).
    """
    total = args["warmup"] + args["pings"] + args["messages"]
    latencies: list[float] = []
    state = {"last": 0.0, "violations": 0, "received": 0}

    async def one(target: str) -> None:
        highest = -1
        for _ in range(total):
            message = await layer.receive(target)
            now = time.perf_counter()
            state["last"] = max(state["last"], now)
            state["received"] += 1
            if message["i"] < highest:
                state["violations"] += 1
            highest = max(highest, message["i"])
            if args["warmup"] <= message["i"] < args["warmup"] + args["pings"]:
                latencies.append((now - message["t"]) * 1000)

    tasks = [asyncio.ensure_future(one(t)) for t in targets]
    _, pending = await asyncio.wait(tasks, timeout=args["cap"] * 2)
    for task in pending:
        task.cancel()
    # A cancelled channels_redis receive raises redis's own TimeoutError: what is missing is
    # counted below, so the errors of cancelled receives are not the result.
    await asyncio.gather(*tasks, return_exceptions=True)
    complete = not pending
    return {
        "latencies": latencies,
        "last": state["last"],
        "violations": state["violations"],
        "missing": total * len(targets) - state["received"],
        "complete": complete,
    }


def receiver_main(pipe: multiprocessing.connection.Connection, args: dict[str, Any]) -> None:
    """A receiving process: sends its channel names, then the results of its drain."""
    setup(args["url"])
    pipe.send(asyncio.run(_receive(pipe, args)))


async def _receive(pipe: multiprocessing.connection.Connection, args: dict[str, Any]) -> dict[str, Any]:
    layer = make_layer(args["layer"], args["prefix"])
    targets = await join(layer, args, args["members"])
    pipe.send(targets)
    result = await drain(layer, targets, args)
    await close(layer, flush=False)
    return result
