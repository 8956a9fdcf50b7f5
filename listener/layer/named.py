"""Receiving from a named channel: a queue in Postgres whose every message goes to one receiver.

Receivers in this process take turns, first come first served (as channels_redis's and the
in-memory layer's do); across processes, whichever claims first after a wake-up wins.
"""

from __future__ import annotations

import asyncio
from typing import Any

from listener.layer import codec, database, inbox, registry

# A message taken back by a cancelled receiver returns whatever the channel holds meanwhile.
BIG_CAPACITY = 2**31 - 1


async def receive(db: database.LayerConnection, box: inbox.Inbox, key: str, expiry: float) -> dict[str, Any]:
    """The next message of the named channel ``key`` (as the tables know it), waiting for one."""
    await box.started()
    async with registry.turn(key):
        while True:
            seen = box.generation(key)
            rows = await _claim(db, key, expiry)
            if rows:
                return codec.decode(rows[0][0])
            await box.wait(key, seen)


async def _claim(db: database.LayerConnection, key: str, expiry: float) -> list[tuple[Any, ...]]:
    """Take one message of a named channel; a receiver cancelled meanwhile puts it back.

    Channels cancels a consumer's pending ``receive`` when it stops (a worker shutting down):
    a message deleted by then would be lost, so it goes back to the channel's queue.
    """
    claim = asyncio.ensure_future(db.fetch("channel_claim_one", {"channel": key}))
    try:
        return await asyncio.shield(claim)
    except asyncio.CancelledError:
        rows = await claim
        if rows:
            await db.fetch(
                "channel_send",
                {
                    "channel": key,
                    "queue": key,
                    "message": rows[0][0],
                    "ttl": float(expiry),
                    "capacity": BIG_CAPACITY,
                },
            )
        raise
